//! Decoder `config.json`, deserialised into serde structs dispatched on
//! `model_type`, then checked and turned into one [`DecoderConfig`].

use std::path::Path;

use serde::Deserialize;

use crate::TorchError;

/// The family-specific switches of the decoder stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Llama, SmolLM2 (optionally with attention biases).
    Llama,
    /// Qwen2 / Qwen2.5: Q/K/V biases.
    Qwen2,
    /// Gemma 1: scaled embeddings, `1 + w` RMSNorms, tanh-GELU.
    Gemma,
    /// Gemma 2: Gemma 1 plus sandwich norms, attention and final logit
    /// soft-capping and alternating sliding-window layers.
    Gemma2,
    /// Gemma 3 text models: Gemma 2 plus Q/K norms and per-layer-type rotary bases.
    Gemma3,
    /// BLOOM / BLOOMZ: ALiBi attention biases, LayerNorms, a plain GELU MLP.
    Bloom,
    /// XGLM: sinusoidal positions, scaled embeddings, pre-LayerNorm, GELU MLP.
    Xglm,
    /// Cohere (Command-R, Aya-23): attention and MLP in parallel from one
    /// bias-free LayerNorm, interleaved rotary pairs, scaled logits.
    Cohere,
}

/// Llama 3's rotary scaling: low frequencies divided by `factor`, high ones
/// kept, the band between interpolated.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub(crate) struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

impl Llama3Scaling {
    /// The scaled inverse frequency, as transformers' `_compute_llama3_parameters`.
    pub(crate) fn apply(&self, frequency: f64) -> f64 {
        let low_wavelength = self.original_max_position_embeddings / self.low_freq_factor;
        let high_wavelength = self.original_max_position_embeddings / self.high_freq_factor;
        let wavelength = 2.0 * std::f64::consts::PI / frequency;
        if wavelength < high_wavelength {
            return frequency;
        }
        if wavelength > low_wavelength {
            return frequency / self.factor;
        }
        let smooth = (self.original_max_position_embeddings / wavelength - self.low_freq_factor)
            / (self.high_freq_factor - self.low_freq_factor);
        (1.0 - smooth) * frequency / self.factor + smooth * frequency
    }
}

impl Family {
    /// The Gemma generations share scaled embeddings, `1 + w` norms and tanh-GELU.
    pub(crate) fn is_gemma(self) -> bool {
        matches!(self, Family::Gemma | Family::Gemma2 | Family::Gemma3)
    }

    /// Norms after attention and after the MLP as well as before (Gemma 2, 3).
    pub(crate) fn has_sandwich_norms(self) -> bool {
        matches!(self, Family::Gemma2 | Family::Gemma3)
    }
}

/// What the decoder stacks need from `config.json`.
#[derive(Debug, Clone)]
pub(crate) struct DecoderConfig {
    pub family: Family,
    /// Width of the residual stream.
    pub hidden: i64,
    /// MLP width.
    pub intermediate: i64,
    pub layers: usize,
    /// Query heads.
    pub heads: i64,
    /// Key/value heads.
    pub kv_heads: i64,
    pub head_dim: i64,
    pub vocab: i64,
    /// Longest sequence the model supports.
    pub max_positions: usize,
    /// Norm epsilon.
    pub eps: f64,
    /// Rotary base of global layers.
    pub rope_theta: f64,
    /// Rotary base of sliding-window layers (Gemma 3).
    pub rope_local_theta: f64,
    /// Llama 3.1's frequency-dependent rotary scaling (`rope_type = "llama3"`).
    pub rope_scaling: Option<Llama3Scaling>,
    /// Sliding window per layer (`None`: global attention).
    pub windows: Vec<Option<i64>>,
    /// Attention logit scale.
    pub attention_scale: f64,
    /// Whether Q/K/V projections have biases.
    pub qkv_bias: bool,
    /// Whether the output projection shares the embedding matrix.
    pub tied: bool,
    /// `tanh` soft cap on final logits, if any.
    pub final_softcap: Option<f64>,
    /// `tanh` soft cap on attention logits, if any (Gemma 2).
    pub attention_softcap: Option<f64>,
    /// Factor on token embeddings (XGLM's √d; Gemma computes its own).
    pub embedding_scale: Option<f64>,
    /// Factor on output logits (Cohere's `logit_scale`).
    pub logit_scale: Option<f64>,
    /// End-of-sequence token ids.
    pub eos: Vec<i64>,
}

