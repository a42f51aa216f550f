//! The libtorch generators against transformers: the reference's
//! `calculate_log_prob` (one full forward per prompt and label) on tiny
//! random-weight Llama, Qwen2, Gemma 3 and BLOOM models, on every available device.

use miners_encoders::spec::DType;
use std::path::PathBuf;

use miners_gguf::{StoreType, import_gguf};
use miners_icl::{Decoding, Generator, IclError, Sampling, decide};
use miners_torch::{DeviceChoice, TorchGenerator, resolve_device};
use serde_json::Value;

/// Largest allowed |log-prob difference| (float32 forward passes).
const TOLERANCE: f64 = 1e-4;

/// Every family with a tiny fixture (fixtures/generate_tiny_decoders.py).
const FAMILIES: [&str; 10] = [
    "llama", "qwen2", "gemma3", "bloom", "mistral", "llama31", "gemma", "gemma2", "xglm", "cohere",
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny-decoders")
}

fn devices() -> Vec<DeviceChoice> {
    let mut devices = vec![DeviceChoice::Cpu];
    if resolve_device(DeviceChoice::Auto).is_ok_and(|d| d.is_cuda()) {
        devices.push(DeviceChoice::Cuda(0));
    }
    devices
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
        .unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn max_difference(ours: &[Vec<f64>], reference: &Value) -> f64 {
    ours.iter()
        .flatten()
        .zip(
            reference
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap()),
        )
        .map(|(a, b)| (a - b.as_f64().unwrap()).abs())
        .fold(0.0, f64::max)
}

fn check(generator: &TorchGenerator, family: &str) {
    let expected = expected();
    let prompts = strings(&expected["prompts"]);
    let labels = strings(&expected["labels"]);
    let reference = &expected["models"][family];
    let scores = generator.score(&prompts, &labels).unwrap();
    let difference = max_difference(&scores, &reference["scores"]);
    assert!(
        difference <= TOLERANCE,
        "{family}: max |Δ log-prob| {difference:e}"
    );
    let predictions: Vec<String> = scores.iter().map(|s| labels[decide(s)].clone()).collect();
    assert_eq!(predictions, strings(&reference["predictions"]), "{family}");
    eprintln!("{family}: max |Δ log-prob| vs transformers {difference:.2e}");
}

#[test]
fn tree_masked_scoring_matches_transformers_for_every_family() {
    for device in devices() {
        for family in FAMILIES {
            let generator =
                TorchGenerator::load(family, &fixtures().join(family), device, DType::Float32)
                    .unwrap();
            check(&generator, family);
        }
    }
}

#[test]
fn small_batches_and_one_by_one_scoring_agree() {
    let expected = expected();
    let prompts = strings(&expected["prompts"]);
    let labels = strings(&expected["labels"]);
    let dir = fixtures().join("gemma3");
    let batched = TorchGenerator::load("gemma3", &dir, DeviceChoice::Cpu, DType::Float32).unwrap();
    let single = TorchGenerator::load("gemma3", &dir, DeviceChoice::Cpu, DType::Float32)
        .unwrap()
        .with_token_budget(1);
    let a = batched.score(&prompts, &labels).unwrap();
    let b = single.score(&prompts, &labels).unwrap();
    let c = batched.score_one_by_one(&prompts, &labels).unwrap();
    for (x, (y, z)) in a
        .iter()
        .flatten()
        .zip(b.iter().flatten().zip(c.iter().flatten()))
    {
        assert!((x - y).abs() < 1e-5 && (x - z).abs() < 1e-5, "{x} {y} {z}");
    }
}

#[test]
fn imported_gguf_scores_like_the_transformers_model() {
    let out = tempfile::tempdir().unwrap();
    import_gguf(&fixtures().join("llama.gguf"), out.path(), StoreType::F32).unwrap();
    let generator =
        TorchGenerator::load("llama-gguf", out.path(), DeviceChoice::Cpu, DType::Float32).unwrap();
    check(&generator, "llama");
}

