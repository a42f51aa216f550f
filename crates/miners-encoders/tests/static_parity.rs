//! The static encoder against the tokenlearn-static-model package's own output
//! (fixtures/static-tokenlearn/expected.json, written by fixtures/generate_static.py).

use std::path::PathBuf;

use miners_encoders::{Encoder, Role, StaticEncoder};

const TOLERANCE: f32 = 1e-5;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_dir() -> Option<PathBuf> {
    let dir = workspace().join("models/static-tokenlearn");
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must fetch models first (cargo xtask fetch-models)"
    );
    eprintln!(
        "skipping: {} absent; run `cargo xtask fetch-models`",
        dir.display()
    );
    None
}

#[derive(serde::Deserialize)]
struct Expected {
    texts: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

#[test]
fn matches_the_python_package_on_real_sentences() {
    let Some(dir) = model_dir() else { return };
    let text =
        std::fs::read_to_string(workspace().join("fixtures/static-tokenlearn/expected.json"))
            .unwrap();
    let expected: Expected = serde_json::from_str(&text).unwrap();
    let encoder = StaticEncoder::load(&dir, "static-tokenlearn").unwrap();
    let texts: Vec<&str> = expected.texts.iter().map(String::as_str).collect();
    let ours = encoder.encode(&texts, Role::Query).unwrap();
    assert_eq!((ours.len(), ours.dim()), (expected.texts.len(), 64));
    let mut worst = 0f32;
    for (i, want) in expected.embeddings.iter().enumerate() {
        for (a, b) in ours.row(i).iter().zip(want) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("max abs diff vs tokenlearn-static-model: {worst:e}");
    assert!(worst <= TOLERANCE, "max abs diff {worst} > {TOLERANCE}");
}

#[test]
fn empty_batches_and_texts_are_fine() {
    let Some(dir) = model_dir() else { return };
    let encoder = StaticEncoder::load(&dir, "s").unwrap();
    assert_eq!(encoder.encode(&[], Role::Query).unwrap().len(), 0);
    let zero = encoder.encode(&[""], Role::Passage).unwrap();
    assert!(zero.row(0).iter().all(|&v| v == 0.0));
}

#[test]
fn broken_model_directories_name_the_file() {
    let Some(dir) = model_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // Not a model at all.
    assert!(!StaticEncoder::recognizes(tmp.path()));
    let err = StaticEncoder::load(tmp.path(), "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    // Missing tokenizer.
    std::fs::copy(
        dir.join("model.safetensors"),
        tmp.path().join("model.safetensors"),
    )
    .unwrap();
    let err = StaticEncoder::load(tmp.path(), "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    // A tokenizer whose vocabulary does not match the weights.
    let tiny = r#"{"version":"1.0","model":{"type":"WordLevel","vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]"}}"#;
    std::fs::write(tmp.path().join("tokenizer.json"), tiny).unwrap();
    let err = StaticEncoder::load(tmp.path(), "x")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the tokenizer has 2 tokens but the model has 276326 weights"),
        "{err}"
    );
    // A truncated safetensors file.
    std::fs::copy(
        dir.join("tokenizer.json"),
        tmp.path().join("tokenizer.json"),
    )
    .unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(
        tmp.path().join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let err = StaticEncoder::load(tmp.path(), "x")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("not a safetensors file"),
        "{err}"
    );
}
