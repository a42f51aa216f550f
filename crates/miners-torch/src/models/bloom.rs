//! BLOOM / BLOOMZ (the paper's multilingual generators): ALiBi attention
//! biases instead of positions, LayerNorms with biases, an embedding
//! LayerNorm, one fused query/key/value matrix laid out per head, and a plain
//! tanh-GELU MLP.

use tch::{Kind, TchError, Tensor};

use crate::{
    TorchError,
    batch::Batch,
    config::DecoderConfig,
    layers::{LayerNorm, Linear, embed_float, vocabulary_logits},
    placement::{PlacedLayers, Placement},
    weights::Weights,
};

struct Layer {
    input_norm: LayerNorm,
    qkv: Linear,
    dense: Linear,
    post_attention_norm: LayerNorm,
    up: Linear,
    down: Linear,
}

/// A BLOOM causal LM.
pub(crate) struct Bloom {
    pub(crate) config: DecoderConfig,
    pub(crate) embedding: Tensor,
    embedding_norm: LayerNorm,
    layers: PlacedLayers<Layer>,
    final_norm: LayerNorm,
    /// ALiBi slope per head, `[heads]`.
    slopes: Tensor,
}

impl Bloom {
    /// Loads the `transformer.*` tensors (prefix optional), the layers where
    /// `placement` puts them; the output matrix is the embedding.
    pub(crate) fn load(
        w: &Weights,
        config: DecoderConfig,
        placement: &Placement,
    ) -> Result<Self, TorchError> {
        let h = config.hidden;
        let eps = config.eps;
        let prefix = if w.has("transformer.word_embeddings.weight") {
            "transformer."
        } else {
            ""
        };
        let layer_norm =
            |w: &Weights, name: &str| LayerNorm::load(w, &format!("{prefix}{name}"), h, eps);
        let layers = placement.load_layers(w, 0..config.layers, |w, i| {
            let p = format!("{prefix}h.{i}");
            let linear = |name: &str, inputs: i64, outputs: i64| {
                Linear::load(w, &format!("{p}.{name}"), inputs, outputs, true)
            };
            Ok(Layer {
                input_norm: layer_norm(w, &format!("h.{i}.input_layernorm"))?,
                qkv: linear("self_attention.query_key_value", h, 3 * h)?,
                dense: linear("self_attention.dense", h, h)?,
                post_attention_norm: layer_norm(w, &format!("h.{i}.post_attention_layernorm"))?,
                up: linear("mlp.dense_h_to_4h", h, 4 * h)?,
                down: linear("mlp.dense_4h_to_h", 4 * h, h)?,
            })
        })?;
        let embedding = w.take(
            &format!("{prefix}word_embeddings.weight"),
            &[config.vocab, h],
        )?;
        let slopes =
            Tensor::from_slice(&alibi_slopes(config.heads as usize)).to_device(embedding.device());
        Ok(Self {
            embedding_norm: layer_norm(w, "word_embeddings_layernorm")?,
            final_norm: layer_norm(w, "ln_f")?,
            embedding,
            layers,
            slopes,
            config,
        })
    }

    pub(crate) fn hidden_states(&self, batch: &Batch) -> Result<Tensor, TchError> {
        let x = embed_float(&self.embedding, &batch.ids)?;
        let x = self.embedding_norm.forward(&x)?;
        // Bias of key k for every query of head h: slope_h · position_k,
        // masked keys at -inf ([batch, heads, length, length]).
        let (b, s) = batch.ids.size2()?;
        let key_bias = batch
            .positions
            .f_to_kind(Kind::Float)?
            .f_view([b, 1, 1, s])?
            .f_mul(&self.slopes.f_view([1, -1, 1, 1])?)?;
        let blocked = Tensor::f_full([1], f64::NEG_INFINITY, (Kind::Float, x.device()))?;
        let bias = key_bias
            .f_expand([b, self.config.heads, s, s], false)?
            .f_where_self(&batch.attend, &blocked)?;
        let x = self.layers.forward(x, bias, |_, layer, x, bias| {
            self.layer_forward(layer, x, bias)
        })?;
        self.final_norm.forward(&x)
    }

    pub(crate) fn log_probs(&self, hidden: &Tensor) -> Result<Tensor, TchError> {
        vocabulary_logits(hidden, &self.embedding)?.f_log_softmax(-1, Kind::Float)
    }

    fn layer_forward(&self, layer: &Layer, x: &Tensor, bias: &Tensor) -> Result<Tensor, TchError> {
        let c = &self.config;
        let (b, s, h) = x.size3()?;
        let normed = layer.input_norm.forward(x)?;
        // [b, s, heads, 3, head_dim] -> three [b, heads, s, head_dim].
        let qkv = layer
            .qkv
            .forward(&normed)?
            .f_view([b, s, c.heads, 3, c.head_dim])?
            .f_permute([3, 0, 2, 1, 4])?;
        let (q, k, v) = (qkv.f_get(0)?, qkv.f_get(1)?, qkv.f_get(2)?);
        let context = Tensor::f_scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(bias),
            0.0,
            false,
            c.attention_scale,
            false,
        )?
        .f_transpose(1, 2)?
        .f_reshape([b, s, h])?;
        let x = layer.dense.forward(&context)?.f_add(x)?;
        let inner = layer.up.forward(&layer.post_attention_norm.forward(&x)?)?;
        layer.down.forward(&bloom_gelu(&inner)?)?.f_add(&x)
    }
}

/// BLOOM's GELU: `x · 0.5 · (1 + tanh(0.79788456 · x · (1 + 0.044715 · x²)))`.
fn bloom_gelu(x: &Tensor) -> Result<Tensor, TchError> {
    let inner = x
        .f_square()?
        .f_mul_scalar(0.044715)?
        .f_add_scalar(1.0)?
        .f_mul(x)?
        .f_mul_scalar(0.79788456)?
        .f_tanh()?
        .f_add_scalar(1.0)?;
    x.f_mul_scalar(0.5)?.f_mul(&inner)
}

/// ALiBi slopes as BLOOM computes them: a geometric sequence for the largest
/// power of two of heads, then every other slope of the next power's sequence.
fn alibi_slopes(heads: usize) -> Vec<f32> {
    let closest = 1usize << heads.ilog2();
    let base = |n: usize| 2f64.powf(-(2f64.powf(-((n as f64).log2() - 3.0)))) as f32;
    let mut slopes: Vec<f32> = (1..=closest)
        .map(|p| base(closest).powf(p as f32))
        .collect();
    if closest != heads {
        let extra = base(2 * closest);
        let remaining = (heads - closest).min(closest);
        slopes.extend((0..remaining).map(|i| extra.powf((2 * i + 1) as f32)));
    }
    slopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alibi_slopes_follow_the_paper() {
        // 8 heads: 2^-1, 2^-2, ..., 2^-8.
        let slopes = alibi_slopes(8);
        assert_eq!(slopes[0], 0.5);
        assert_eq!(slopes[7], 2f32.powi(-8));
        // 12 heads: 8 from the 8-head sequence, then odd powers of 2^-0.5.
        let slopes = alibi_slopes(12);
        assert_eq!(slopes.len(), 12);
        assert!((slopes[8] - 2f32.powf(-0.5)).abs() < 1e-7);
    }
}
