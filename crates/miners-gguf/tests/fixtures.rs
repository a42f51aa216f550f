//! The GGUF reader and importer against the `gguf` package and transformers
//! (fixtures written by `fixtures/generate_tiny_decoders.py`).

use std::{collections::HashMap, path::PathBuf};

use miners_gguf::{GgufError, GgufFile, StoreType, import_gguf};
use safetensors::SafeTensors;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny-decoders")
}

type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

fn f32_tensors(bytes: &[u8]) -> Tensors {
    let file = SafeTensors::deserialize(bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

#[test]
fn every_tensor_type_dequantizes_bit_identically_to_the_gguf_package() {
    let file = GgufFile::open(&fixtures().join("quants.gguf")).unwrap();
    let expected = std::fs::read(fixtures().join("quants_expected.safetensors")).unwrap();
    let expected = f32_tensors(&expected);
    assert_eq!(file.tensors.len(), 11);
    for info in &file.tensors {
        let (shape, values) = &expected[&info.name];
        assert_eq!(&info.shape(), shape, "{}", info.name);
        let ours = file.read_f32(info).unwrap();
        let same = ours
            .iter()
            .zip(values)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{} differs from gguf.quants.dequantize", info.name);
    }
}

#[test]
fn llama_import_restores_the_transformers_weights_and_tokenizer() {
    let out = tempfile::tempdir().unwrap();
    let report = import_gguf(&fixtures().join("llama.gguf"), out.path(), StoreType::F32).unwrap();
    assert_eq!(report.architecture, "llama");
    let ours = f32_tensors(&std::fs::read(out.path().join("model.safetensors")).unwrap());
    let reference =
        f32_tensors(&std::fs::read(fixtures().join("llama/model.safetensors")).unwrap());
    assert_eq!(ours.len(), reference.len());
    for (name, (shape, values)) in &reference {
        let (our_shape, our_values) = &ours[name];
        assert_eq!(our_shape, shape, "{name}");
        assert_eq!(our_values, values, "{name}: rotary rows not restored?");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], "llama");
    assert_eq!(config["num_key_value_heads"], 2);
    assert_eq!(config["tie_word_embeddings"], false);

    let rebuilt = tokenizers::Tokenizer::from_file(out.path().join("tokenizer.json")).unwrap();
    let original = tokenizers::Tokenizer::from_file(fixtures().join("tokenizer.json")).unwrap();
    for text in [
        "Input:the food was great Prediction:positive",
        "Makanannya enak sekali! 123 'quotes'  double  spaces\nnewline",
        "unseen wörds and émojis 🙂",
    ] {
        let ids = |t: &tokenizers::Tokenizer| t.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(ids(&rebuilt), ids(&original), "{text:?}");
    }
}

#[test]
fn corrupt_files_get_errors_that_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let not_gguf = dir.path().join("not.gguf");
    std::fs::write(&not_gguf, b"PK\x03\x04 definitely a zip").unwrap();
    let err = GgufFile::open(&not_gguf).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");

    let bytes = std::fs::read(fixtures().join("llama.gguf")).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = GgufFile::open(&truncated).unwrap_err();
    assert!(
        matches!(err, GgufError::Format { .. }) && err.to_string().contains("truncated"),
        "{err}"
    );

    let header_only = dir.path().join("header.gguf");
    std::fs::write(&header_only, &bytes[..100]).unwrap();
    let err = GgufFile::open(&header_only).unwrap_err();
    assert!(err.to_string().contains("end of file"), "{err}");
}

#[test]
fn deeply_nested_metadata_arrays_are_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(0u64.to_le_bytes()); // tensors
    bytes.extend(1u64.to_le_bytes()); // metadata entries
    bytes.extend(1u64.to_le_bytes());
    bytes.push(b'k');
    bytes.extend(9u32.to_le_bytes()); // an array ...
    for _ in 0..100_000 {
        bytes.extend(9u32.to_le_bytes()); // ... of arrays ...
        bytes.extend(1u64.to_le_bytes()); // ... of one item each
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = GgufFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("nested deeper than"), "{err}");
}