/// `config.json` by `model_type`.
#[derive(Deserialize)]
#[serde(tag = "model_type")]
enum ConfigFile {
    #[serde(rename = "llama")]
    Llama(RotaryFile),
    #[serde(rename = "mistral")]
    Mistral(RotaryFile),
    #[serde(rename = "qwen2")]
    Qwen2(RotaryFile),
    #[serde(rename = "gemma")]
    Gemma(RotaryFile),
    #[serde(rename = "gemma2")]
    Gemma2(RotaryFile),
    #[serde(rename = "gemma3_text")]
    Gemma3Text(RotaryFile),
    #[serde(rename = "bloom")]
    Bloom(BloomFile),
    #[serde(rename = "xglm")]
    Xglm(XglmFile),
    #[serde(rename = "cohere")]
    Cohere(RotaryFile),
}

/// XGLM.
#[derive(Deserialize)]
struct XglmFile {
    d_model: i64,
    ffn_dim: i64,
    num_layers: usize,
    attention_heads: i64,
    vocab_size: i64,
    max_position_embeddings: usize,
    scale_embedding: Option<bool>,
    activation_function: Option<String>,
    eos_token_id: Option<i64>,
}

impl XglmFile {
    fn into_config(self) -> Result<DecoderConfig, String> {
        let activation = self.activation_function.as_deref().unwrap_or("gelu");
        if activation != "gelu" {
            return Err(format!(
                "XGLM activation `{activation}` is not supported (gelu)"
            ));
        }
        let (hidden, heads) = (self.d_model, self.attention_heads);
        let head_dim = hidden / heads.max(1);
        Ok(DecoderConfig {
            family: Family::Xglm,
            hidden,
            intermediate: self.ffn_dim,
            layers: self.num_layers,
            heads,
            kv_heads: heads,
            head_dim,
            vocab: self.vocab_size,
            max_positions: self.max_position_embeddings,
            eps: 1e-5,
            rope_theta: 0.0,
            rope_local_theta: 0.0,
            rope_scaling: None,
            windows: vec![None; self.num_layers],
            attention_scale: (head_dim as f64).powf(-0.5),
            qkv_bias: true,
            tied: true,
            final_softcap: None,
            attention_softcap: None,
            embedding_scale: self
                .scale_embedding
                .unwrap_or(true)
                .then(|| (hidden as f64).sqrt()),
            logit_scale: None,
            eos: self.eos_token_id.into_iter().collect(),
        })
    }
}

/// The activation function a config names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HiddenAct {
    Silu,
    GeluPytorchTanh,
    Gelu,
    GeluNew,
    Relu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LayerType {
    SlidingAttention,
    FullAttention,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(i64),
    Many(Vec<i64>),
}

/// One rotary parameter set (`rope_scaling`, or transformers 5's `rope_parameters`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct RopeParams {
    rope_theta: Option<f64>,
    rope_type: Option<String>,
    #[serde(rename = "type")]
    legacy_type: Option<String>,
    factor: Option<f64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<f64>,
}

impl RopeParams {
    fn kind(&self) -> Option<&str> {
        self.rope_type.as_deref().or(self.legacy_type.as_deref())
    }

    /// Llama 3's scaling, if these parameters are of that type.
    fn llama3(&self) -> Result<Option<Llama3Scaling>, String> {
        if self.kind() != Some("llama3") {
            return Ok(None);
        }
        let field = |value: Option<f64>, name: &str| {
            value.ok_or_else(|| format!("`llama3` rotary scaling needs `{name}`"))
        };
        Ok(Some(Llama3Scaling {
            factor: field(self.factor, "factor")?,
            low_freq_factor: field(self.low_freq_factor, "low_freq_factor")?,
            high_freq_factor: field(self.high_freq_factor, "high_freq_factor")?,
            original_max_position_embeddings: field(
                self.original_max_position_embeddings,
                "original_max_position_embeddings",
            )?,
        }))
    }
}

/// transformers 5: one parameter set, or one per layer type.
#[derive(Deserialize)]
#[serde(untagged)]
enum RopeParameters {
    PerLayerType {
        full_attention: RopeParams,
        sliding_attention: Option<RopeParams>,
    },
    Shared(RopeParams),
}

