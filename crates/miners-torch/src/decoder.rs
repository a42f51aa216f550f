//! Decoder-only language models (Llama, SmolLM2, Qwen2, Gemma 3) on libtorch.
//!
//! One parametrised stack covers the families: Qwen2 adds Q/K/V biases;
//! Gemma 3 adds scaled embeddings, `1 + w` RMSNorms, per-head Q/K norms,
//! sandwich norms around attention and MLP, a tanh-GELU MLP and alternating
//! sliding-window / global layers with their own rotary bases.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tch::{Kind, TchError, Tensor};

use crate::{model::Linear, weights::Weights};

/// A failure to load a decoder: the file and what is wrong.
#[derive(Debug)]
pub struct LoadError {
    /// The file involved.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

fn load_error(path: &Path, message: impl Into<String>) -> LoadError {
    LoadError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The family-specific switches of the decoder stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Llama, SmolLM2 (optionally with attention biases).
    Llama,
    /// Qwen2 / Qwen2.5: Q/K/V biases.
    Qwen2,
    /// Gemma 3 text models.
    Gemma3,
    /// BLOOM / BLOOMZ: ALiBi attention biases, LayerNorms, a plain GELU MLP.
    Bloom,
}

/// What the stack needs from `config.json`.
#[derive(Debug, Clone)]
pub struct DecoderConfig {
    /// Model family.
    pub family: Family,
    /// Width of the residual stream.
    pub hidden: i64,
    /// MLP width.
    pub intermediate: i64,
    /// Number of layers.
    pub layers: usize,
    /// Query heads.
    pub heads: i64,
    /// Key/value heads.
    pub kv_heads: i64,
    /// Width of one head.
    pub head_dim: i64,
    /// Vocabulary size.
    pub vocab: i64,
    /// Longest sequence the model supports.
    pub max_positions: usize,
    /// RMSNorm epsilon.
    pub eps: f64,
    /// Rotary base of global layers.
    pub rope_theta: f64,
    /// Rotary base of sliding-window layers (Gemma 3).
    pub rope_local_theta: f64,
    /// Sliding window per layer (`None`: global attention).
    pub windows: Vec<Option<i64>>,
    /// Attention logit scale.
    pub attention_scale: f64,
    /// Whether Q/K/V projections have biases.
    pub qkv_bias: bool,
    /// Whether the output projection shares the embedding matrix.
    pub tied: bool,
    /// `tanh` soft cap on final logits (Gemma 2 style), if any.
    pub final_softcap: Option<f64>,
    /// End-of-sequence token ids.
    pub eos: Vec<i64>,
}

impl DecoderConfig {
    /// Reads a Hugging Face `config.json` (transformers 4 or 5 layout).
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| load_error(path, e.to_string()))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| load_error(path, format!("not JSON: {e}")))?;
        Self::from_json(&json).map_err(|message| load_error(path, message))
    }

    fn from_json(c: &Value) -> Result<Self, String> {
        if c["model_type"] == "bloom" {
            return Self::bloom(c);
        }
        let int = |key: &str| {
            c[key]
                .as_i64()
                .ok_or_else(|| format!("missing integer `{key}`"))
        };
        let model_type = c["model_type"].as_str().unwrap_or_default();
        let family = match model_type {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "gemma3_text" => Family::Gemma3,
            other => {
                return Err(format!(
                    "model_type `{other}` is not supported (llama, qwen2, gemma3_text)"
                ));
            }
        };
        let hidden = int("hidden_size")?;
        let heads = int("num_attention_heads")?;
        let head_dim = c["head_dim"].as_i64().unwrap_or(hidden / heads.max(1));
        let layers = int("num_hidden_layers")? as usize;
        let activation = c["hidden_activation"]
            .as_str()
            .or(c["hidden_act"].as_str())
            .unwrap_or("silu");
        let expected_activation = match family {
            Family::Gemma3 => "gelu_pytorch_tanh",
            _ => "silu",
        };
        if activation != expected_activation {
            return Err(format!(
                "activation `{activation}` is not supported for {model_type}"
            ));
        }
        let (rope_theta, rope_local_theta) = rope_bases(c)?;
        let windows = match family {
            Family::Gemma3 => sliding_windows(c, layers)?,
            _ => vec![None; layers],
        };
        let attention_scale = match family {
            Family::Gemma3 => c["query_pre_attn_scalar"]
                .as_f64()
                .unwrap_or(head_dim as f64)
                .powf(-0.5),
            _ => (head_dim as f64).powf(-0.5),
        };
        if c["attn_logit_softcapping"].as_f64().is_some() {
            return Err("attention logit soft-capping is not supported".into());
        }
        let eos = match &c["eos_token_id"] {
            Value::Array(ids) => ids.iter().filter_map(Value::as_i64).collect(),
            id => id.as_i64().into_iter().collect(),
        };
        Ok(Self {
            family,
            hidden,
            intermediate: int("intermediate_size")?,
            layers,
            heads,
            kv_heads: c["num_key_value_heads"].as_i64().unwrap_or(heads),
            head_dim,
            vocab: int("vocab_size")?,
            max_positions: int("max_position_embeddings")? as usize,
            eps: c["rms_norm_eps"].as_f64().unwrap_or(1e-6),
            rope_theta,
            rope_local_theta,
            windows,
            attention_scale,
            qkv_bias: family == Family::Qwen2 || c["attention_bias"].as_bool().unwrap_or(false),
            tied: c["tie_word_embeddings"]
                .as_bool()
                .unwrap_or(family == Family::Gemma3),
            final_softcap: c["final_logit_softcapping"].as_f64(),
            eos,
        })
    }
}

