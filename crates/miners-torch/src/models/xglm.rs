//! XGLM (one of the paper's multilingual generators): sinusoidal positions
//! offset by two, embeddings scaled by √d, pre-LayerNorm blocks with biased
//! projections, an exact-GELU MLP and a final LayerNorm; the output matrix is
//! the embedding.

use tch::{Kind, TchError, Tensor};

use crate::{
    TorchError,
    batch::Batch,
    config::DecoderConfig,
    layers::{LayerNorm, Linear, embed_float, vocabulary_logits},
    placement::{PlacedLayers, Placement},
    weights::Weights,
};

/// XGLM's sinusoidal table starts its positions at this row.
const POSITION_OFFSET: i64 = 2;

struct Layer {
    attention_norm: LayerNorm,
    qkv: Linear,
    output: Linear,
    mlp_norm: LayerNorm,
    up: Linear,
    down: Linear,
}

/// An XGLM causal LM.
pub(crate) struct Xglm {
    pub(crate) config: DecoderConfig,
    pub(crate) embedding: Tensor,
    layers: PlacedLayers<Layer>,
    final_norm: LayerNorm,
    /// `[offset + positions, hidden]` sinusoids.
    positions: Tensor,
    embedding_scale: f64,
}

impl Xglm {
    /// Loads the `model.*` tensors, the layers where `placement` puts them.
    pub(crate) fn load(
        w: &Weights,
        config: DecoderConfig,
        placement: &Placement,
    ) -> Result<Self, TorchError> {
        let (h, f) = (config.hidden, config.intermediate);
        let norm = |w: &Weights, name: &str| LayerNorm::load(w, name, h, config.eps);
        let layers = placement.load_layers(w, 0..config.layers, |w, i| {
            let p = format!("model.layers.{i}");
            let linear = |name: &str, inputs: i64, outputs: i64| {
                Linear::load(w, &format!("{p}.{name}"), inputs, outputs, true)
            };
            Ok(Layer {
                attention_norm: norm(w, &format!("{p}.self_attn_layer_norm"))?,
                qkv: Linear::stack(&[
                    linear("self_attn.q_proj", h, h)?,
                    linear("self_attn.k_proj", h, h)?,
                    linear("self_attn.v_proj", h, h)?,
                ])?,
                output: linear("self_attn.out_proj", h, h)?,
                mlp_norm: norm(w, &format!("{p}.final_layer_norm"))?,
                up: linear("fc1", h, f)?,
                down: linear("fc2", f, h)?,
            })
        })?;
        let embedding = w.take("model.embed_tokens.weight", &[config.vocab, h])?;
        let rows = config.max_positions as i64 + POSITION_OFFSET;
        let positions = sinusoids(rows, h, embedding.device()).map_err(TorchError::from)?;
        Ok(Self {
            final_norm: norm(w, "model.layer_norm")?,
            embedding_scale: config.embedding_scale.unwrap_or(1.0),
            embedding,
            layers,
            positions,
            config,
        })
    }

    pub(crate) fn hidden_states(&self, batch: &Batch) -> Result<Tensor, TchError> {
        let tokens =
            embed_float(&self.embedding, &batch.ids)?.f_mul_scalar(self.embedding_scale)?;
        let rows = batch.positions.f_add_scalar(POSITION_OFFSET)?;
        let x = tokens.f_add(&Tensor::f_embedding(
            &self.positions,
            &rows,
            -1,
            false,
            false,
        )?)?;
        let attend = batch.attend.shallow_clone();
        let x = self.layers.forward(x, attend, |_, layer, x, attend| {
            self.layer_forward(layer, x, attend)
        })?;
        self.final_norm.forward(&x)
    }

    pub(crate) fn log_probs(&self, hidden: &Tensor) -> Result<Tensor, TchError> {
        vocabulary_logits(hidden, &self.embedding)?.f_log_softmax(-1, Kind::Float)
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        attend: &Tensor,
    ) -> Result<Tensor, TchError> {
        let c = &self.config;
        let (b, s, h) = x.size3()?;
        let qkv = layer.qkv.forward(&layer.attention_norm.forward(x)?)?;
        let parts = qkv.f_split(h, -1)?;
        let heads = |t: &Tensor| t.f_view([b, s, c.heads, c.head_dim])?.f_transpose(1, 2);
        let context = Tensor::f_scaled_dot_product_attention(
            &heads(&parts[0])?,
            &heads(&parts[1])?,
            &heads(&parts[2])?,
            Some(attend),
            0.0,
            false,
            c.attention_scale,
            false,
        )?
        .f_transpose(1, 2)?
        .f_reshape([b, s, h])?;
        let x = layer.output.forward(&context)?.f_add(x)?;
        let inner = layer
            .up
            .forward(&layer.mlp_norm.forward(&x)?)?
            .f_gelu("none")?;
        layer.down.forward(&inner)?.f_add(&x)
    }
}

/// fairseq's sinusoidal table `[rows, width]`: sines then cosines of
/// `position · 10000^(-i / (width/2 - 1))`, a zero column for odd widths, and
/// row 1 (the padding index) zero.
fn sinusoids(rows: i64, width: i64, device: tch::Device) -> Result<Tensor, TchError> {
    let half = width / 2;
    let step = (10_000f64).ln() / (half - 1).max(1) as f64;
    let frequencies = Tensor::f_arange(half, (Kind::Float, device))?
        .f_mul_scalar(-step)?
        .f_exp()?;
    let angles = Tensor::f_arange(rows, (Kind::Float, device))?
        .f_unsqueeze(1)?
        .f_mul(&frequencies.f_unsqueeze(0)?)?;
    let mut table = Tensor::f_cat(&[angles.f_sin()?, angles.f_cos()?], 1)?;
    if width % 2 == 1 {
        table = Tensor::f_cat(
            &[table, Tensor::f_zeros([rows, 1], (Kind::Float, device))?],
            1,
        )?;
    }
    let _ = table.f_get(1)?.f_zero_()?;
    Ok(table)
}
