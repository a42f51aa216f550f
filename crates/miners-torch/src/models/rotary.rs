//! Rotary decoders (Llama, SmolLM2, Qwen2, Gemma 3): one parametrised stack.
//!
//! Qwen2 adds Q/K/V biases; Gemma 3 adds scaled embeddings, `1 + w`
//! RMSNorms, per-head Q/K norms, sandwich norms around attention and MLP, a
//! tanh-GELU MLP and alternating sliding-window / global layers with their
//! own rotary bases.

use tch::{Kind, TchError, Tensor};

use crate::{
    TorchError,
    batch::Batch,
    config::{DecoderConfig, Family},
    layers::{
        Linear, NormWeight, RmsNorm, Rotary, embed_float, rotate, rotate_interleaved,
        vocabulary_logits,
    },
    placement::{OnDevice, PlacedLayers, Placement},
    weights::Weights,
};

struct Layer {
    input_norm: RmsNorm,
    qkv: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    output: Linear,
    post_attention_norm: Option<RmsNorm>,
    /// Absent in Cohere's parallel blocks.
    pre_mlp_norm: Option<RmsNorm>,
    gate_up: Linear,
    down: Linear,
    post_mlp_norm: Option<RmsNorm>,
    window: Option<i64>,
}

/// What every layer reads besides the hidden states, on one device: rotary
/// angles and attention masks, global and sliding-window.
struct LayerInputs {
    global: (Tensor, Tensor),
    local: Option<(Tensor, Tensor)>,
    attend: Tensor,
    attend_local: Option<Tensor>,
}

impl OnDevice for LayerInputs {
    fn on(&self, device: tch::Device) -> Result<Self, TchError> {
        Ok(Self {
            global: self.global.on(device)?,
            local: self.local.on(device)?,
            attend: self.attend.on(device)?,
            attend_local: self.attend_local.on(device)?,
        })
    }
}

impl LayerInputs {
    /// The angles and mask of a layer with sliding window `window`.
    fn for_layer(&self, window: Option<i64>) -> (&(Tensor, Tensor), &Tensor) {
        match (window, &self.local, &self.attend_local) {
            (Some(_), Some(local), Some(mask)) => (local, mask),
            _ => (&self.global, &self.attend),
        }
    }
}

/// Keys and values of every layer for the tokens of one sequence seen so far,
/// so that decoding a token costs one token's forward pass.
#[derive(Default)]
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    length: i64,
}

impl KvCache {
    /// Tokens cached.
    pub(crate) fn len(&self) -> i64 {
        self.length
    }
}

/// The rotary families (Llama, Qwen2, Gemma 3).
pub(crate) struct RotaryDecoder {
    pub(crate) config: DecoderConfig,
    pub(crate) embedding: Tensor,
    lm_head: Option<Tensor>,
    layers: PlacedLayers<Layer>,
    norm: RmsNorm,
    global_rotary: Rotary,
    local_rotary: Rotary,
}

