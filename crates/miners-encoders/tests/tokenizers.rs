//! Tokenizers converted from SentencePiece models and `vocab.txt` give the
//! ids transformers' fast tokenizers give (fixtures/generate_sentencepiece.py:
//! models trained by the `sentencepiece` package, ids from transformers
//! 4.44.2) on 1,092 SIB-200 sentences in 26 languages and 17 scripts plus
//! edge cases; the real all-MiniLM-L6-v2 `vocab.txt` gives its own
//! `tokenizer.json`'s ids.

use std::path::{Path, PathBuf};

use miners_encoders::tokenizer::load_tokenizer;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared data, or `None` (a failure under CI) when absent.
fn data_dir() -> Option<PathBuf> {
    let dir = workspace().join("../shared/data/miners/sib200/classification");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must have the data");
    eprintln!("skipping: ../shared/data absent");
    None
}

fn expected() -> serde_json::Value {
    let path = workspace().join("fixtures/sentencepiece/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The sentences `expected.json` refers to, then its edge cases.
fn sentences(data: &Path, expected: &serde_json::Value) -> Vec<String> {
    let mut files = std::collections::HashMap::new();
    let mut sentences: Vec<String> = expected["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reference| {
            let lang = reference[0].as_str().unwrap();
            let line = reference[1].as_u64().unwrap() as usize;
            let text = files.entry(lang.to_owned()).or_insert_with(|| {
                std::fs::read_to_string(data.join(format!("{lang}.test.tsv"))).unwrap()
            });
            let row = text.lines().nth(line + 1).unwrap();
            row.split('\t').next().unwrap().to_owned()
        })
        .collect();
    sentences.extend(
        expected["edge_cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned()),
    );
    sentences
}

fn ids(tokenizer: &tokenizers::Tokenizer, sentences: &[String]) -> Vec<Vec<u32>> {
    sentences
        .iter()
        .map(|s| {
            tokenizer
                .encode(s.as_str(), true)
                .unwrap()
                .get_ids()
                .to_vec()
        })
        .collect()
}

#[test]
fn every_kind_gives_transformers_ids() {
    let Some(data) = data_dir() else { return };
    let expected = expected();
    let sentences = sentences(&data, &expected);
    assert!(sentences.len() >= 1_000);
    for kind in ["xlmr", "t5", "xglm", "llama", "bert"] {
        let dir = workspace().join("fixtures/sentencepiece").join(kind);
        assert!(!dir.join("tokenizer.json").exists());
        let tokenizer = load_tokenizer(&dir).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let ours = ids(&tokenizer, &sentences);
        let theirs: Vec<Vec<u32>> = serde_json::from_value(expected["ids"][kind].clone()).unwrap();
        let differing: Vec<usize> = (0..ours.len()).filter(|&i| ours[i] != theirs[i]).collect();
        if let Some(&first) = differing.first() {
            panic!(
                "{kind}: {} of {} sentences differ; first {:?}: ours {:?}, transformers {:?}",
                differing.len(),
                ours.len(),
                sentences[first],
                ours[first],
                theirs[first]
            );
        }
        eprintln!(
            "{kind}: {} sentences, ids equal to transformers'",
            ours.len()
        );
    }
}

#[test]
fn a_real_vocab_txt_gives_its_tokenizer_json_ids() {
    let Some(data) = data_dir() else { return };
    let model = workspace().join("models/minilm-l6");
    if !model.join("vocab.txt").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must fetch models first"
        );
        eprintln!("skipping: models/minilm-l6 absent");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for file in ["vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(model.join(file), dir.path().join(file)).unwrap();
    }
    let sentences = sentences(&data, &expected());
    let converted = ids(&load_tokenizer(dir.path()).unwrap(), &sentences);
    // Its tokenizer.json pads to 128 and truncates; the pipeline is what is compared.
    let mut original = load_tokenizer(&model).unwrap();
    original.with_padding(None);
    original.with_truncation(None).unwrap();
    let original = ids(&original, &sentences);
    let differing = (0..sentences.len())
        .filter(|&i| converted[i] != original[i])
        .count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} sentences differ",
        sentences.len()
    );
}

#[test]
fn a_file_that_is_not_a_sentencepiece_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"tokenizer_class": "XLMRobertaTokenizer"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sentencepiece.bpe.model"),
        b"<html>not found</html>",
    )
    .unwrap();
    let message = load_tokenizer(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("sentencepiece.bpe.model")
            && message.contains("not a SentencePiece model"),
        "{message}"
    );
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"tokenizer_class": "GPT2Tokenizer"}"#,
    )
    .unwrap();
    let message = load_tokenizer(dir.path()).unwrap_err().to_string();
    assert!(message.contains("GPT2Tokenizer"), "{message}");
}
