//! `--model hf:<org>/<name>` against a Hub-protocol server on 127.0.0.1
//! serving the tiny-bert fixture: the binary downloads it, runs bitext on a
//! NusaX slice with the same scores as the local directory, and records the
//! commit; Python's `huggingface_hub` downloads from the same server, and the
//! binary then runs offline from the cache Python filled. Skipped with a
//! message where the data or the Python client is absent; CI has both
//! (`cargo xtask test` builds `.cache/hub-venv` and sets MINERS_HUB_PYTHON).

#[path = "../../miners-hub/tests/support/hub_server.rs"]
mod hub_server;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use hub_server::{FixtureRepo, HubServer};

const REPO: &str = "miners-fixtures/tiny-bert";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data_dir() -> Option<PathBuf> {
    let dir = workspace().join("../shared/data/miners");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must have the data");
    eprintln!("skipping: data absent");
    None
}

fn server() -> (HubServer, FixtureRepo) {
    let mut repo = FixtureRepo::model_from_dir(REPO, &workspace().join("fixtures/tiny-bert"));
    repo.files
        .insert("README.md".into(), b"# tiny-bert".to_vec());
    repo.files.insert("expected.json".into(), b"{}".to_vec());
    (hub_server::serve(vec![repo.clone()], None), repo)
}

/// `miners` with `args` on the shared data, writing to `out`, with the Hub environment `env`.
fn miners(args: &[&str], data: &Path, out: &Path, env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_miners"));
    command
        .args(args)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .env_remove("MINERS_DATA_DIR")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// `miners bitext` on 20 NusaX eng-ind pairs with the Hub environment `env`.
fn bitext(data: &Path, model: &str, out: &Path, env: &[(&str, &Path)]) -> Output {
    let args = [
        "bitext",
        "--dataset",
        "nusax",
        "--pair",
        "eng-ind",
        "--limit",
        "20",
        "--model",
        model,
    ];
    miners(&args, data, out, env)
}

/// `(k, accuracy, source)` of every record under `dir`.
fn scores(dir: &Path) -> Vec<(u64, f64, Option<String>)> {
    let mut rows = Vec::new();
    for entry in walk(dir) {
        if entry.extension().is_some_and(|e| e == "json") && !entry.ends_with("summary.json") {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&entry).unwrap()).unwrap();
            if let Some(k) = record["k"].as_u64() {
                let source = record["model"]["source"].as_str().map(str::to_owned);
                rows.push((k, record["metrics"]["accuracy"].as_f64().unwrap(), source));
            }
        }
    }
    rows.sort_by_key(|row| row.0);
    rows
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path))
        } else {
            files.push(path)
        }
    }
    files
}

fn succeeded(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn a_hub_model_downloads_runs_and_records_its_commit() {
    let Some(data) = data_dir() else { return };
    let (server, repo) = server();
    let (hf_home, hub_out, local_out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let endpoint = PathBuf::from(&server.url);
    let env = [
        ("HF_ENDPOINT", endpoint.as_path()),
        ("HF_HOME", hf_home.path()),
    ];
    succeeded(&bitext(&data, &format!("hf:{REPO}"), hub_out.path(), &env));
    let local = workspace().join("fixtures/tiny-bert");
    succeeded(&bitext(
        &data,
        local.to_str().unwrap(),
        local_out.path(),
        &env,
    ));

    let (from_hub, from_dir) = (scores(hub_out.path()), scores(local_out.path()));
    assert_eq!(from_hub.len(), 3, "{from_hub:?}");
    let source = format!("hf:{REPO}@{}", repo.commit());
    for ((k, hub_accuracy, hub_source), (_, dir_accuracy, dir_source)) in
        from_hub.iter().zip(&from_dir)
    {
        assert_eq!(hub_accuracy, dir_accuracy, "k={k}");
        assert_eq!(
            (hub_source.as_deref(), dir_source.as_deref()),
            (Some(source.as_str()), None)
        );
    }
    assert!(server.requests("README.md").is_empty() && server.requests("expected.json").is_empty());

    // Unknown revisions and repositories are clear errors.
    let err = bitext(&data, &format!("hf:{REPO}@v9"), hub_out.path(), &env);
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert_eq!(err.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no revision `v9`"), "{stderr}");
}

#[test]
fn the_python_client_downloads_from_the_same_server_and_the_binary_reuses_its_cache() {
    let Some(data) = data_dir() else { return };
    let python = std::env::var_os("MINERS_HUB_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let venv = workspace().join(".cache/hub-venv/bin/python");
            venv.is_file().then_some(venv)
        });
    let Some(python) = python else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have MINERS_HUB_PYTHON"
        );
        eprintln!(
            "skipping: no huggingface_hub environment (cargo xtask test builds .cache/hub-venv)"
        );
        return;
    };
    let (server, repo) = server();
    let hf_home = tempfile::tempdir().unwrap();
    let script = format!(
        "import huggingface_hub as h\n\
         d = h.snapshot_download('{REPO}', allow_patterns=['*.json', '*.safetensors', '*/*.json', '*/*.safetensors'])\n\
         print(d)"
    );
    let output = Command::new(&python)
        .args(["-c", &script])
        .env("HF_ENDPOINT", &server.url)
        .env("HF_HOME", hf_home.path())
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env_remove("HF_TOKEN")
        .output()
        .unwrap();
    succeeded(&output);
    let snapshot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(snapshot.ends_with(repo.commit()), "{}", snapshot.display());
    for (file, bytes) in repo
        .files
        .iter()
        .filter(|(f, _)| f.ends_with(".safetensors") || f.ends_with(".json"))
    {
        assert_eq!(
            &std::fs::read(snapshot.join(file)).unwrap(),
            bytes,
            "{file}"
        );
    }
    assert!(
        server.requests("HEAD ").len() >= 5,
        "the Python client asks for metadata with HEAD"
    );

    // The binary, offline, runs from the cache Python filled.
    let out = tempfile::tempdir().unwrap();
    let one = PathBuf::from("1");
    let env = [
        ("HF_HOME", hf_home.path()),
        ("HF_HUB_OFFLINE", one.as_path()),
    ];
    let before = server.log.lock().unwrap().len();
    succeeded(&bitext(&data, &format!("hf:{REPO}"), out.path(), &env));
    assert_eq!(
        server.log.lock().unwrap().len(),
        before,
        "offline: no request"
    );
    assert_eq!(scores(out.path()).len(), 3);
}

