//! BERT and XLM-RoBERTa encoders (LaBSE, MiniLM, mBERT; multilingual-e5,
//! paraphrase-multilingual, Glot500, XLM-R): embeddings plus post-norm layers.

use std::path::Path;

use miners_encoders::layout::TransformerConfig;
use tch::{Kind, TchError, Tensor};

use super::EncoderModel;
use crate::{
    TorchError,
    layers::{LayerNorm, Linear},
    profile::{self, Stage},
    weights::Weights,
};

/// How token positions are numbered: the two BERT-family conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Positions {
    /// 0, 1, 2, … (BERT).
    FromZero,
    /// Real tokens from `pad_token_id + 1`, pads at `pad_token_id` (RoBERTa, XLM-R).
    AfterPadding,
}

/// Dropout probabilities while training; [`Dropout::OFF`] for inference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dropout {
    /// After the embeddings and each sub-layer's output projection.
    pub(crate) hidden: f64,
    /// On the attention probabilities.
    pub(crate) attention: f64,
}

impl Dropout {
    /// No dropout: inference, or training with dropout disabled.
    pub(crate) const OFF: Self = Self {
        hidden: 0.0,
        attention: 0.0,
    };
}

/// `x` with dropout `p` applied (training), or `x` itself when `p` is 0.
pub(crate) fn dropout(x: Tensor, p: f64) -> Result<Tensor, TchError> {
    match p > 0.0 {
        true => x.f_dropout(p, true),
        false => Ok(x),
    }
}

#[derive(Clone, Copy)]
enum Activation {
    Gelu,
    GeluTanh,
    Relu,
}

struct Layer {
    /// Query, key and value projections fused into one GEMM.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// Embeddings plus a stack of encoder layers.
pub(crate) struct Bert {
    positions: Positions,
    heads: i64,
    pad_token_id: i64,
    activation: Activation,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Loads every weight, checking shapes against `config`.
    pub(crate) fn load(
        w: &Weights,
        config: &TransformerConfig,
        positions: Positions,
    ) -> Result<Self, TorchError> {
        let h = config.hidden_size as i64;
        let ff = config.intermediate_size as i64;
        let eps = config.layer_norm_eps;
        let activation = match config.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(TorchError::model(
                    Path::new("config.json"),
                    format!("unsupported hidden_act `{other}` (supported: gelu, gelu_new, relu)"),
                ));
            }
        };
        if config.num_attention_heads == 0 || h % config.num_attention_heads as i64 != 0 {
            return Err(TorchError::model(
                Path::new("config.json"),
                format!(
                    "hidden_size {h} is not divisible by num_attention_heads {}",
                    config.num_attention_heads
                ),
            ));
        }
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let projections = ["query", "key", "value"]
                    .map(|name| Linear::load(w, &format!("{p}.attention.self.{name}"), h, h, true));
                let [q, k, v] = projections;
                let qkv = Linear::stack(&[q?, k?, v?])?;
                Ok(Layer {
                    qkv,
                    attention_out: Linear::load(
                        w,
                        &format!("{p}.attention.output.dense"),
                        h,
                        h,
                        true,
                    )?,
                    attention_norm: LayerNorm::load(
                        w,
                        &format!("{p}.attention.output.LayerNorm"),
                        h,
                        eps,
                    )?,
                    intermediate: Linear::load(w, &format!("{p}.intermediate.dense"), h, ff, true)?,
                    output: Linear::load(w, &format!("{p}.output.dense"), ff, h, true)?,
                    output_norm: LayerNorm::load(w, &format!("{p}.output.LayerNorm"), h, eps)?,
                })
            })
            .collect::<Result<_, TorchError>>()?;
        Ok(Self {
            positions,
            heads: config.num_attention_heads as i64,
            pad_token_id: config.pad_token_id,
            activation,
            word: w.take(
                "embeddings.word_embeddings.weight",
                &[config.vocab_size as i64, h],
            )?,
            position: w.take(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings as i64, h],
            )?,
            token_type: w.take(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size as i64, h],
            )?,
            embedding_norm: LayerNorm::load(w, "embeddings.LayerNorm", h, eps)?,
            layers,
        })
    }
}

impl EncoderModel for Bert {
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor, TchError> {
        self.forward_with(ids, mask, Dropout::OFF)
    }
}

