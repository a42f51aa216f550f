//! Which files of a repository a model needs.

use std::path::Path;

use miners_checkpoint::Layout;

/// Top-level files a model may need besides its weights: configuration,
/// tokenizer and sentence-transformers settings.
const TOP_LEVEL: &[&str] = &[
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

/// The files of `listing` a model needs: the top-level configuration and
/// tokenizer files, the weights in the preferred [`Layout`] the top level
/// has (for a sharded layout its index: the shards follow from it, see
/// [`crate::Hub::model`]), and the configuration and weights of every
/// sentence-transformers module folder (`<n>_<Name>/`). Nothing else: `.bin`
/// files only where no safetensors exist, no ONNX, no images.
pub fn model_files(listing: &[String]) -> Vec<String> {
    let mut folders: Vec<&str> = vec![""];
    folders.extend(
        listing
            .iter()
            .filter_map(|file| file.split_once('/'))
            .map(|(folder, _)| folder)
            .filter(|folder| is_module_folder(folder)),
    );
    folders.sort_unstable();
    folders.dedup();
    let mut wanted: Vec<String> = listing
        .iter()
        .filter(|file| match file.split_once('/') {
            None => TOP_LEVEL.contains(&file.as_str()),
            Some((folder, rest)) => is_module_folder(folder) && rest == "config.json",
        })
        .cloned()
        .collect();
    for folder in folders {
        wanted.extend(weights_in(listing, folder));
    }
    wanted.sort_by_key(|file| listing.iter().position(|f| f == file));
    wanted
}

/// The weight file (or shard index) of the preferred layout in `folder`
/// (`""` for the top level).
fn weights_in(listing: &[String], folder: &str) -> Option<String> {
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let names: Vec<&str> = listing
        .iter()
        .filter_map(|file| file.strip_prefix(&prefix))
        .filter(|rest| !rest.contains('/'))
        .collect();
    Layout::choose(&names).map(|layout| format!("{prefix}{}", layout.file_name()))
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

    #[test]
    fn pickles_only_where_no_safetensors_and_shards_through_their_index() {
        let listing: Vec<String> = [
            "config.json",
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model-00002-of-00002.bin",
            "pytorch_model.bin.index.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
            "sentencepiece.bpe.model",
            "2_Dense/config.json",
            "2_Dense/pytorch_model.bin",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            model_files(&listing),
            [
                "config.json",
                "model.safetensors.index.json",
                "sentencepiece.bpe.model",
                "2_Dense/config.json",
                "2_Dense/pytorch_model.bin"
            ]
        );
        let pickles: Vec<String> = ["config.json", "pytorch_model.bin", "tokenizer.model"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            model_files(&pickles),
            ["config.json", "pytorch_model.bin", "tokenizer.model"]
        );
    }
}
