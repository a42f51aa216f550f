//! Which files of a repository a model needs.

use std::path::Path;

/// Top-level files a model may need: configuration, weights, tokenizer and
/// sentence-transformers settings.
const TOP_LEVEL: &[&str] = &[
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

/// Files inside sentence-transformers module folders (`1_Pooling/`, `2_Dense/`, …).
const IN_MODULES: &[&str] = &["config.json", "model.safetensors"];

/// The files of `listing` a model needs: the top-level configuration, weights and tokenizer files and the
/// configuration and weights of every sentence-transformers module folder
/// (`<n>_<Name>/`). Nothing else: no other weight formats, no ONNX, no images.
pub fn model_files(listing: &[String]) -> Vec<String> {
    listing
        .iter()
        .filter(|file| match file.split_once('/') {
            None => TOP_LEVEL.contains(&file.as_str()),
            Some((folder, rest)) => is_module_folder(folder) && IN_MODULES.contains(&rest),
        })
        .cloned()
        .collect()
}

/// `1_Pooling`, `2_Dense`, `3_Normalize`.
fn is_module_folder(folder: &str) -> bool {
    folder.split_once('_').is_some_and(|(n, name)| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
    })
}

/// Every file under `dir`, as `/`-separated relative paths.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_needs_its_config_weights_tokenizer_and_modules_only() {
        let listing: Vec<String> = [
            ".gitattributes",
            "README.md",
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "onnx/model.onnx",
            "tokenizer.json",
            "modules.json",
            "1_Pooling/config.json",
            "2_Dense/config.json",
            "2_Dense/model.safetensors",
            "2_Dense/pytorch_model.bin",
            "openvino/openvino_model.xml",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            model_files(&listing),
            [
                "config.json",
                "model.safetensors",
                "tokenizer.json",
                "modules.json",
                "1_Pooling/config.json",
                "2_Dense/config.json",
                "2_Dense/model.safetensors"
            ]
        );
    }
}