impl Bert {
    /// Token states, with `dropout` applied where transformers applies it
    /// in training mode.
    pub(crate) fn forward_with(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout: Dropout,
    ) -> Result<Tensor, TchError> {
        let (batch, length) = ids.size2()?;
        let embedded = profile::time(Stage::Embed, || self.embed(ids))?;
        let mut x = self::dropout(embedded, dropout.hidden)?;
        let attend = mask.f_to_kind(Kind::Bool)?.f_view([batch, 1, 1, length])?;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &attend, dropout)?;
        }
        Ok(x)
    }

    /// Every trainable tensor, named as transformers names it (the fused
    /// query, key and value as `attention.self.qkv`).
    pub(crate) fn parameters(&self) -> Result<Vec<(String, Tensor)>, TchError> {
        let mut found = vec![
            (
                "embeddings.word_embeddings.weight".to_owned(),
                self.word.shallow_clone(),
            ),
            (
                "embeddings.position_embeddings.weight".to_owned(),
                self.position.shallow_clone(),
            ),
            (
                "embeddings.token_type_embeddings.weight".to_owned(),
                self.token_type.shallow_clone(),
            ),
        ];
        found.extend(self.embedding_norm.parameters("embeddings.LayerNorm"));
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{i}");
            found.extend(layer.qkv.parameters(&format!("{p}.attention.self.qkv"))?);
            found.extend(
                layer
                    .attention_out
                    .parameters(&format!("{p}.attention.output.dense"))?,
            );
            found.extend(
                layer
                    .attention_norm
                    .parameters(&format!("{p}.attention.output.LayerNorm")),
            );
            found.extend(
                layer
                    .intermediate
                    .parameters(&format!("{p}.intermediate.dense"))?,
            );
            found.extend(layer.output.parameters(&format!("{p}.output.dense"))?);
            found.extend(
                layer
                    .output_norm
                    .parameters(&format!("{p}.output.LayerNorm")),
            );
        }
        Ok(found)
    }

    /// Token, position and type embeddings, normalised.
    fn embed(&self, ids: &Tensor) -> Result<Tensor, TchError> {
        let (batch, length) = ids.size2()?;
        let positions = match self.positions {
            Positions::FromZero => Tensor::f_arange(length, (Kind::Int64, ids.device()))?
                .f_expand([batch, length], false)?,
            Positions::AfterPadding => {
                // As HF: positions count real tokens from pad_token_id + 1; pads get pad_token_id.
                let real = ids.f_ne(self.pad_token_id)?.f_to_kind(Kind::Int64)?;
                real.f_cumsum(1, Kind::Int64)?
                    .f_mul(&real)?
                    .f_add_scalar(self.pad_token_id)?
            }
        };
        let x = Tensor::f_embedding(&self.word, ids, -1, false, false)?
            .f_add(&Tensor::f_embedding(
                &self.position,
                &positions,
                -1,
                false,
                false,
            )?)?
            .f_add(&self.token_type.f_get(0)?)?;
        self.embedding_norm.forward(&x)
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        attend: &Tensor,
        dropout: Dropout,
    ) -> Result<Tensor, TchError> {
        let x = profile::time(Stage::Attention, || {
            self.attention(layer, x, attend, dropout)
        })?;
        profile::time(Stage::FeedForward, || {
            self.feed_forward(layer, &x, dropout.hidden)
        })
    }

    /// Self-attention with its output projection, residual and norm.
    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        attend: &Tensor,
        dropout: Dropout,
    ) -> Result<Tensor, TchError> {
        let (batch, length, hidden) = x.size3()?;
        let head_dim = hidden / self.heads;
        // [batch, length, 3 × hidden] -> three [batch, heads, length, head_dim] views.
        let qkv = layer
            .qkv
            .forward(x)?
            .f_view([batch, length, 3, self.heads, head_dim])?
            .f_permute([2, 0, 3, 1, 4])?;
        let (q, k, v) = (qkv.f_get(0)?, qkv.f_get(1)?, qkv.f_get(2)?);
        let context = Tensor::f_scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(attend),
            dropout.attention,
            false,
            None,
            false,
        )?
        .f_transpose(1, 2)?
        .f_reshape([batch, length, hidden])?;
        let projected = self::dropout(layer.attention_out.forward(&context)?, dropout.hidden)?;
        layer.attention_norm.forward(&projected.f_add(x)?)
    }

    /// The feed-forward block with its residual and norm.
    fn feed_forward(&self, layer: &Layer, x: &Tensor, dropout: f64) -> Result<Tensor, TchError> {
        let inner = layer.intermediate.forward(x)?;
        let inner = match self.activation {
            Activation::Gelu => inner.f_gelu("none")?,
            Activation::GeluTanh => inner.f_gelu("tanh")?,
            Activation::Relu => inner.f_relu()?,
        };
        let projected = self::dropout(layer.output.forward(&inner)?, dropout)?;
        layer.output_norm.forward(&projected.f_add(x)?)
    }
}