/// Llama, Qwen2 and Gemma 3 (transformers 4 and 5 layouts).
#[derive(Deserialize)]
struct RotaryFile {
    hidden_size: i64,
    intermediate_size: i64,
    num_hidden_layers: usize,
    num_attention_heads: i64,
    num_key_value_heads: Option<i64>,
    head_dim: Option<i64>,
    vocab_size: i64,
    max_position_embeddings: usize,
    rms_norm_eps: Option<f64>,
    layer_norm_eps: Option<f64>,
    logit_scale: Option<f64>,
    use_qk_norm: Option<bool>,
    hidden_act: Option<HiddenAct>,
    hidden_activation: Option<HiddenAct>,
    rope_theta: Option<f64>,
    rope_local_base_freq: Option<f64>,
    rope_scaling: Option<RopeParams>,
    rope_parameters: Option<RopeParameters>,
    sliding_window: Option<i64>,
    layer_types: Option<Vec<LayerType>>,
    query_pre_attn_scalar: Option<f64>,
    attn_logit_softcapping: Option<f64>,
    final_logit_softcapping: Option<f64>,
    attention_bias: Option<bool>,
    tie_word_embeddings: Option<bool>,
    eos_token_id: Option<OneOrMany>,
}

/// BLOOM / BLOOMZ.
#[derive(Deserialize)]
struct BloomFile {
    #[serde(alias = "n_embed")]
    hidden_size: i64,
    #[serde(alias = "num_attention_heads")]
    n_head: i64,
    #[serde(alias = "num_hidden_layers")]
    n_layer: usize,
    vocab_size: i64,
    seq_length: Option<usize>,
    layer_norm_epsilon: Option<f64>,
    apply_residual_connection_post_layernorm: Option<bool>,
    eos_token_id: Option<i64>,
}

impl DecoderConfig {
    /// Reads a Hugging Face `config.json`.
    pub(crate) fn read(path: &Path) -> Result<Self, TorchError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TorchError::model(path, e.to_string()))?;
        let file: ConfigFile = serde_json::from_str(&text).map_err(|e| {
            TorchError::model(
                path,
                format!(
                    "{e} (supported model_type: llama, mistral, qwen2, gemma, gemma2, gemma3_text, cohere, bloom, xglm)"
                ),
            )
        })?;
        let config = match file {
            ConfigFile::Llama(c) => c.into_config(Family::Llama),
            ConfigFile::Mistral(c) => {
                let window = c.sliding_window;
                c.into_config(Family::Llama).map(|config| DecoderConfig {
                    windows: vec![window; config.layers],
                    ..config
                })
            }
            ConfigFile::Qwen2(c) => c.into_config(Family::Qwen2),
            ConfigFile::Gemma(c) => c.into_config(Family::Gemma),
            ConfigFile::Gemma2(c) => c.into_config(Family::Gemma2),
            ConfigFile::Gemma3Text(c) => c.into_config(Family::Gemma3),
            ConfigFile::Bloom(c) => c.into_config(),
            ConfigFile::Xglm(c) => c.into_config(),
            ConfigFile::Cohere(c) => c.into_config(Family::Cohere),
        };
        config.map_err(|message| TorchError::model(path, message))
    }
}