/// `miners icl` on 6 NusaX Indonesian examples with the tiny Llama `generator`.
fn icl(data: &Path, generator: &str, out: &Path, env: &[(&str, &Path)]) -> Output {
    let args = [
        "icl",
        "--dataset",
        "nusax",
        "--retriever",
        "static-tokenlearn",
        "--generator",
        generator,
        "--k",
        "0,2",
        "--lang",
        "ind",
        "--limit",
        "6",
    ];
    miners(&args, data, out, env)
}

/// `(k, predictions, metrics, generator source)` of every ICL record under `dir`.
fn icl_records(dir: &Path) -> Vec<(u64, serde_json::Value, serde_json::Value, Option<String>)> {
    let mut rows: Vec<_> = walk(dir)
        .into_iter()
        .filter(|path| {
            path.extension().is_some_and(|e| e == "json") && !path.ends_with("summary.json")
        })
        .filter_map(|path| {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let k = record["k"].as_u64()?;
            let source = record["generator"]["source"].as_str().map(str::to_owned);
            Some((
                k,
                record["icl"]["predictions"].clone(),
                record["metrics"].clone(),
                source,
            ))
        })
        .collect();
    rows.sort_by_key(|row| row.0);
    rows
}

/// A generator by Hub id, published as sharded `.bin` files: downloaded
/// through its index, scored exactly as the local float32 directory, its
/// commit recorded.
#[test]
fn a_hub_generator_in_pytorch_shards_scores_as_the_local_directory() {
    let Some(data) = data_dir() else { return };
    let id = "miners-fixtures/tiny-llama";
    let repo =
        FixtureRepo::model_from_dir(id, &workspace().join("fixtures/layouts/llama/sharded-bin"));
    let server = hub_server::serve(vec![repo.clone()], None);
    let (hf_home, hub_out, local_out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let endpoint = PathBuf::from(&server.url);
    let env = [
        ("HF_ENDPOINT", endpoint.as_path()),
        ("HF_HOME", hf_home.path()),
    ];
    succeeded(&icl(&data, &format!("hf:{id}"), hub_out.path(), &env));
    let local = workspace().join("fixtures/tiny-decoders/llama");
    succeeded(&icl(&data, local.to_str().unwrap(), local_out.path(), &env));
    let (from_hub, from_dir) = (icl_records(hub_out.path()), icl_records(local_out.path()));
    assert_eq!(from_hub.len(), 2, "{from_hub:?}");
    let source = format!("hf:{id}@{}", repo.commit());
    for (hub, dir) in from_hub.iter().zip(&from_dir) {
        assert_eq!(
            (hub.0, &hub.1, &hub.2),
            (dir.0, &dir.1, &dir.2),
            "k={}",
            hub.0
        );
        assert_eq!(
            (hub.3.as_deref(), dir.3.as_deref()),
            (Some(source.as_str()), None)
        );
    }
    assert!(
        !server
            .requests("pytorch_model-00001-of-00004.bin")
            .is_empty()
    );
}