impl DecoderConfig {
    fn bloom(c: &Value) -> Result<Self, String> {
        let int = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| c[*k].as_i64())
                .ok_or_else(|| format!("missing integer `{}`", keys[0]))
        };
        let hidden = int(&["hidden_size", "n_embed"])?;
        let heads = int(&["n_head", "num_attention_heads"])?;
        let layers = int(&["n_layer", "num_hidden_layers"])? as usize;
        if c["apply_residual_connection_post_layernorm"].as_bool() == Some(true) {
            return Err("apply_residual_connection_post_layernorm is not supported".into());
        }
        Ok(Self {
            family: Family::Bloom,
            hidden,
            intermediate: 4 * hidden,
            layers,
            heads,
            kv_heads: heads,
            head_dim: hidden / heads.max(1),
            vocab: int(&["vocab_size"])?,
            max_positions: c["seq_length"].as_i64().unwrap_or(2048) as usize,
            eps: c["layer_norm_epsilon"].as_f64().unwrap_or(1e-5),
            rope_theta: 0.0,
            rope_local_theta: 0.0,
            windows: vec![None; layers],
            attention_scale: (hidden as f64 / heads.max(1) as f64).powf(-0.5),
            qkv_bias: true,
            tied: true,
            final_softcap: None,
            eos: c["eos_token_id"].as_i64().into_iter().collect(),
        })
    }
}

/// `(global, local)` rotary bases from `rope_theta` / `rope_local_base_freq`
/// or transformers 5's `rope_parameters`; scaled rotary variants are refused.
fn rope_bases(c: &Value) -> Result<(f64, f64), String> {
    let check = |p: &Value| match p["rope_type"].as_str().or(p["type"].as_str()) {
        None | Some("default") => Ok(()),
        Some(other) => Err(format!("rotary scaling `{other}` is not supported")),
    };
    if !c["rope_scaling"].is_null() {
        check(&c["rope_scaling"])?;
    }
    let params = &c["rope_parameters"];
    let (global, local) = if params["full_attention"].is_object() {
        (&params["full_attention"], &params["sliding_attention"])
    } else {
        (params, params)
    };
    for p in [global, local] {
        if p.is_object() {
            check(p)?;
        }
    }
    let theta = global["rope_theta"]
        .as_f64()
        .or(c["rope_theta"].as_f64())
        .unwrap_or(10_000.0);
    let local_theta = local["rope_theta"]
        .as_f64()
        .filter(|_| local != global)
        .or(c["rope_local_base_freq"].as_f64())
        .unwrap_or(theta);
    Ok((theta, local_theta))
}

