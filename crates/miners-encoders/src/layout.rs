//! What a Hugging Face / sentence-transformers model directory asks for.
//!
//! [`TransformerLayout::read`] parses `config.json` and, when present, the
//! sentence-transformers files: `modules.json`, `sentence_bert_config.json`
//! (`max_seq_length`), the pooling config (`1_Pooling/config.json`), `Dense`
//! layers (LaBSE's 768→768 tanh) and `Normalize`. A plain encoder without
//! them gets mean pooling and no normalisation, as sentence-transformers does.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EncoderError;

/// How token states become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The first token's state (`[CLS]`, `<s>`).
    Cls,
    /// The mean over non-padding tokens.
    Mean,
    /// The element-wise maximum over non-padding tokens.
    Max,
}

/// An activation of a `Dense` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `tanh`, as LaBSE.
    Tanh,
    /// No activation.
    Identity,
}

/// One sentence-transformers `Dense` module.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// Directory holding its `config.json` and weights (any [`miners_checkpoint::Layout`]).
    pub dir: PathBuf,
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
    /// Whether it has a bias.
    pub bias: bool,
    /// Its activation.
    pub activation: Activation,
}

/// The transformer architecture fields of `config.json` that the forward pass needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TransformerConfig {
    /// `bert` or `xlm-roberta` (aliases such as `roberta` are accepted).
    pub model_type: String,
    /// Rows of the word embedding table.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Feed-forward activation (`gelu`, `gelu_new`, `relu`, ...).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    #[serde(default = "one")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id (XLM-R positions start after it).
    #[serde(default)]
    pub pad_token_id: i64,
}

fn default_act() -> String {
    "gelu".into()
}
fn one() -> usize {
    1
}
fn default_eps() -> f64 {
    1e-12
}

/// Supported encoder architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// BERT: LaBSE, MiniLM, mBERT.
    Bert,
    /// XLM-RoBERTa: multilingual-e5, paraphrase-multilingual, Glot500, XLM-R.
    XlmRoberta,
}

impl Architecture {
    /// `model_type` values accepted, for error messages.
    pub const SUPPORTED: &'static str = "bert, xlm-roberta (also roberta, camembert)";

    /// The architecture of a `config.json` `model_type`.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "bert" => Some(Architecture::Bert),
            "xlm-roberta" | "roberta" | "camembert" => Some(Architecture::XlmRoberta),
            _ => None,
        }
    }
}

/// Everything a transformer model directory asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerLayout {
    /// The directory.
    pub dir: PathBuf,
    /// Its architecture.
    pub architecture: Architecture,
    /// Its `config.json`.
    pub config: TransformerConfig,
    /// Pooling of token states.
    pub pooling: Pooling,
    /// Whether prompt tokens take part in pooling.
    pub include_prompt: bool,
    /// Dense modules after pooling, in order.
    pub dense: Vec<DenseLayer>,
    /// Whether the output is L2-normalised.
    pub normalize: bool,
    /// Tokens kept per text, special tokens included.
    pub max_seq_length: usize,
}