impl RotaryDecoder {
    /// Loads the decoder, its layers where `placement` puts them and the
    /// rest (embedding, final norm, output matrix) on the first device.
    pub(crate) fn load(
        w: &Weights,
        config: DecoderConfig,
        placement: &Placement,
    ) -> Result<Self, TorchError> {
        let device = w.device();
        let (h, kv) = (config.hidden, config.kv_heads * config.head_dim);
        let q = config.heads * config.head_dim;
        let layers = placement.load_layers(w, 0..config.layers, |w, i| {
            Layer::load(w, &format!("model.layers.{i}"), &config, (h, q, kv), i)
        })?;
        let embedding = w.take("model.embed_tokens.weight", &[config.vocab, h])?;
        let scaling = config.rope_scaling;
        let llama3 = move |f: f64| scaling.map_or(f, |s| s.apply(f));
        let scale: Option<&dyn Fn(f64) -> f64> = scaling.is_some().then_some(&llama3);
        let lm_head = (!config.tied)
            .then(|| w.take("lm_head.weight", &[config.vocab, h]))
            .transpose()?;
        let norm = RmsNorm::load(w, "model.norm", h, config.eps, norm_weight(&config))?;
        Ok(Self {
            norm: match config.family {
                Family::Cohere => norm.centered(),
                _ => norm,
            },
            global_rotary: Rotary::new(config.rope_theta, config.head_dim, scale, device)?,
            local_rotary: Rotary::new(config.rope_local_theta, config.head_dim, scale, device)?,
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

    fn embed(&self, ids: &Tensor) -> Result<Tensor, TchError> {
        let x = embed_float(&self.embedding, ids)?;
        if !self.config.family.is_gemma() {
            return Ok(x);
        }
        let scale = Tensor::from((self.config.hidden as f64).sqrt() as f32);
        x.f_mul(&scale.f_to_device(x.device())?)
    }

    /// The final-norm hidden state `[1, hidden]` of the last of `ids`, which
    /// follow the tokens in `cache` (one sequence); the cache takes them in.
    pub(crate) fn step(&self, ids: &[i64], cache: &mut KvCache) -> Result<Tensor, TchError> {
        let device = self.embedding.device();
        let (past, n) = (cache.length, ids.len() as i64);
        cache.layers.resize_with(self.layers.len(), || None);
        let x = self.embed(
            &Tensor::f_from_slice(ids)?
                .f_to_device(device)?
                .f_unsqueeze(0)?,
        )?;
        let positions =
            Tensor::f_arange_start(past, past + n, (Kind::Int64, device))?.f_unsqueeze(0)?;
        let queries = positions.f_view([n, 1])?;
        let keys = Tensor::f_arange(past + n, (Kind::Int64, device))?.f_view([1, past + n])?;
        let causal = keys.f_le_tensor(&queries)?;
        let window = self.config.windows.iter().flatten().next().copied();
        let attend_local = match window {
            Some(window) => Some(causal.f_logical_and(&queries.f_sub(&keys)?.f_lt(window)?)?),
            None => None,
        };
        let shape = [1, 1, n, past + n];
        let inputs = LayerInputs {
            global: self.global_rotary.angles(&positions)?,
            local: window
                .map(|_| self.local_rotary.angles(&positions))
                .transpose()?,
            attend: causal.f_view(shape)?,
            attend_local: attend_local.map(|m| m.f_view(shape)).transpose()?,
        };
        let x = self.layers_forward(x, inputs, Some(&mut cache.layers))?;
        cache.length += n;
        self.norm.forward(&x)?.f_select(1, n - 1)
    }

    pub(crate) fn hidden_states(&self, batch: &Batch) -> Result<Tensor, TchError> {
        let x = self.embed(&batch.ids)?;
        let inputs = LayerInputs {
            global: self.global_rotary.angles(&batch.positions)?,
            local: match self.has_sliding_layers() {
                true => Some(self.local_rotary.angles(&batch.positions)?),
                false => None,
            },
            attend: batch.attend.shallow_clone(),
            attend_local: batch.attend_local.as_ref().map(Tensor::shallow_clone),
        };
        let x = self.layers_forward(x, inputs, None)?;
        self.norm.forward(&x)
    }

    /// Every layer in turn, each on its device (see [`PlacedLayers::forward`]),
    /// with the keys and values of earlier tokens from `caches` if given.
    fn layers_forward(
        &self,
        x: Tensor,
        inputs: LayerInputs,
        mut caches: Option<&mut Vec<Option<(Tensor, Tensor)>>>,
    ) -> Result<Tensor, TchError> {
        self.layers.forward(x, inputs, |i, layer, x, inputs| {
            let (rope, attend) = inputs.for_layer(layer.window);
            let cache = caches.as_mut().map(|caches| &mut caches[i]);
            self.layer_forward(layer, x, rope, attend, cache)
        })
    }

    pub(crate) fn log_probs(&self, hidden: &Tensor) -> Result<Tensor, TchError> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embedding);
        let mut logits = vocabulary_logits(hidden, head)?;
        if let Some(scale) = self.config.logit_scale {
            logits = logits.f_mul_scalar(scale)?;
        }
        if let Some(cap) = self.config.final_softcap {
            logits = logits.f_div_scalar(cap)?.f_tanh()?.f_mul_scalar(cap)?;
        }
        logits.f_log_softmax(-1, Kind::Float)
    }

    /// One layer; with `cache`, keys and values of earlier tokens come from it
    /// and this call's are appended.
    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        angles: &(Tensor, Tensor),
        attend: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
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
        let turn = match c.family {
            Family::Cohere => rotate_interleaved,
            _ => rotate,
        };
        let q = turn(&q, angles)?;
        let mut k = turn(&k, angles)?;
        let mut v = v;
        if let Some(cache) = cache {
            if let Some((past_k, past_v)) = cache.as_ref() {
                k = Tensor::f_cat(&[past_k, &k], 2)?;
                v = Tensor::f_cat(&[past_v, &v], 2)?;
            }
            *cache = Some((k.shallow_clone(), v.shallow_clone()));
        }
        let context = attention(&q, &k, &v, attend, c)?
            .f_transpose(1, 2)?
            .f_reshape([batch, length, q_width])?;
        let mut attention = layer.output.forward(&context)?;
        if let Some(norm) = &layer.post_attention_norm {
            attention = norm.forward(&attention)?;
        }
        // Cohere runs the MLP beside attention, on the same normed input.
        let (x, mlp_input) = match c.family {
            Family::Cohere => (x.shallow_clone(), normed),
            _ => {
                let x = x.f_add(&attention)?;
                let input = layer
                    .pre_mlp_norm
                    .as_ref()
                    .map_or(Ok(x.shallow_clone()), |n| n.forward(&x))?;
                (x, input)
            }
        };
        let gate_up = layer.gate_up.forward(&mlp_input)?.f_chunk(2, -1)?;
        let gate = match c.family {
            f if f.is_gemma() => gate_up[0].f_gelu("tanh")?,
            _ => gate_up[0].f_silu()?,
        };
        let mut mlp = layer.down.forward(&gate.f_mul(&gate_up[1])?)?;
        if let Some(norm) = &layer.post_mlp_norm {
            mlp = norm.forward(&mlp)?;
        }
        match c.family {
            Family::Cohere => x.f_add(&attention)?.f_add(&mlp),
            _ => x.f_add(&mlp),
        }
    }
}

