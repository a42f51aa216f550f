//! One module per model family; [`Decoder`] dispatches the generator's families.

mod bert;
mod bloom;
mod rotary;
mod xglm;

use std::path::Path;

use miners_encoders::{
    layout::{Architecture, TransformerConfig},
    spec::{DType, DeviceChoice},
};

pub(crate) use bert::{Bert, Positions};
use bloom::Bloom;
pub(crate) use rotary::KvCache;
use rotary::RotaryDecoder;
use tch::{TchError, Tensor};
use xglm::Xglm;

use crate::{
    TorchError,
    batch::Batch,
    config::{DecoderConfig, Family},
    placement::Placement,
    precision::Precision,
    weights::Weights,
};

/// A transformer encoder of any architecture (TEI's `Model` trait): token
/// states from token ids. Each built-in architecture is one file; one of
/// your own loads through [`crate::TorchEncoder::load_with`].
pub trait EncoderModel: Send {
    /// Token states `[batch, length, hidden]` of right-padded `ids` with
    /// `mask` (1 = token).
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor, TchError>;
}

/// Loads the encoder of `architecture` from `weights`, checking shapes
/// against `config`; every architecture is named, so a new one must be
/// dispatched here.
pub(crate) fn load_encoder(
    weights: &Weights,
    config: &TransformerConfig,
    architecture: Architecture,
) -> Result<Box<dyn EncoderModel>, TorchError> {
    Ok(match architecture {
        Architecture::Bert => Box::new(Bert::load(weights, config, Positions::FromZero)?),
        Architecture::XlmRoberta => Box::new(Bert::load(weights, config, Positions::AfterPadding)?),
    })
}

/// A decoder-only language model of any supported family.
pub(crate) enum Decoder {
    /// Llama, Qwen2, Gemma 3: RMSNorm, rotary positions, gated MLP.
    Rotary(RotaryDecoder),
    /// BLOOM: LayerNorm, ALiBi, plain MLP.
    Bloom(Bloom),
    /// XGLM: sinusoidal positions, LayerNorm, GELU MLP.
    Xglm(Xglm),
}

impl Decoder {
    /// Loads `config.json` and the weights from `dir`, held in `dtype`, its
    /// layers on the devices `choices` name (several split the layers).
    pub(crate) fn load(
        dir: &Path,
        choices: &[DeviceChoice],
        dtype: DType,
    ) -> Result<Self, TorchError> {
        let config = DecoderConfig::read(&dir.join("config.json"))?;
        let placement = Placement::resolve(choices, config.layers)?;
        let precision = Precision::new(dtype, placement.first())?;
        let weights = Weights::read(dir, placement.first(), precision)?;
        Ok(match config.family {
            Family::Bloom => Self::Bloom(Bloom::load(&weights, config, &placement)?),
            Family::Xglm => Self::Xglm(Xglm::load(&weights, config, &placement)?),
            Family::Llama
            | Family::Qwen2
            | Family::Gemma
            | Family::Gemma2
            | Family::Gemma3
            | Family::Cohere => Self::Rotary(RotaryDecoder::load(&weights, config, &placement)?),
        })
    }

    /// The first device: the embedding's, where inputs go and outputs come back.
    pub(crate) fn device(&self) -> tch::Device {
        match self {
            Self::Rotary(d) => d.embedding.device(),
            Self::Bloom(d) => d.embedding.device(),
            Self::Xglm(d) => d.embedding.device(),
        }
    }

    /// The configuration read from `config.json`.
    pub(crate) fn config(&self) -> &DecoderConfig {
        match self {
            Self::Rotary(d) => &d.config,
            Self::Bloom(d) => &d.config,
            Self::Xglm(d) => &d.config,
        }
    }

    /// Final-norm hidden states `[batch, length, hidden]`.
    pub(crate) fn hidden_states(&self, batch: &Batch) -> Result<Tensor, TchError> {
        match self {
            Self::Rotary(d) => d.hidden_states(batch),
            Self::Bloom(d) => d.hidden_states(batch),
            Self::Xglm(d) => d.hidden_states(batch),
        }
    }

    /// With a KV cache (the rotary families): the hidden state `[1, hidden]` of
    /// the last of `ids`, which follow the cached tokens. `None` for families
    /// without one, which decode by recomputing the whole sequence.
    pub(crate) fn step(
        &self,
        ids: &[i64],
        cache: &mut KvCache,
    ) -> Option<Result<Tensor, TchError>> {
        match self {
            Self::Rotary(d) => Some(d.step(ids, cache)),
            Self::Bloom(_) | Self::Xglm(_) => None,
        }
    }

    /// Log-probabilities `[rows, vocab]` (float32) of the next token after `hidden` rows `[rows, hidden]`.
    pub(crate) fn log_probs(&self, hidden: &Tensor) -> Result<Tensor, TchError> {
        match self {
            Self::Rotary(d) => d.log_probs(hidden),
            Self::Bloom(d) => d.log_probs(hidden),
            Self::Xglm(d) => d.log_probs(hidden),
        }
    }
}