#[derive(Deserialize)]
struct Module {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Both layouts of `1_Pooling/config.json`: sentence-transformers 6 writes
/// `pooling_mode: "cls"`, earlier versions one boolean per mode.
#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    #[serde(default = "yes")]
    include_prompt: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct DenseConfig {
    in_features: usize,
    out_features: usize,
    #[serde(default = "yes")]
    bias: bool,
    #[serde(default)]
    activation_function: Option<String>,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

impl TransformerLayout {
    /// Whether `dir` looks like a transformer model directory.
    pub fn recognizes(dir: &Path) -> bool {
        dir.join("config.json").is_file() && miners_checkpoint::Layout::detect(dir).is_some()
    }

    /// Parses the directory's configuration files.
    pub fn read(dir: &Path) -> Result<Self, EncoderError> {
        let config: TransformerConfig = read_json(&dir.join("config.json"))?;
        let architecture = Architecture::from_model_type(&config.model_type).ok_or_else(|| {
            EncoderError::Format {
                path: dir.join("config.json"),
                message: format!(
                    "unsupported model_type `{}`; supported: {}",
                    config.model_type,
                    Architecture::SUPPORTED
                ),
            }
        })?;
        let modules_path = dir.join("modules.json");
        let modules: Vec<Module> = if modules_path.is_file() {
            read_json(&modules_path)?
        } else {
            Vec::new()
        };
        let mut layout = Self {
            dir: dir.to_owned(),
            architecture,
            max_seq_length: default_max_length(dir, &config, architecture)?,
            config,
            pooling: Pooling::Mean,
            include_prompt: true,
            dense: Vec::new(),
            normalize: false,
        };
        for module in &modules {
            let module_dir = dir.join(&module.path);
            match module.kind.rsplit('.').next().unwrap_or_default() {
                "Transformer" => {}
                "Pooling" => layout.read_pooling(&module_dir.join("config.json"))?,
                "Dense" => layout.dense.push(read_dense(&module_dir)?),
                "Normalize" => layout.normalize = true,
                other => {
                    return Err(EncoderError::Format {
                        path: modules_path.clone(),
                        message: format!(
                            "unsupported sentence-transformers module `{other}` (supported: Transformer, Pooling, Dense, Normalize)"
                        ),
                    });
                }
            }
        }
        Ok(layout)
    }

    fn read_pooling(&mut self, path: &Path) -> Result<(), EncoderError> {
        let mut config: PoolingConfig = read_json(path)?;
        match config.pooling_mode.as_deref() {
            Some("cls") => config.pooling_mode_cls_token = true,
            Some("mean") => config.pooling_mode_mean_tokens = true,
            Some("max") => config.pooling_mode_max_tokens = true,
            Some(other) => {
                return Err(EncoderError::Format {
                    path: path.to_owned(),
                    message: format!(
                        "unsupported pooling_mode `{other}` (supported: cls, mean, max)"
                    ),
                });
            }
            None => {}
        }
        let modes = [
            (config.pooling_mode_cls_token, Some(Pooling::Cls)),
            (config.pooling_mode_mean_tokens, Some(Pooling::Mean)),
            (config.pooling_mode_max_tokens, Some(Pooling::Max)),
            (config.pooling_mode_mean_sqrt_len_tokens, None),
            (config.pooling_mode_weightedmean_tokens, None),
            (config.pooling_mode_lasttoken, None),
        ];
        let chosen: Vec<Option<Pooling>> = modes
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| *p)
            .collect();
        self.pooling = match chosen[..] {
            [Some(pooling)] => pooling,
            _ => {
                return Err(EncoderError::Format {
                    path: path.to_owned(),
                    message: "exactly one of cls, mean or max pooling must be enabled".into(),
                });
            }
        };
        self.include_prompt = config.include_prompt;
        Ok(())
    }
}

/// `sentence_bert_config.json`'s `max_seq_length`; else, as sentence-transformers,
/// the smaller of the position table (less XLM-R's offset) and the tokenizer's
/// `model_max_length` from `tokenizer_config.json`.
fn default_max_length(
    dir: &Path,
    config: &TransformerConfig,
    architecture: Architecture,
) -> Result<usize, EncoderError> {
    let path = dir.join("sentence_bert_config.json");
    if path.is_file()
        && let Some(max) = read_json::<SentenceBertConfig>(&path)?.max_seq_length
    {
        return Ok(max);
    }
    let offset = match architecture {
        Architecture::Bert => 0,
        Architecture::XlmRoberta => config.pad_token_id as usize + 1,
    };
    let positions = config.max_position_embeddings.saturating_sub(offset);
    let path = dir.join("tokenizer_config.json");
    let tokenizer_max = if path.is_file() {
        read_json::<TokenizerConfig>(&path)?.model_max_length
    } else {
        None
    };
    Ok(tokenizer_max.map_or(positions, |m| positions.min(m as usize)))
}

#[derive(Deserialize)]
struct TokenizerConfig {
    /// A float in some files (1e30 for "no limit").
    model_max_length: Option<f64>,
}

fn read_dense(dir: &Path) -> Result<DenseLayer, EncoderError> {
    let path = dir.join("config.json");
    let config: DenseConfig = read_json(&path)?;
    let activation = match config
        .activation_function
        .as_deref()
        .map(|a| a.rsplit('.').next().unwrap_or(a))
    {
        Some("Tanh") => Activation::Tanh,
        None | Some("Identity") => Activation::Identity,
        Some(other) => {
            return Err(EncoderError::Format {
                path,
                message: format!(
                    "unsupported Dense activation `{other}` (supported: Tanh, Identity)"
                ),
            });
        }
    };
    Ok(DenseLayer {
        dir: dir.to_owned(),
        in_features: config.in_features,
        out_features: config.out_features,
        bias: config.bias,
        activation,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EncoderError> {
    let text = std::fs::read_to_string(path).map_err(|source| EncoderError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| EncoderError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    })
}