#[test]
fn empty_labels_and_long_prompts_are_errors() {
    let generator = TorchGenerator::load(
        "llama",
        &fixtures().join("llama"),
        DeviceChoice::Cpu,
        DType::Float32,
    )
    .unwrap();
    let err = generator
        .score(
            &["Input:x Prediction:".into()],
            &["positive".into(), String::new()],
        )
        .unwrap_err();
    assert!(matches!(err, IclError::EmptyLabel(_)), "{err}");
    let long = "word ".repeat(1100);
    let err = generator.score(&[long], &["positive".into()]).unwrap_err();
    assert!(err.to_string().contains("context window"), "{err}");
}

#[test]
fn greedy_generation_matches_transformers() {
    let expected = expected();
    let prompt = strings(&expected["prompts"])[0].clone();
    for family in FAMILIES {
        let generator = TorchGenerator::load(
            family,
            &fixtures().join(family),
            DeviceChoice::Cpu,
            DType::Float32,
        )
        .unwrap();
        let generation = generator.generate(&prompt, &Decoding::greedy(4)).unwrap();
        assert_eq!(
            generation.text,
            expected["models"][family]["greedy"].as_str().unwrap(),
            "{family}"
        );
        // The KV cache decodes exactly what recomputing the sequence decodes.
        let recomputed = generator
            .decode(&prompt, &Decoding::greedy(12), false)
            .unwrap();
        let cached = generator
            .decode(&prompt, &Decoding::greedy(12), true)
            .unwrap();
        assert_eq!(cached, recomputed, "{family}");
    }
}

#[test]
fn sampling_is_repeatable_by_seed_and_stops_at_the_limit() {
    let expected = expected();
    let prompt = strings(&expected["prompts"])[0].clone();
    let generator = TorchGenerator::load(
        "qwen2",
        &fixtures().join("qwen2"),
        DeviceChoice::Cpu,
        DType::Float32,
    )
    .unwrap();
    let sampled = |seed| {
        let decoding = Decoding {
            max_new_tokens: 6,
            sampling: Sampling::Sample {
                temperature: 5.0,
                top_p: 1.0,
                seed,
            },
        };
        generator.generate(&prompt, &decoding).unwrap()
    };
    assert_eq!(sampled(7), sampled(7));
    let draws: std::collections::BTreeSet<String> = (0..8).map(|s| sampled(s).text).collect();
    assert!(
        draws.len() > 1,
        "a hot temperature varies with the seed: {draws:?}"
    );
    let limited = sampled(1);
    assert!(
        limited.tokens <= 6 && (limited.stopped || limited.tokens == 6),
        "{limited:?}"
    );
}

/// mT5 (mT0, Aya-101): labels scored through the decoder and greedy answers,
/// equal to transformers' on the tiny fixture, behind the same `Generator`.
#[test]
fn mt5_scores_and_generates_like_transformers() {
    let expected = expected();
    let dir = fixtures().join("mt5");
    assert!(miners_torch::TorchSeq2Seq::recognizes(&dir));
    let generator =
        miners_torch::TorchSeq2Seq::load("mt5", &dir, DeviceChoice::Cpu, DType::Float32).unwrap();
    let generator: &dyn Generator = &generator;
    let prompts = strings(&expected["prompts"]);
    let labels = strings(&expected["labels"]);
    let reference = &expected["models"]["mt5"];
    let scores = generator.score(&prompts, &labels).unwrap();
    let difference = max_difference(&scores, &reference["scores"]);
    eprintln!("mt5: max |Δ log-prob| vs transformers {difference:.2e}");
    assert!(
        difference <= TOLERANCE,
        "mt5: max |Δ log-prob| {difference:e}"
    );
    let generation = generator
        .generate(&prompts[0], &Decoding::greedy(4))
        .unwrap();
    assert_eq!(generation.text, reference["greedy"].as_str().unwrap());
}

