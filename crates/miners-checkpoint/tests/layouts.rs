//! Checkpoints written by transformers (fixtures/generate_layouts.py) in every
//! layout, and damaged or hostile ones, each refused with the file named.

use std::path::{Path, PathBuf};

use miners_checkpoint::{Checkpoint, CheckpointError, Dtype, Layout};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn layout(model: &str, layout: &str) -> PathBuf {
    fixtures().join("layouts").join(model).join(layout)
}

/// A writable copy of a fixture directory's top-level files.
fn copy(dir: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    tmp
}

fn f32_values(checkpoint: &Checkpoint, name: &str) -> Vec<f32> {
    let raw = checkpoint.read(name).unwrap();
    match raw.dtype {
        Dtype::F32 => raw
            .data
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        Dtype::Bf16 => raw
            .data
            .chunks(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes(b.try_into().unwrap())) << 16))
            .collect(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn every_layout_holds_the_same_tensors() {
    for model in ["tiny-xlmr", "llama", "gemma2", "mt5"] {
        let base_dir = match model {
            "tiny-xlmr" => fixtures().join(model),
            _ => fixtures().join("tiny-decoders").join(model),
        };
        let base = Checkpoint::open(&base_dir).unwrap();
        assert_eq!(base.layout(), Layout::Safetensors);
        for (name, expected) in [
            ("bin", Layout::PytorchBin),
            ("sharded-bin", Layout::ShardedPytorchBin),
            ("sharded-bf16", Layout::ShardedSafetensors),
        ] {
            let other = Checkpoint::open(&layout(model, name)).unwrap();
            assert_eq!(other.layout(), expected, "{model} {name}");
            if expected.is_sharded() {
                assert!(
                    other.files().len() > 1,
                    "{model} {name}: {:?}",
                    other.files()
                );
            }
            for tensor in base.names() {
                if !other.contains(tensor) {
                    // transformers leaves tied copies out of some layouts.
                    assert!(
                        tensor.contains("lm_head") || tensor.contains("embed"),
                        "{model} {name}: {tensor}"
                    );
                    continue;
                }
                let (want, got) = (f32_values(&base, tensor), f32_values(&other, tensor));
                assert_eq!(
                    base.info(tensor).unwrap().1,
                    other.info(tensor).unwrap().1,
                    "{tensor}"
                );
                if name == "sharded-bf16" {
                    let close = want
                        .iter()
                        .zip(&got)
                        .all(|(a, b)| (a - b).abs() <= a.abs() / 128.0 + 1e-30);
                    assert!(close, "{model} {name} {tensor}: not the bfloat16 rounding");
                } else {
                    assert_eq!(want, got, "{model} {name} {tensor}");
                }
            }
        }
    }
}

#[test]
fn a_pickle_calling_os_system_is_refused_and_nothing_runs() {
    let dir = fixtures().join("layouts/malicious");
    let work = tempfile::tempdir().unwrap();
    std::env::set_current_dir(work.path()).unwrap();
    let error = Checkpoint::open(&dir).unwrap_err();
    assert!(
        matches!(&error, CheckpointError::ForbiddenGlobal { global, .. } if global.ends_with(".system")),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("pytorch_model.bin") && message.contains("nothing was executed"),
        "{message}"
    );
    assert!(!work.path().join("PWNED").exists(), "the pickle ran");
}

#[test]
fn a_truncated_safetensors_shard_is_named() {
    let tmp = copy(&layout("llama", "sharded-bf16"));
    let shard = tmp.path().join("model-00002-of-00002.safetensors");
    let length = std::fs::metadata(&shard).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(length - 100)
        .unwrap();
    let message = Checkpoint::open(tmp.path()).unwrap_err().to_string();
    assert!(
        message.contains("model-00002-of-00002.safetensors") && message.contains("truncated"),
        "{message}"
    );
}

#[test]
fn a_truncated_pickle_shard_is_named() {
    let tmp = copy(&layout("llama", "sharded-bin"));
    let shard = tmp.path().join("pytorch_model-00001-of-00004.bin");
    let length = std::fs::metadata(&shard).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(length / 2)
        .unwrap();
    let message = Checkpoint::open(tmp.path()).unwrap_err().to_string();
    assert!(
        message.contains("pytorch_model-00001-of-00004.bin") && message.contains("truncated"),
        "{message}"
    );
}

#[test]
fn an_index_naming_a_missing_shard_is_named() {
    let tmp = copy(&layout("llama", "sharded-bf16"));
    std::fs::remove_file(tmp.path().join("model-00001-of-00002.safetensors")).unwrap();
    let message = Checkpoint::open(tmp.path()).unwrap_err().to_string();
    assert!(
        message.contains("model.safetensors.index.json"),
        "{message}"
    );
    assert!(
        message.contains("model-00001-of-00002.safetensors"),
        "{message}"
    );
}

#[test]
fn an_index_whose_shards_leave_the_directory_or_lack_the_tensor_is_refused() {
    let tmp = copy(&layout("llama", "sharded-bf16"));
    let index = tmp.path().join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(
        &index,
        text.replacen("model-00001-of-00002", "../model-00001-of-00002", 1),
    )
    .unwrap();
    let message = Checkpoint::open(tmp.path()).unwrap_err().to_string();
    assert!(message.contains("not a file name inside"), "{message}");

    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let map = json["weight_map"].as_object_mut().unwrap();
    let (name, shard) = map
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .unwrap();
    let other = map
        .values()
        .find(|v| v.as_str() != Some(&shard))
        .unwrap()
        .clone();
    map.insert(name.clone(), other);
    std::fs::write(&index, json.to_string()).unwrap();
    let message = Checkpoint::open(tmp.path()).unwrap_err().to_string();
    assert!(
        message.contains(&name) && message.contains("lacks it"),
        "{message}"
    );
}

#[test]
fn a_legacy_pickle_and_a_directory_without_weights_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let error = Checkpoint::open(tmp.path()).unwrap_err();
    assert!(
        matches!(error, CheckpointError::NoWeights { .. }),
        "{error}"
    );
    // torch < 1.6 wrote a bare pickle starting with its magic number.
    std::fs::write(
        tmp.path().join("pytorch_model.bin"),
        b"\x80\x02\x8a\x0alZ\xfc\x9cF\xf9 j\xa8P\x19.",
    )
    .unwrap();
    let message = Checkpoint::open(tmp.path()).unwrap_err().to_string();
    assert!(
        message.contains("pytorch_model.bin") && message.contains("legacy"),
        "{message}"
    );
    std::fs::write(
        tmp.path().join("model.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let message = Checkpoint::open(tmp.path()).unwrap_err().to_string();
    assert!(
        message.contains("model.safetensors") && message.contains("not a safetensors"),
        "{message}"
    );
}