/// Gemma 3's per-layer windows from `layer_types` (or the 5:1 pattern).
fn sliding_windows(c: &Value, layers: usize) -> Result<Vec<Option<i64>>, String> {
    let window = c["sliding_window"]
        .as_i64()
        .ok_or("missing integer `sliding_window`")?;
    let types: Vec<String> = match c["layer_types"].as_array() {
        Some(types) => types
            .iter()
            .map(|t| t.as_str().unwrap_or_default().to_owned())
            .collect(),
        None => (0..layers)
            .map(|i| {
                if (i + 1) % 6 == 0 {
                    "full_attention".into()
                } else {
                    "sliding_attention".into()
                }
            })
            .collect(),
    };
    if types.len() != layers {
        return Err(format!("{} layer_types for {layers} layers", types.len()));
    }
    types
        .iter()
        .map(|t| match t.as_str() {
            "sliding_attention" => Ok(Some(window)),
            "full_attention" => Ok(None),
            other => Err(format!("unknown layer type `{other}`")),
        })
        .collect()
}

/// Root-mean-square norm with its effective weight (`1 + w` folded in for Gemma).
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn load(
        w: &Weights,
        name: &str,
        width: i64,
        config: &DecoderConfig,
    ) -> Result<Self, LoadError> {
        let weight = take(w, &format!("{name}.weight"), &[width])?;
        let weight = match config.family {
            Family::Gemma3 => weight.f_add_scalar(1.0).map_err(|e| tch_error(name, e))?,
            _ => weight,
        };
        Ok(Self {
            weight,
            eps: config.eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, TchError> {
        let variance = x.f_square()?.f_mean_dim(-1, true, Kind::Float)?;
        x.f_mul(&variance.f_add_scalar(self.eps)?.f_rsqrt()?)?
            .f_mul(&self.weight)
    }
}

struct Layer {
    input_norm: RmsNorm,
    qkv: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    output: Linear,
    post_attention_norm: Option<RmsNorm>,
    pre_mlp_norm: RmsNorm,
    gate_up: Linear,
    down: Linear,
    post_mlp_norm: Option<RmsNorm>,
    window: Option<i64>,
}

/// A decoder-only transformer of any supported family.
pub enum Decoder {
    /// Llama, Qwen2, Gemma 3: RMSNorm, rotary positions, gated MLP.
    Rotary(RotaryDecoder),
    /// BLOOM: LayerNorm, ALiBi, plain MLP.
    Bloom(crate::bloom::Bloom),
}

impl Decoder {
    /// Loads `config.json` and `model.safetensors` from `dir` onto `device`.
    pub fn load(dir: &Path, device: tch::Device) -> Result<Self, LoadError> {
        let config = DecoderConfig::read(&dir.join("config.json"))?;
        let path = dir.join("model.safetensors");
        let weights = Weights::read(&path, device, Kind::Float)
            .map_err(|e| load_error(&path, e.to_string()))?;
        Ok(match config.family {
            Family::Bloom => Self::Bloom(crate::bloom::Bloom::load(&weights, config)?),
            _ => Self::Rotary(RotaryDecoder::load(&weights, config, device)?),
        })
    }

    /// The configuration read from `config.json`.
    pub fn config(&self) -> &DecoderConfig {
        match self {
            Self::Rotary(d) => &d.config,
            Self::Bloom(d) => d.config(),
        }
    }

    /// Final-norm hidden states `[batch, length, hidden]`.
    pub fn hidden_states(&self, batch: &Batch) -> Result<Tensor, TchError> {
        match self {
            Self::Rotary(d) => d.hidden_states(batch),
            Self::Bloom(d) => d.hidden_states(batch),
        }
    }

    /// Log-probabilities `[rows, vocab]` (float32) of the next token after `hidden` rows `[rows, hidden]`.
    pub fn log_probs(&self, hidden: &Tensor) -> Result<Tensor, TchError> {
        match self {
            Self::Rotary(d) => d.log_probs(hidden),
            Self::Bloom(d) => d.log_probs(hidden),
        }
    }
}

/// The rotary families (Llama, Qwen2, Gemma 3).
pub struct RotaryDecoder {
    config: DecoderConfig,
    embedding: Tensor,
    lm_head: Option<Tensor>,
    layers: Vec<Layer>,
    norm: RmsNorm,
    global_frequencies: Tensor,
    local_frequencies: Tensor,
}

/// Token ids, their rotary positions and which keys each query may attend.
pub struct Batch {
    /// `[batch, length]` token ids.
    pub ids: Tensor,
    /// `[batch, length]` rotary positions.
    pub positions: Tensor,
    /// `[batch, 1, length, length]` booleans: query row may attend key column.
    pub attend: Tensor,
    /// Like `attend`, restricted to sliding windows (only for models with sliding layers).
    pub attend_local: Option<Tensor>,
}

impl RotaryDecoder {
    fn load(w: &Weights, config: DecoderConfig, device: tch::Device) -> Result<Self, LoadError> {
        let (h, kv) = (config.hidden, config.kv_heads * config.head_dim);
        let q = config.heads * config.head_dim;
        let layers = (0..config.layers)
            .map(|i| Layer::load(w, &format!("model.layers.{i}"), &config, (h, q, kv), i))
            .collect::<Result<_, _>>()?;
        let embedding = take(w, "model.embed_tokens.weight", &[config.vocab, h])?;
        let lm_head = if config.tied {
            None
        } else {
            Some(take(w, "lm_head.weight", &[config.vocab, h])?)
        };
        let frequencies = |theta: f64| {
            inverse_frequencies(theta, config.head_dim, device).map_err(|e| tch_error("rope", e))
        };
        Ok(Self {
            norm: RmsNorm::load(w, "model.norm", h, &config)?,
            global_frequencies: frequencies(config.rope_theta)?,
            local_frequencies: frequencies(config.rope_local_theta)?,
            embedding,
            lm_head,
            layers,
            config,
        })
    }

    /// Whether any layer uses a sliding window.
    fn has_sliding_layers(&self) -> bool {
        self.config.windows.iter().any(Option::is_some)
    }

    fn hidden_states(&self, batch: &Batch) -> Result<Tensor, TchError> {
        let mut x = Tensor::f_embedding(&self.embedding, &batch.ids, -1, false, false)?;
        if self.config.family == Family::Gemma3 {
            let scale = Tensor::from((self.config.hidden as f64).sqrt() as f32);
            x = x.f_mul(&scale.f_to_device(x.device())?)?;
        }
        let rotary = |frequencies: &Tensor| -> Result<(Tensor, Tensor), TchError> {
            let angles = batch
                .positions
                .f_to_kind(Kind::Float)?
                .f_unsqueeze(-1)?
                .f_mul(frequencies)?;
            let angles = Tensor::f_cat(&[&angles, &angles], -1)?.f_unsqueeze(1)?;
            Ok((angles.f_cos()?, angles.f_sin()?))
        };
        let global = rotary(&self.global_frequencies)?;
        let local = if self.has_sliding_layers() {
            Some(rotary(&self.local_frequencies)?)
        } else {
            None
        };
        for layer in &self.layers {
            let (rope, attend) = match (layer.window, &local, &batch.attend_local) {
                (Some(_), Some(local), Some(mask)) => (local, mask),
                _ => (&global, &batch.attend),
            };
            x = self.layer_forward(layer, &x, rope, attend)?;
        }
        self.norm.forward(&x)
    }

    fn log_probs(&self, hidden: &Tensor) -> Result<Tensor, TchError> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embedding);
        let mut logits = hidden.f_matmul(&head.f_tr()?)?;
        if let Some(cap) = self.config.final_softcap {
            logits = logits.f_div_scalar(cap)?.f_tanh()?.f_mul_scalar(cap)?;
        }
        logits.f_log_softmax(-1, Kind::Float)
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        (cos, sin): &(Tensor, Tensor),
        attend: &Tensor,
    ) -> Result<Tensor, TchError> {
        let c = &self.config;
        let (batch, length, _) = x.size3()?;
        let normed = layer.input_norm.forward(x)?;
        let qkv = layer.qkv.forward(&normed)?;
        let q_width = c.heads * c.head_dim;
        let kv_width = c.kv_heads * c.head_dim;
        let parts = qkv.f_split_with_sizes([q_width, kv_width, kv_width], -1)?;
        let heads = |t: &Tensor, n: i64| -> Result<Tensor, TchError> {
            t.f_view([batch, length, n, c.head_dim])?.f_transpose(1, 2)
        };
        let mut q = heads(&parts[0], c.heads)?;
        let mut k = heads(&parts[1], c.kv_heads)?;
        let v = heads(&parts[2], c.kv_heads)?;
        if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
            q = qn.forward(&q)?;
            k = kn.forward(&k)?;
        }
        let q = rotate(&q, cos, sin)?;
        let k = rotate(&k, cos, sin)?;
        let context = Tensor::f_scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(attend),
            0.0,
            false,
            c.attention_scale,
            c.kv_heads != c.heads,
        )?
        .f_transpose(1, 2)?
        .f_reshape([batch, length, q_width])?;
        let mut attention = layer.output.forward(&context)?;
        if let Some(norm) = &layer.post_attention_norm {
            attention = norm.forward(&attention)?;
        }
        let x = x.f_add(&attention)?;
        let gate_up = layer
            .gate_up
            .forward(&layer.pre_mlp_norm.forward(&x)?)?
            .f_chunk(2, -1)?;
        let gate = match c.family {
            Family::Gemma3 => gate_up[0].f_gelu("tanh")?,
            _ => gate_up[0].f_silu()?,
        };
        let mut mlp = layer.down.forward(&gate.f_mul(&gate_up[1])?)?;
        if let Some(norm) = &layer.post_mlp_norm {
            mlp = norm.forward(&mlp)?;
        }
        x.f_add(&mlp)
    }
}