#[test]
fn a_seq2seq_model_without_a_decoder_start_token_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixtures().join("mt5").join(file), scratch.path().join(file)).unwrap();
    }
    let path = scratch.path().join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config
        .as_object_mut()
        .unwrap()
        .remove("decoder_start_token_id");
    std::fs::write(&path, config.to_string()).unwrap();
    let err =
        miners_torch::TorchSeq2Seq::load("mt5", scratch.path(), DeviceChoice::Cpu, DType::Float32)
            .err()
            .unwrap()
            .to_string();
    assert!(err.contains("decoder_start_token_id"), "{err}");
}

/// Every family holds its weights in bfloat16 and in int8 (weight-only,
/// per-output-channel absmax) with float32 activations: the held tensors
/// change kind, and label log-probabilities stay near float32's.
#[test]
fn every_family_scores_in_bfloat16_and_int8_near_float32() {
    let expected = expected();
    let prompts = strings(&expected["prompts"]);
    let labels = strings(&expected["labels"]);
    let families = FAMILIES.iter().chain(["mt5"].iter());
    for family in families {
        let dir = fixtures().join(family);
        let load = |dtype: DType| -> Box<dyn Generator> {
            if miners_torch::TorchSeq2Seq::recognizes(&dir) {
                Box::new(
                    miners_torch::TorchSeq2Seq::load(family, &dir, DeviceChoice::Cpu, dtype)
                        .unwrap(),
                )
            } else {
                Box::new(TorchGenerator::load(family, &dir, DeviceChoice::Cpu, dtype).unwrap())
            }
        };
        let float32 = load(DType::Float32).score(&prompts, &labels).unwrap();
        for (dtype, bound) in [(DType::BFloat16, 0.1), (DType::Int8, 0.2)] {
            let scores = load(dtype).score(&prompts, &labels).unwrap();
            let worst = float32
                .iter()
                .flatten()
                .zip(scores.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            eprintln!("{family} {dtype:?}: max |Δ log-prob| vs float32 {worst:.2e}");
            assert!(
                worst.is_finite() && worst <= bound,
                "{family} {dtype:?}: {worst}"
            );
            assert!(
                worst > 0.0,
                "{family} {dtype:?}: identical to float32, so not held in {dtype:?}"
            );
        }
    }
}

/// A model split into segments over several devices computes what it
/// computes on one: here three CPU "devices", so that every family's layers
/// load through the placement and run through the segment boundaries (the
/// encoder-decoder's split runs across both stacks), scores and generation
/// (KV-cached for the rotary families) alike.
#[test]
fn a_model_split_over_devices_scores_and_generates_as_on_one() {
    let expected = expected();
    let prompts = strings(&expected["prompts"]);
    let labels = strings(&expected["labels"]);
    let three = [DeviceChoice::Cpu, DeviceChoice::Cpu, DeviceChoice::Cpu];
    let families = [
        "llama", "qwen2", "gemma3", "mistral", "gemma2", "cohere", "bloom", "xglm", "mt5",
    ];
    for family in families {
        let dir = fixtures().join(family);
        let load = |devices: &[DeviceChoice]| -> Box<dyn Generator> {
            match miners_torch::TorchSeq2Seq::recognizes(&dir) {
                true => Box::new(
                    miners_torch::TorchSeq2Seq::load_on(family, &dir, devices, DType::Float32)
                        .unwrap(),
                ),
                false => Box::new(
                    TorchGenerator::load_on(family, &dir, devices, DType::Float32).unwrap(),
                ),
            }
        };
        let (whole, split) = (load(&[DeviceChoice::Cpu]), load(&three));
        assert_eq!(
            whole.score(&prompts, &labels).unwrap(),
            split.score(&prompts, &labels).unwrap(),
            "{family}"
        );
        let decoding = Decoding::greedy(4);
        let (a, b) = (
            whole.generate(&prompts[0], &decoding).unwrap(),
            split.generate(&prompts[0], &decoding).unwrap(),
        );
        assert_eq!(a.text, b.text, "{family}");
    }
}