impl RotaryFile {
    fn into_config(self, family: Family) -> Result<DecoderConfig, String> {
        let head_dim = self
            .head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1));
        let activation = self
            .hidden_activation
            .or(self.hidden_act)
            .unwrap_or(HiddenAct::Silu);
        // Gemma 1 configs say `gelu`; transformers runs the tanh approximation.
        let supported = match family {
            Family::Gemma => matches!(activation, HiddenAct::GeluPytorchTanh | HiddenAct::Gelu),
            f if f.is_gemma() => activation == HiddenAct::GeluPytorchTanh,
            _ => activation == HiddenAct::Silu,
        };
        if !supported {
            return Err(format!(
                "activation {activation:?} is not supported for {family:?}"
            ));
        }
        if self.use_qk_norm == Some(true) {
            return Err("Cohere's `use_qk_norm` (Command R+) is not supported".into());
        }
        if self.attn_logit_softcapping.is_some() && family != Family::Gemma2 {
            return Err(format!(
                "attention logit soft-capping is not supported for {family:?}"
            ));
        }
        let (rope_theta, rope_local_theta) = self.rope_bases()?;
        let rope_scaling = self.rope_scaling()?;
        let windows = match family {
            Family::Gemma2 | Family::Gemma3 => self.sliding_windows(family)?,
            _ => vec![None; self.num_hidden_layers],
        };
        let attention_scale = match family {
            Family::Gemma2 | Family::Gemma3 => self
                .query_pre_attn_scalar
                .unwrap_or(head_dim as f64)
                .powf(-0.5),
            _ => (head_dim as f64).powf(-0.5),
        };
        let eos = match self.eos_token_id {
            Some(OneOrMany::One(id)) => vec![id],
            Some(OneOrMany::Many(ids)) => ids,
            None => Vec::new(),
        };
        Ok(DecoderConfig {
            family,
            hidden: self.hidden_size,
            intermediate: self.intermediate_size,
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            head_dim,
            vocab: self.vocab_size,
            max_positions: self.max_position_embeddings,
            eps: self.rms_norm_eps.or(self.layer_norm_eps).unwrap_or(1e-6),
            rope_theta,
            rope_local_theta,
            rope_scaling,
            windows,
            attention_scale,
            qkv_bias: family == Family::Qwen2 || self.attention_bias.unwrap_or(false),
            tied: self
                .tie_word_embeddings
                .unwrap_or(family.is_gemma() || family == Family::Cohere),
            final_softcap: self.final_logit_softcapping,
            attention_softcap: self.attn_logit_softcapping,
            embedding_scale: None,
            logit_scale: self.logit_scale,
            eos,
        })
    }

    /// Llama 3's rotary scaling, from `rope_scaling` or a shared `rope_parameters`.
    fn rope_scaling(&self) -> Result<Option<Llama3Scaling>, String> {
        match (&self.rope_scaling, &self.rope_parameters) {
            (Some(params), _) | (None, Some(RopeParameters::Shared(params))) => params.llama3(),
            _ => Ok(None),
        }
    }

    /// `(global, local)` rotary bases; scaled rotary variants other than
    /// Llama 3's are refused.
    fn rope_bases(&self) -> Result<(f64, f64), String> {
        let check = |p: &RopeParams| match p.kind() {
            None | Some("default") | Some("llama3") => Ok(()),
            Some(other) => Err(format!(
                "rotary scaling `{other}` is not supported (supported: default, llama3)"
            )),
        };
        if let Some(scaling) = &self.rope_scaling {
            check(scaling)?;
        }
        let (global, local) = match &self.rope_parameters {
            Some(RopeParameters::PerLayerType {
                full_attention,
                sliding_attention,
            }) => (Some(full_attention), sliding_attention.as_ref()),
            Some(RopeParameters::Shared(params)) => (Some(params), Some(params)),
            None => (None, None),
        };
        for params in [global, local].into_iter().flatten() {
            check(params)?;
        }
        let theta = global
            .and_then(|p| p.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(10_000.0);
        let local_theta = local
            .filter(|&l| Some(l) != global)
            .and_then(|p| p.rope_theta)
            .or(self.rope_local_base_freq)
            .unwrap_or(theta);
        Ok((theta, local_theta))
    }

    /// Per-layer windows from `layer_types`, or the family's pattern (Gemma 2:
    /// sliding and global alternate, sliding first; Gemma 3: five sliding, one global).
    fn sliding_windows(&self, family: Family) -> Result<Vec<Option<i64>>, String> {
        let period = match family {
            Family::Gemma2 => 2,
            _ => 6,
        };
        let window = self
            .sliding_window
            .ok_or("missing integer `sliding_window`")?;
        let layers = self.num_hidden_layers;
        let types = match &self.layer_types {
            Some(types) if types.len() != layers => {
                return Err(format!("{} layer_types for {layers} layers", types.len()));
            }
            Some(types) => types.clone(),
            None => (0..layers)
                .map(|i| match (i + 1) % period {
                    0 => LayerType::FullAttention,
                    _ => LayerType::SlidingAttention,
                })
                .collect(),
        };
        Ok(types
            .iter()
            .map(|t| (*t == LayerType::SlidingAttention).then_some(window))
            .collect())
    }
}

impl BloomFile {
    fn into_config(self) -> Result<DecoderConfig, String> {
        if self.apply_residual_connection_post_layernorm == Some(true) {
            return Err("apply_residual_connection_post_layernorm is not supported".into());
        }
        let (hidden, heads) = (self.hidden_size, self.n_head);
        Ok(DecoderConfig {
            family: Family::Bloom,
            hidden,
            intermediate: 4 * hidden,
            layers: self.n_layer,
            heads,
            kv_heads: heads,
            head_dim: hidden / heads.max(1),
            vocab: self.vocab_size,
            max_positions: self.seq_length.unwrap_or(2048),
            eps: self.layer_norm_epsilon.unwrap_or(1e-5),
            rope_theta: 0.0,
            rope_local_theta: 0.0,
            rope_scaling: None,
            windows: vec![None; self.n_layer],
            attention_scale: (hidden as f64 / heads.max(1) as f64).powf(-0.5),
            qkv_bias: true,
            tied: true,
            final_softcap: None,
            attention_softcap: None,
            embedding_scale: None,
            logit_scale: None,
            eos: self.eos_token_id.into_iter().collect(),
        })
    }
}
