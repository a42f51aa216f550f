//! The Hub client against a 127.0.0.1 server speaking the Hub's file protocol.

mod support;

use std::path::{Path, PathBuf};

use miners_hub::{Hub, HubConfig, HubError, HubRef};
use support::hub_server::{FixtureRepo, HubServer, serve};

fn tiny_bert() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny-bert")
}

/// tiny-bert plus files a model does not need.
fn tiny_bert_repo() -> FixtureRepo {
    let mut repo = FixtureRepo::model_from_dir("miners-fixtures/tiny-bert", &tiny_bert());
    repo.files.insert("README.md".into(), b"# tiny".to_vec());
    repo.files.insert("onnx/model.onnx".into(), vec![0; 64]);
    repo
}

fn hub(server: &HubServer, cache: &Path, token: Option<&str>, offline: bool) -> Hub {
    Hub::new(HubConfig {
        endpoint: server.url.clone(),
        cache: cache.to_owned(),
        token: token.map(str::to_owned),
        offline,
    })
    .unwrap()
}

#[test]
fn a_branch_resolves_to_its_commit_and_only_the_model_files_arrive() {
    let repo = tiny_bert_repo();
    let server = serve(vec![repo.clone()], None);
    let cache = tempfile::tempdir().unwrap();
    let snapshot = hub(&server, cache.path(), None, false)
        .model(&HubRef::parse("miners-fixtures/tiny-bert").unwrap())
        .unwrap();
    assert_eq!(snapshot.commit, repo.commit());
    let expected = cache
        .path()
        .join("models--miners-fixtures--tiny-bert/snapshots")
        .join(repo.commit());
    assert_eq!(snapshot.dir, expected);
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
        "2_Dense/model.safetensors",
    ] {
        let got = std::fs::read(snapshot.dir.join(file)).unwrap();
        assert_eq!(
            got,
            std::fs::read(tiny_bert().join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(!snapshot.dir.join("README.md").exists() && !snapshot.dir.join("onnx").exists());
    assert!(server.requests("README.md").is_empty() && server.requests("onnx").is_empty());
    // The branch is remembered as the Python client remembers it.
    let main = std::fs::read_to_string(
        cache
            .path()
            .join("models--miners-fixtures--tiny-bert/refs/main"),
    )
    .unwrap();
    assert_eq!(main, repo.commit());

    // A second run downloads nothing; offline, the branch still resolves.
    let before = server.requests("/resolve/").len();
    hub(&server, cache.path(), None, false)
        .model(&HubRef::parse("miners-fixtures/tiny-bert@main").unwrap())
        .unwrap();
    assert_eq!(server.requests("/resolve/").len(), before);
    let offline = hub(&server, cache.path(), None, true)
        .model(&HubRef::parse("miners-fixtures/tiny-bert").unwrap())
        .unwrap();
    assert_eq!(offline, snapshot);
}

#[test]
fn an_interrupted_download_resumes_from_where_it_stopped() {
    let repo = tiny_bert_repo();
    let server = serve(vec![repo.clone()], Some("model.safetensors"));
    let cache = tempfile::tempdir().unwrap();
    let snapshot = hub(&server, cache.path(), None, false)
        .model(&HubRef::parse("miners-fixtures/tiny-bert").unwrap())
        .unwrap();
    let weights = std::fs::read(snapshot.dir.join("model.safetensors")).unwrap();
    assert_eq!(weights, repo.files["model.safetensors"]);
    let half = weights.len() / 2;
    let resumed = server.requests(&format!("bytes={half}-"));
    assert!(
        resumed.iter().any(|r| r.contains("/model.safetensors")),
        "{:?}",
        server.log.lock().unwrap()
    );
}

#[test]
fn unknown_repositories_and_revisions_are_named() {
    let server = serve(vec![tiny_bert_repo()], None);
    let cache = tempfile::tempdir().unwrap();
    let hub = hub(&server, cache.path(), None, false);
    let err = hub
        .model(&HubRef::parse("miners-fixtures/nope").unwrap())
        .unwrap_err();
    assert!(matches!(err, HubError::UnknownRepo { .. }), "{err}");
    assert!(err.to_string().contains("miners-fixtures/nope"), "{err}");
    let err = hub
        .model(&HubRef::parse("miners-fixtures/tiny-bert@v9").unwrap())
        .unwrap_err();
    assert!(matches!(err, HubError::UnknownRevision { .. }), "{err}");
    assert!(err.to_string().contains("no revision `v9`"), "{err}");
    assert!(matches!(
        HubRef::parse("a/b/c"),
        Err(HubError::BadReference(_))
    ));
    assert!(matches!(
        HubRef::parse("org/name@"),
        Err(HubError::BadReference(_))
    ));
}

#[test]
fn a_gated_model_needs_a_token() {
    let mut repo = tiny_bert_repo();
    repo.id = "miners-fixtures/gated-bert".into();
    repo.token = Some("hf_secret".into());
    let server = serve(vec![repo], None);
    let cache = tempfile::tempdir().unwrap();
    let reference = HubRef::parse("miners-fixtures/gated-bert").unwrap();
    let err = hub(&server, cache.path(), None, false)
        .model(&reference)
        .unwrap_err();
    assert!(matches!(err, HubError::Gated { .. }), "{err}");
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");
    let err = hub(&server, cache.path(), Some("hf_wrong"), false)
        .model(&reference)
        .unwrap_err();
    assert!(matches!(err, HubError::Gated { .. }), "{err}");
    hub(&server, cache.path(), Some("hf_secret"), false)
        .model(&reference)
        .unwrap();
}

/// tiny-bert re-saved by transformers in `layout` (fixtures/layouts).
fn tiny_bert_layout(layout: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/layouts/tiny-bert")
        .join(layout)
}

#[test]
fn sharded_weights_arrive_through_their_index_and_pickles_only_without_safetensors() {
    let mut repo = FixtureRepo::model_from_dir(
        "miners-fixtures/sharded-bert",
        &tiny_bert_layout("sharded-bf16"),
    );
    let pickles = FixtureRepo::model_from_dir("x/y", &tiny_bert_layout("sharded-bin"));
    repo.files.extend(pickles.files.clone());
    let server = serve(vec![repo], None);
    let cache = tempfile::tempdir().unwrap();
    let hub = hub(&server, cache.path(), None, false);
    let snapshot = hub
        .model(&HubRef::parse("miners-fixtures/sharded-bert").unwrap())
        .unwrap();
    let got = support::files_under(&snapshot.dir);
    let shards: Vec<&String> = got.iter().filter(|f| f.starts_with("model-")).collect();
    assert!(shards.len() > 1, "{got:?}");
    assert!(
        got.contains(&"model.safetensors.index.json".to_owned()),
        "{got:?}"
    );
    assert!(!got.iter().any(|f| f.contains("pytorch_model")), "{got:?}");
    let checkpoint = miners_checkpoint::Checkpoint::open(&snapshot.dir).unwrap();
    assert_eq!(
        checkpoint.layout(),
        miners_checkpoint::Layout::ShardedSafetensors
    );

    let pickled = FixtureRepo {
        id: "miners-fixtures/pickled-bert".into(),
        ..pickles
    };
    let server = serve(vec![pickled], None);
    let snapshot = self::hub(&server, cache.path(), None, false)
        .model(&HubRef::parse("miners-fixtures/pickled-bert").unwrap())
        .unwrap();
    let checkpoint = miners_checkpoint::Checkpoint::open(&snapshot.dir).unwrap();
    assert_eq!(
        checkpoint.layout(),
        miners_checkpoint::Layout::ShardedPytorchBin
    );
    assert!(snapshot.dir.join("2_Dense/pytorch_model.bin").is_file());
}

#[test]
fn an_index_naming_a_shard_the_repository_lacks_is_a_clear_error() {
    let mut repo =
        FixtureRepo::model_from_dir("miners-fixtures/broken", &tiny_bert_layout("sharded-bf16"));
    let shard = repo
        .files
        .keys()
        .find(|f| f.starts_with("model-0"))
        .unwrap()
        .clone();
    repo.files.remove(&shard);
    let server = serve(vec![repo], None);
    let cache = tempfile::tempdir().unwrap();
    let err = hub(&server, cache.path(), None, false)
        .model(&HubRef::parse("miners-fixtures/broken").unwrap())
        .unwrap_err();
    assert!(matches!(err, HubError::NotAModel { .. }), "{err}");
    assert!(err.to_string().contains(&shard), "{err}");
}

#[test]
fn offline_without_the_files_is_a_clear_error() {
    let server = serve(vec![tiny_bert_repo()], None);
    let cache = tempfile::tempdir().unwrap();
    let err = hub(&server, cache.path(), None, true)
        .model(&HubRef::parse("miners-fixtures/tiny-bert").unwrap())
        .unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err}");
    assert!(
        server.log.lock().unwrap().is_empty(),
        "offline asks nothing"
    );
}