impl Layer {
    fn load(
        w: &Weights,
        p: &str,
        c: &DecoderConfig,
        (h, q, kv): (i64, i64, i64),
        index: usize,
    ) -> Result<Self, TorchError> {
        let linear = |name: &str, inputs: i64, outputs: i64, bias: bool| {
            Linear::load(w, &format!("{p}.{name}"), inputs, outputs, bias)
        };
        let norm = |name: &str, width: i64| {
            let norm = RmsNorm::load(w, &format!("{p}.{name}"), width, c.eps, norm_weight(c))?;
            Ok::<_, TorchError>(match c.family {
                Family::Cohere => norm.centered(),
                _ => norm,
            })
        };
        let sandwich = c.family.has_sandwich_norms();
        let optional_norm =
            |name: &str, width: i64, present: bool| present.then(|| norm(name, width)).transpose();
        let qk_norms = c.family == Family::Gemma3;
        let qkv = Linear::stack(&[
            linear("self_attn.q_proj", h, q, c.qkv_bias)?,
            linear("self_attn.k_proj", h, kv, c.qkv_bias)?,
            linear("self_attn.v_proj", h, kv, c.qkv_bias)?,
        ])?;
        let gate_up = Linear::stack(&[
            linear("mlp.gate_proj", h, c.intermediate, false)?,
            linear("mlp.up_proj", h, c.intermediate, false)?,
        ])?;
        Ok(Self {
            input_norm: norm("input_layernorm", h)?,
            qkv,
            q_norm: optional_norm("self_attn.q_norm", c.head_dim, qk_norms)?,
            k_norm: optional_norm("self_attn.k_norm", c.head_dim, qk_norms)?,
            output: linear("self_attn.o_proj", q, h, false)?,
            post_attention_norm: optional_norm("post_attention_layernorm", h, sandwich)?,
            pre_mlp_norm: match (c.family, sandwich) {
                (Family::Cohere, _) => None,
                (_, true) => Some(norm("pre_feedforward_layernorm", h)?),
                (_, false) => Some(norm("post_attention_layernorm", h)?),
            },
            gate_up,
            down: linear("mlp.down_proj", c.intermediate, h, false)?,
            post_mlp_norm: optional_norm("post_feedforward_layernorm", h, sandwich)?,
            window: c.windows[index],
        })
    }
}

/// Scaled dot-product attention; with Gemma 2's soft cap the logits go
/// through `cap · tanh(logits / cap)` before the mask and softmax.
fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    attend: &Tensor,
    c: &DecoderConfig,
) -> Result<Tensor, TchError> {
    let Some(cap) = c.attention_softcap else {
        return Tensor::f_scaled_dot_product_attention(
            q,
            k,
            v,
            Some(attend),
            0.0,
            false,
            c.attention_scale,
            c.kv_heads != c.heads,
        );
    };
    let groups = c.heads / c.kv_heads.max(1);
    let k = k.f_repeat_interleave_self_int(groups, 1, None)?;
    let v = v.f_repeat_interleave_self_int(groups, 1, None)?;
    let logits = q
        .f_matmul(&k.f_transpose(-2, -1)?)?
        .f_mul_scalar(c.attention_scale)?
        .f_div_scalar(cap)?
        .f_tanh()?
        .f_mul_scalar(cap)?
        .f_masked_fill(&attend.f_logical_not()?, f64::NEG_INFINITY)?;
    logits.f_softmax(-1, Kind::Float)?.f_matmul(&v)
}

/// Gemma stores RMSNorm weights as `w` for a `1 + w` scale.
fn norm_weight(config: &DecoderConfig) -> NormWeight {
    match config.family {
        f if f.is_gemma() => NormWeight::OnePlus,
        _ => NormWeight::Plain,
    }
}
