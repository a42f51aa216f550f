//! Rebuilds a Hugging Face `tokenizer.json` from GGUF tokenizer metadata.
//!
//! Two families are supported, chosen by `tokenizer.ggml.model`:
//! - `gpt2`: byte-level BPE with the file's merges and the pre-tokenizer named
//!   by `tokenizer.ggml.pre` (Qwen2, SmolLM2, Llama 3, GPT-2).
//! - `llama`: SentencePiece-style BPE with byte fallback (Gemma, Llama 2). The
//!   file has no merges; they are derived from the vocabulary, ranked by the
//!   token scores, or for Gemma by token order (Gemma's scores do not follow
//!   its merge order).

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use crate::{GgufError, GgufFile, Value};

/// ggml token types.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Builds `tokenizer.json` for the file's vocabulary.
pub fn tokenizer_json(gguf: &GgufFile) -> Result<Json, GgufError> {
    let vocab = Vocabulary::read(gguf)?;
    let model = gguf.require_str("tokenizer.ggml.model")?;
    let architecture = gguf.require_str("general.architecture")?;
    let (mut tokenizer, spelling) = match model {
        "gpt2" => (byte_level(gguf, &vocab)?, vocab.tokens.clone()),
        "llama" => sentencepiece(gguf, &vocab, architecture.starts_with("gemma"))?,
        other => {
            return Err(GgufError::unsupported(
                gguf.path(),
                format!("tokenizer model `{other}` (supported: gpt2, llama)"),
            ));
        }
    };
    tokenizer["added_tokens"] = added_tokens(&vocab, &spelling);
    Ok(tokenizer)
}

/// Builds `tokenizer_config.json`: the generic fast tokenizer class (so
/// transformers adds no special tokens of a model class's defaults), the
/// special tokens the file names by id, and its chat template, if any.
pub fn tokenizer_config_json(gguf: &GgufFile) -> Result<Json, GgufError> {
    let vocab = Vocabulary::read(gguf)?;
    let mut config = json!({"tokenizer_class": "PreTrainedTokenizerFast"});
    let roles = [
        ("bos", "bos_token"),
        ("eos", "eos_token"),
        ("unknown", "unk_token"),
        ("padding", "pad_token"),
    ];
    for (role, name) in roles {
        let token = gguf
            .get(&format!("tokenizer.ggml.{role}_token_id"))
            .and_then(Value::as_u64)
            .and_then(|id| vocab.tokens.get(id as usize));
        if let Some(token) = token {
            config[name] = json!(token);
        }
    }
    if let Some(template) = gguf.get("tokenizer.chat_template").and_then(Value::as_str) {
        config["chat_template"] = json!(template);
    }
    Ok(config)
}

/// Tokens, their types and scores, in id order.
struct Vocabulary {
    tokens: Vec<String>,
    types: Vec<i64>,
    scores: Vec<f64>,
}

impl Vocabulary {
    fn read(gguf: &GgufFile) -> Result<Self, GgufError> {
        let tokens: Vec<String> = array(gguf, "tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| not_all(gguf, "tokenizer.ggml.tokens", "strings"))?;
        let types = optional_numbers(gguf, "tokenizer.ggml.token_type", tokens.len())?
            .into_iter()
            .map(|t| t as i64)
            .collect();
        let scores = optional_numbers(gguf, "tokenizer.ggml.scores", tokens.len())?;
        Ok(Self {
            tokens,
            types,
            scores,
        })
    }

    fn ids(&self) -> serde_json::Map<String, Json> {
        self.tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), json!(id)))
            .collect()
    }
}

fn array<'a>(gguf: &'a GgufFile, key: &str) -> Result<&'a [Value], GgufError> {
    gguf.require(key)?
        .as_array()
        .ok_or_else(|| GgufError::format(gguf.path(), format!("metadata `{key}` is not an array")))
}

fn not_all(gguf: &GgufFile, key: &str, what: &str) -> GgufError {
    GgufError::format(gguf.path(), format!("metadata `{key}` is not all {what}"))
}

/// A numeric per-token array, or zeros when the file has none.
fn optional_numbers(gguf: &GgufFile, key: &str, len: usize) -> Result<Vec<f64>, GgufError> {
    if gguf.get(key).is_none() {
        return Ok(vec![0.0; len]);
    }
    let values: Vec<f64> = array(gguf, key)?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<_>>()
        .ok_or_else(|| not_all(gguf, key, "numbers"))?;
    if values.len() != len {
        return Err(GgufError::format(
            gguf.path(),
            format!(
                "metadata `{key}` has {} entries for {len} tokens",
                values.len()
            ),
        ));
    }
    Ok(values)
}

