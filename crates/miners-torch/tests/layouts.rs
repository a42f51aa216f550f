//! Every published checkpoint layout loads and computes the same thing:
//! the tiny fixtures of every paper architecture, re-saved by transformers'
//! `save_pretrained` (fixtures/generate_layouts.py) as `pytorch_model.bin`,
//! sharded `.bin` and sharded bfloat16 safetensors.
//!
//! - float32 layouts give exactly (bit for bit) what the committed
//!   `model.safetensors` gives, which the parity tests check against
//!   transformers;
//! - the bfloat16 shards, computed in float32, equal transformers' outputs
//!   on the same shards within the parity tests' tolerances.

use miners_encoders::spec::DType;
use std::path::{Path, PathBuf};

use miners_encoders::{Encoder, Role, spec::ModelSpec};
use miners_icl::Generator;
use miners_torch::{DeviceChoice, TorchEncoder, TorchGenerator, TorchSeq2Seq};
use serde_json::Value;

const ENCODERS: [&str; 2] = ["tiny-bert", "tiny-xlmr"];
const DECODERS: [&str; 8] = [
    "bloom", "xglm", "llama", "gemma", "gemma2", "mistral", "cohere", "mt5",
];
const FLOAT32_LAYOUTS: [&str; 2] = ["bin", "sharded-bin"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn layout(model: &str, layout: &str) -> PathBuf {
    fixtures().join("layouts").join(model).join(layout)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("layouts/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn floats(value: &Value) -> Vec<Vec<f64>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn max_difference(ours: &[Vec<f64>], theirs: &[Vec<f64>]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .flat_map(|(a, b)| {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f64::max)
}

fn embeddings(dir: &Path, texts: &[String]) -> Vec<Vec<f64>> {
    let encoder = TorchEncoder::load(&ModelSpec::for_dir(dir), DeviceChoice::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = encoder.encode(&refs, Role::Query).unwrap();
    (0..vectors.len())
        .map(|i| vectors.row(i).iter().map(|&x| f64::from(x)).collect())
        .collect()
}

fn scores(name: &str, dir: &Path, prompts: &[String], labels: &[String]) -> Vec<Vec<f64>> {
    let generator: Box<dyn Generator> = if TorchSeq2Seq::recognizes(dir) {
        Box::new(TorchSeq2Seq::load(name, dir, DeviceChoice::Cpu, DType::Float32).unwrap())
    } else {
        Box::new(
            TorchGenerator::load(name, dir, DeviceChoice::Cpu, DType::Float32)
                .unwrap_or_else(|e| panic!("{e}")),
        )
    };
    generator.score(prompts, labels).unwrap()
}

#[test]
fn encoders_compute_the_same_in_every_layout() {
    let expected = expected();
    for name in ENCODERS {
        let reference = &expected["models"][name];
        let texts = strings(&reference["texts"]);
        let base = embeddings(&fixtures().join(name), &texts);
        for float32 in FLOAT32_LAYOUTS {
            let got = embeddings(&layout(name, float32), &texts);
            assert_eq!(
                got, base,
                "{name} {float32}: not bit-identical to model.safetensors"
            );
        }
        let bf16 = embeddings(&layout(name, "sharded-bf16"), &texts);
        let difference = max_difference(&bf16, &floats(&reference["embeddings"]));
        eprintln!("{name} sharded-bf16: max |Δ| vs sentence-transformers {difference:.2e}");
        assert!(difference <= 1e-5, "{name} sharded-bf16: {difference:e}");
    }
}

#[test]
fn generators_score_the_same_in_every_layout() {
    let expected = expected();
    let prompts = strings(&expected["prompts"]);
    let labels = strings(&expected["labels"]);
    for name in DECODERS {
        let base = scores(
            name,
            &fixtures().join("tiny-decoders").join(name),
            &prompts,
            &labels,
        );
        for float32 in FLOAT32_LAYOUTS {
            let got = scores(name, &layout(name, float32), &prompts, &labels);
            assert_eq!(
                got, base,
                "{name} {float32}: not bit-identical to model.safetensors"
            );
        }
        let bf16 = scores(name, &layout(name, "sharded-bf16"), &prompts, &labels);
        let difference = max_difference(&bf16, &floats(&expected["models"][name]["scores"]));
        eprintln!("{name} sharded-bf16: max |Δ log-prob| vs transformers {difference:.2e}");
        assert!(difference <= 1e-4, "{name} sharded-bf16: {difference:e}");
    }
}

#[test]
fn a_tensor_whose_shape_disagrees_with_the_config_names_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(layout("tiny-xlmr", "sharded-bin")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let config_path = tmp.path().join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["intermediate_size"] = Value::from(config["intermediate_size"].as_u64().unwrap() + 1);
    std::fs::write(&config_path, config.to_string()).unwrap();
    let error = TorchEncoder::load(&ModelSpec::for_dir(tmp.path()), DeviceChoice::Cpu)
        .err()
        .expect("a shape mismatch is refused")
        .to_string();
    assert!(error.contains("intermediate.dense.weight"), "{error}");
    assert!(error.contains("pytorch_model-0000"), "{error}");
    assert!(error.contains("expected"), "{error}");
}