impl Layer {
    fn load(
        w: &Weights,
        p: &str,
        c: &DecoderConfig,
        (h, q, kv): (i64, i64, i64),
        index: usize,
    ) -> Result<Self, LoadError> {
        let linear = |name: &str, inputs: i64, outputs: i64, bias: bool| {
            Linear::load(w, &format!("{p}.{name}"), inputs, outputs, bias)
                .map_err(|e| load_error(Path::new("model.safetensors"), e.to_string()))
        };
        let norm = |name: &str, width: i64| RmsNorm::load(w, &format!("{p}.{name}"), width, c);
        let gemma = c.family == Family::Gemma3;
        let optional_norm = |name: &str, width: i64| gemma.then(|| norm(name, width)).transpose();
        let qkv = Linear::stack(&[
            linear("self_attn.q_proj", h, q, c.qkv_bias)?,
            linear("self_attn.k_proj", h, kv, c.qkv_bias)?,
            linear("self_attn.v_proj", h, kv, c.qkv_bias)?,
        ])
        .map_err(|e| tch_error(p, e))?;
        let gate_up = Linear::stack(&[
            linear("mlp.gate_proj", h, c.intermediate, false)?,
            linear("mlp.up_proj", h, c.intermediate, false)?,
        ])
        .map_err(|e| tch_error(p, e))?;
        Ok(Self {
            input_norm: norm("input_layernorm", h)?,
            qkv,
            q_norm: optional_norm("self_attn.q_norm", c.head_dim)?,
            k_norm: optional_norm("self_attn.k_norm", c.head_dim)?,
            output: linear("self_attn.o_proj", q, h, false)?,
            post_attention_norm: optional_norm("post_attention_layernorm", h)?,
            pre_mlp_norm: norm(
                if gemma {
                    "pre_feedforward_layernorm"
                } else {
                    "post_attention_layernorm"
                },
                h,
            )?,
            gate_up,
            down: linear("mlp.down_proj", c.intermediate, h, false)?,
            post_mlp_norm: optional_norm("post_feedforward_layernorm", h)?,
            window: c.windows[index],
        })
    }
}

/// `1 / θ^(2i/d)` for `i < d/2`, in float32 as transformers computes it.
fn inverse_frequencies(theta: f64, head_dim: i64, device: tch::Device) -> Result<Tensor, TchError> {
    let exponents = Tensor::f_arange_start_step(0, head_dim, 2, (Kind::Int64, device))?
        .f_to_kind(Kind::Float)?
        .f_div_scalar(head_dim as f64)?;
    Tensor::f_pow_scalar(theta, &exponents)?.f_reciprocal()
}

/// Rotary embedding in the rotate-half layout.
fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor, TchError> {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    let halves = x.f_split(half, -1)?;
    let rotated = Tensor::f_cat(&[&halves[1].f_neg()?, &halves[0]], -1)?;
    x.f_mul(cos)?.f_add(&rotated.f_mul(sin)?)
}

pub(crate) fn take(w: &Weights, name: &str, shape: &[i64]) -> Result<Tensor, LoadError> {
    w.take(name, shape)
        .map_err(|e| load_error(Path::new("model.safetensors"), e.to_string()))
}

pub(crate) fn tch_error(place: &str, e: TchError) -> LoadError {
    load_error(Path::new(place), e.to_string())
}