fn byte_level(gguf: &GgufFile, vocab: &Vocabulary) -> Result<Json, GgufError> {
    let pairs: Vec<(&str, &str)> = array(gguf, "tokenizer.ggml.merges")?
        .iter()
        .map(|m| m.as_str()?.split_once(' '))
        .collect::<Option<_>>()
        .ok_or_else(|| not_all(gguf, "tokenizer.ggml.merges", "`left right` strings"))?;
    let merges = merges_json(&pairs);
    let pre = gguf
        .get("tokenizer.ggml.pre")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": use_regex});
    let split = |regex: &str| json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false});
    let (normalizer, pre_tokenizer) = match pre {
        "qwen2" => (
            json!({"type": "NFC"}),
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), byte_level(false)]}),
        ),
        "llama3" | "llama-v3" | "llama-bpe" | "smaug-bpe" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_SPLIT), byte_level(false)]}),
        ),
        "smollm" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        ),
        "default" | "gpt-2" => (Json::Null, byte_level(true)),
        other => {
            return Err(GgufError::unsupported(
                gguf.path(),
                format!(
                    "byte-level pre-tokenizer `{other}` (supported: qwen2, llama3, smollm, gpt-2)"
                ),
            ));
        }
    };
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab.ids(), "merges": merges,
        },
    }))
}

/// The tokenizer and the vocabulary's final spelling of each token.
fn sentencepiece(
    gguf: &GgufFile,
    vocab: &Vocabulary,
    gemma: bool,
) -> Result<(Json, Vec<String>), GgufError> {
    let tokens: Vec<String> = if gemma {
        // Gemma files store tokens of several spaces as real spaces.
        vocab
            .tokens
            .iter()
            .map(|t| {
                if !t.is_empty() && t.chars().all(|c| c == ' ') {
                    "\u{2581}".repeat(t.chars().count())
                } else {
                    t.clone()
                }
            })
            .collect()
    } else {
        vocab.tokens.clone()
    };
    let ranks: Vec<f64> = if gemma {
        (0..tokens.len()).map(|i| -(i as f64)).collect()
    } else {
        vocab.scores.clone()
    };
    let merges = derive_merges(&tokens, &ranks);
    let prefix_space = gguf
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(Value::as_bool)
        .unwrap_or(!gemma);
    let replace_space =
        json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    let normalizer = if prefix_space {
        json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u{2581}"}, replace_space]})
    } else {
        replace_space
    };
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix_space {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    let unk = gguf
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(Value::as_u64)
        .and_then(|id| tokens.get(id as usize).cloned());
    let ids: serde_json::Map<String, Json> = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), json!(id)))
        .collect();
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "normalizer": normalizer,
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": unk,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": ids, "merges": merges,
        },
    });
    Ok((tokenizer, tokens))
}

/// Every split of a token into two tokens, ranked best first: by the merged
/// token's rank (higher first), then longer left and right parts first; pairs
/// from one token keep the order of their parts' ids.
fn derive_merges(tokens: &[String], ranks: &[f64]) -> Json {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut merges: Vec<(f64, &str, &str)> = Vec::new();
    for (token, &rank) in tokens.iter().zip(ranks) {
        let mut local: Vec<(usize, usize, &str, &str)> = token
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (left, right) = token.split_at(at);
                Some((*ids.get(left)?, *ids.get(right)?, left, right))
            })
            .collect();
        local.sort_by_key(|&(l, r, ..)| (l, r));
        merges.extend(local.into_iter().map(|(.., l, r)| (rank, l, r)));
    }
    merges.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.1.chars().count().cmp(&a.1.chars().count()))
            .then(b.2.chars().count().cmp(&a.2.chars().count()))
    });
    let pairs: Vec<(&str, &str)> = merges.into_iter().map(|(_, l, r)| (l, r)).collect();
    merges_json(&pairs)
}

/// Merges as `"left right"` strings, which every version of the tokenizers
/// library reads (transformers 4.x ships versions that read nothing else);
/// as `[left, right]` pairs only if some part has a space of its own.
fn merges_json(pairs: &[(&str, &str)]) -> Json {
    if pairs
        .iter()
        .any(|(l, r)| l.contains(' ') || r.contains(' '))
    {
        return pairs.iter().map(|(l, r)| json!([l, r])).collect();
    }
    pairs
        .iter()
        .map(|(l, r)| json!(format!("{l} {r}")))
        .collect()
}

/// Control tokens (special) and user-defined tokens (not special), matched
/// whole in raw text; tokens the vocabulary respelled are left to the model.
fn added_tokens(vocab: &Vocabulary, spelling: &[String]) -> Json {
    vocab
        .tokens
        .iter()
        .zip(&vocab.types)
        .enumerate()
        .filter(|(id, (token, t))| {
            (**t == CONTROL || **t == USER_DEFINED) && spelling[*id] == **token
        })
        .map(|(id, (token, &kind))| {
            json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": kind == CONTROL,
            })
        })
        .collect()
}
