//! BERT and XLM-RoBERTa encoders (LaBSE, MiniLM, mBERT; multilingual-e5,
//! paraphrase-multilingual, Glot500, XLM-R): embeddings plus post-norm layers.

use std::path::Path;

use miners_encoders::layout::TransformerConfig;
use tch::{Kind, TchError, Tensor};

use super::EncoderModel;
use crate::{
    TorchError,
    dropout::{DropoutMasks, dropout},
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
        self.forward_with(ids, mask, None)
    }
}

impl Bert {
    /// Token states, with `dropout` applied where transformers applies it
    /// in training mode (none when `None`).
    pub(crate) fn forward_with(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout: Option<&DropoutMasks>,
    ) -> Result<Tensor, TchError> {
        let (batch, length) = ids.size2()?;
        let embedded = profile::time(Stage::Embed, || self.embed(ids))?;
        let mut x = self::dropout(embedded, dropout, |r| r.hidden)?;
        let attend = padding_mask(mask, batch, length)?;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, attend.as_ref(), dropout)?;
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
        attend: Option<&Tensor>,
        dropout: Option<&DropoutMasks>,
    ) -> Result<Tensor, TchError> {
        let x = profile::time(Stage::Attention, || {
            self.attention(layer, x, attend, dropout)
        })?;
        profile::time(Stage::FeedForward, || self.feed_forward(layer, &x, dropout))
    }

    /// Self-attention with its output projection, residual and norm.
    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        attend: Option<&Tensor>,
        dropout: Option<&DropoutMasks>,
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
        let context = match dropout {
            Some(masks) if masks.rates().attention > 0.0 => {
                attention_with_dropout(&q, &k, &v, attend, masks)?
            }
            _ => {
                Tensor::f_scaled_dot_product_attention(&q, &k, &v, attend, 0.0, false, None, false)?
            }
        }
        .f_transpose(1, 2)?
        .f_reshape([batch, length, hidden])?;
        let projected = self::dropout(layer.attention_out.forward(&context)?, dropout, |r| {
            r.hidden
        })?;
        layer.attention_norm.forward(&projected.f_add(x)?)
    }

    /// The feed-forward block with its residual and norm.
    fn feed_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        dropout: Option<&DropoutMasks>,
    ) -> Result<Tensor, TchError> {
        let inner = layer.intermediate.forward(x)?;
        let inner = match self.activation {
            Activation::Gelu => inner.f_gelu("none")?,
            Activation::GeluTanh => inner.f_gelu("tanh")?,
            Activation::Relu => inner.f_relu()?,
        };
        let projected = self::dropout(layer.output.forward(&inner)?, dropout, |r| r.hidden)?;
        layer.output_norm.forward(&projected.f_add(x)?)
    }
}

/// Which keys each text attends, `[batch, 1, 1, length]`: none (all) when
/// no text of the batch is padded, which lets scaled dot-product attention
/// skip the mask (the same result to the bit, about 40 % less attention
/// time on short texts; length-sorted batches are mostly of one length).
fn padding_mask(mask: &Tensor, batch: i64, length: i64) -> Result<Option<Tensor>, TchError> {
    let padded = mask.f_min()?.f_int64_value(&[])? == 0;
    padded
        .then(|| mask.f_to_kind(Kind::Bool)?.f_view([batch, 1, 1, length]))
        .transpose()
}

/// Attention as scaled dot-product attention computes it without a fused
/// kernel, with dropout on the probabilities drawn from `masks`:
/// `dropout(softmax(q kᵀ / √d, masked)) v`.
fn attention_with_dropout(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    attend: Option<&Tensor>,
    masks: &DropoutMasks,
) -> Result<Tensor, TchError> {
    let head_dim = q.size().last().copied().unwrap_or(1);
    let mut scores = q
        .f_matmul(&k.f_transpose(-2, -1)?)?
        .f_mul_scalar(1.0 / (head_dim as f64).sqrt())?;
    if let Some(attend) = attend {
        scores = scores.f_masked_fill(&attend.f_logical_not()?, f64::NEG_INFINITY)?;
    }
    let probabilities = scores.f_softmax(-1, scores.kind())?;
    masks
        .apply(&probabilities, masks.rates().attention)?
        .f_matmul(v)
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use super::*;
    use crate::dropout::Dropout;

    #[test]
    fn attention_with_dropout_off_equals_fused_attention() {
        tch::manual_seed(3);
        let options = (Kind::Float, Device::Cpu);
        let [q, k, v] = [0, 1, 2].map(|_| Tensor::randn([2, 4, 7, 16], options));
        // The second text's last three tokens are padding.
        let attend = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
            .view([2, 1, 1, 7])
            .to_kind(Kind::Bool);
        let off = DropoutMasks::new(
            Dropout {
                hidden: 0.0,
                attention: 0.0,
                classifier: 0.0,
            },
            1,
        );
        let ours = attention_with_dropout(&q, &k, &v, Some(&attend), &off).unwrap();
        let fused = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(&attend),
            0.0,
            false,
            None,
            false,
        );
        let difference = (ours - fused).abs().max().double_value(&[]);
        assert!(difference < 1e-6, "{difference}");
    }

    #[test]
    fn an_unpadded_batch_attends_without_a_mask_to_the_same_bits() {
        let options = (Kind::Int64, Device::Cpu);
        assert!(
            padding_mask(&Tensor::ones([2, 5], options), 2, 5)
                .unwrap()
                .is_none()
        );
        let padded = Tensor::from_slice(&[1i64, 1, 1, 1, 0, 1]).view([2, 3]);
        let attend = padding_mask(&padded, 2, 3).unwrap().unwrap();
        assert_eq!(attend.size(), [2, 1, 1, 3]);
        tch::manual_seed(5);
        let [q, k, v] =
            [0, 1, 2].map(|_| Tensor::randn([3, 12, 9, 32], (Kind::Float, Device::Cpu)));
        let all = Tensor::ones([3, 1, 1, 9], (Kind::Bool, Device::Cpu));
        let attention = |mask: Option<&Tensor>| {
            Tensor::scaled_dot_product_attention(&q, &k, &v, mask, 0.0, false, None, false)
        };
        assert!(attention(None).equal(&attention(Some(&all))));
    }
}
