//! Static embeddings of the model2vec / tokenlearn family.
//!
//! Files: `tokenizer.json`, `model.safetensors` with `embeddings` (rows × dim;
//! F32, F16, BF16 or I8), optional `weights` (one per token id) and optional
//! `mapping` (token id → embeddings row), and an optional `config.json` whose
//! `normalize` flag (default true) asks for unit-norm output.
//!
//! A text's vector is the mean over its first [`StaticEncoder::MAX_TOKENS`]
//! tokens (no special tokens) of `embeddings[mapping[id]] · weights[id]`;
//! a text with no tokens embeds to the zero vector.

use std::path::{Path, PathBuf};

use miners_core::Embeddings;
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::{Encoder, EncoderError, Fingerprint, Prompts, Role, tensors};

/// A static embedding model loaded in memory.
#[derive(Debug)]
pub struct StaticEncoder {
    id: String,
    tokenizer: Tokenizer,
    /// Row-major `rows × dim` table.
    table: Vec<f32>,
    dim: usize,
    /// Per token id: table row and weight.
    tokens: Vec<(u32, f32)>,
    normalize: bool,
    prompts: Prompts,
    fingerprint: String,
}

#[derive(Debug, Deserialize)]
struct StaticConfig {
    #[serde(default = "default_true")]
    normalize: bool,
}

fn default_true() -> bool {
    true
}

impl StaticEncoder {
    /// Tokens kept per text, as the tokenlearn package does.
    pub const MAX_TOKENS: usize = 512;

    /// Whether `dir` holds a static model: a `model.safetensors` whose header
    /// names an `embeddings` tensor. Only the header is read, so a damaged file
    /// is still recognised and [`StaticEncoder::load`] says what is wrong with it.
    pub fn recognizes(dir: &Path) -> bool {
        safetensors_header(&dir.join("model.safetensors"))
            .is_some_and(|header| header.get("embeddings").is_some())
    }

    /// Loads and validates the model in `dir`.
    pub fn load(dir: &Path, id: &str) -> Result<Self, EncoderError> {
        let normalize = read_config(&dir.join("config.json"))?;
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(EncoderError::missing(&tokenizer_path));
        }
        let tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| EncoderError::Format {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).map_err(|source| EncoderError::Io {
            path: path.clone(),
            source,
        })?;
        let st = tensors::parse(&path, &bytes)?;
        let embeddings = tensors::required(&path, &st, "embeddings")?;
        tensors::expect_rank(&path, "embeddings", &embeddings, 2)?;
        let (rows, dim) = (embeddings.shape()[0], embeddings.shape()[1]);
        let table = tensors::to_f32(&path, "embeddings", &embeddings)?;
        let vocab = tokenizer.get_vocab_size(true);
        let weights = match tensors::optional(&path, &st, "weights")? {
            Some(t) => tensors::to_f32(&path, "weights", &t)?,
            None => vec![1.0; vocab],
        };
        let mapping = match tensors::optional(&path, &st, "mapping")? {
            Some(t) => tensors::to_i64(&path, "mapping", &t)?,
            None => (0..vocab as i64).collect(),
        };
        let tokens = token_table(&path, vocab, rows, &weights, &mapping)?;
        let fingerprint = Fingerprint::new("static-v1")
            .file(&path)?
            .file(&tokenizer_path)?
            .field("normalize", normalize)
            .field("max_tokens", Self::MAX_TOKENS)
            .finish();
        let encoder = Self {
            id: id.to_owned(),
            tokenizer,
            table,
            dim,
            tokens,
            normalize,
            prompts: Prompts::default(),
            fingerprint,
        };
        Ok(encoder)
    }

    /// The same model with these prompts.
    pub fn with_prompts(mut self, prompts: Prompts) -> Self {
        self.prompts = prompts;
        self
    }

    /// Embeds one list of token ids.
    fn pool(&self, ids: &[u32]) -> Vec<f32> {
        let mut sum = vec![0f32; self.dim];
        let ids = &ids[..ids.len().min(Self::MAX_TOKENS)];
        for &id in ids {
            let (row, weight) = self.tokens[id as usize];
            let start = row as usize * self.dim;
            for (acc, v) in sum.iter_mut().zip(&self.table[start..start + self.dim]) {
                *acc += v * weight;
            }
        }
        if ids.is_empty() {
            return sum;
        }
        let count = ids.len() as f32;
        sum.iter_mut().for_each(|v| *v /= count);
        if self.normalize {
            let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                sum.iter_mut().for_each(|v| *v /= norm);
            }
        }
        sum
    }
}

impl Encoder for StaticEncoder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    fn encode_raw(&self, texts: &[&str], _role: Role) -> Result<Embeddings, EncoderError> {
        let rows: Vec<Vec<f32>> = texts
            .par_iter()
            .enumerate()
            .map(|(index, text)| {
                let encoding = self.tokenizer.encode_fast(*text, false).map_err(|e| {
                    EncoderError::Tokenize {
                        index,
                        message: e.to_string(),
                    }
                })?;
                Ok(self.pool(encoding.get_ids()))
            })
            .collect::<Result<_, EncoderError>>()?;
        Ok(Embeddings::from_rows(self.dim, rows.concat())?)
    }
}

/// The JSON header of a safetensors file, if it has a readable one.
fn safetensors_header(path: &Path) -> Option<serde_json::Value> {
    use std::io::Read;
    const MAX_HEADER: u64 = 100 << 20;
    let mut file = std::fs::File::open(path).ok()?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length).ok()?;
    let length = u64::from_le_bytes(length);
    if length > MAX_HEADER {
        return None;
    }
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header).ok()?;
    serde_json::from_slice(&header).ok()
}

fn read_config(path: &PathBuf) -> Result<bool, EncoderError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(true);
    };
    let config: StaticConfig = serde_json::from_str(&text).map_err(|e| EncoderError::Format {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(config.normalize)
}

/// Joins mapping and weights per token id, checking them against the tokenizer and table.
fn token_table(
    path: &Path,
    vocab: usize,
    rows: usize,
    weights: &[f32],
    mapping: &[i64],
) -> Result<Vec<(u32, f32)>, EncoderError> {
    let bad = |message: String| EncoderError::Format {
        path: path.to_owned(),
        message,
    };
    if weights.len() != vocab || mapping.len() != vocab {
        return Err(bad(format!(
            "the tokenizer has {vocab} tokens but the model has {} weights and {} mapping entries",
            weights.len(),
            mapping.len()
        )));
    }
    mapping
        .iter()
        .zip(weights)
        .enumerate()
        .map(|(id, (&row, &weight))| {
            if row < 0 || row as usize >= rows {
                return Err(bad(format!(
                    "token {id} maps to row {row}, outside the {rows}-row table"
                )));
            }
            if !weight.is_finite() {
                return Err(bad(format!("token {id} has a non-finite weight")));
            }
            Ok((row as u32, weight))
        })
        .collect()
}
