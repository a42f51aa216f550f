//! [`TorchSeq2Seq`]: T5 / mT5 encoder-decoders (mT0, Aya-101) as a
//! [`Generator`]. The prompt is encoded once; a label is scored by its mean
//! token log-probability through the decoder, and answers are decoded from the
//! decoder start token.

use std::{ops::Range, path::Path, sync::Mutex};

use miners_encoders::{spec::DType, tokenizer::load_tokenizer};
use miners_icl::{Decoding, Generation, Generator, IclError};
use serde::Deserialize;
use tch::{Device, Kind, TchError, Tensor};
use tokenizers::Tokenizer;

use crate::{
    DeviceChoice, TorchError,
    generator::Draws,
    layers::{Linear, NormWeight, RmsNorm, embed_float, vocabulary_logits},
    placement::{PlacedLayers, Placement},
    precision::Precision,
    weights::Weights,
};

/// T5's `config.json` (`model_type` `t5` or `mt5`).
#[derive(Debug, Clone, Deserialize)]
struct T5Config {
    model_type: String,
    vocab_size: i64,
    d_model: i64,
    d_kv: i64,
    d_ff: i64,
    num_layers: usize,
    num_decoder_layers: Option<usize>,
    num_heads: i64,
    relative_attention_num_buckets: i64,
    relative_attention_max_distance: Option<i64>,
    layer_norm_epsilon: f64,
    feed_forward_proj: String,
    tie_word_embeddings: Option<bool>,
    decoder_start_token_id: Option<i64>,
    eos_token_id: Option<i64>,
    n_positions: Option<usize>,
}

impl T5Config {
    /// Decoder blocks: as many as the encoder's unless given.
    fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }
}

/// One attention sublayer (no biases, no logit scaling, as T5).
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: i64,
    head_dim: i64,
}

/// The gated-GELU or ReLU feed-forward sublayer.
struct FeedForward {
    gate: Option<Linear>,
    up: Linear,
    down: Linear,
}

struct Block {
    self_norm: RmsNorm,
    self_attention: Attention,
    cross: Option<(RmsNorm, Attention)>,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

struct Stack {
    blocks: PlacedLayers<Block>,
    /// `[buckets, heads]` relative position biases of the first block.
    relative_bias: Tensor,
    final_norm: RmsNorm,
    bidirectional: bool,
}

struct Network {
    shared: Tensor,
    encoder: Stack,
    decoder: Stack,
    lm_head: Tensor,
    /// `d_model^-0.5` when the output matrix is the shared embedding.
    output_scale: Option<f64>,
    buckets: i64,
    max_distance: i64,
}

/// A T5 / mT5 model from a Hugging Face directory, as a [`Generator`].
pub struct TorchSeq2Seq {
    id: String,
    tokenizer: Tokenizer,
    network: Mutex<Network>,
    device: Device,
    start: i64,
    stop: Vec<i64>,
    window: usize,
    /// Where the model came from (`hf:<org>/<name>@<commit>`), if recorded.
    source: Option<String>,
}

impl TorchSeq2Seq {
    /// Whether `dir` holds an encoder-decoder this backend runs (`t5`, `mt5`).
    pub fn recognizes(dir: &Path) -> bool {
        let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
            return false;
        };
        serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|c| matches!(c["model_type"].as_str(), Some("t5" | "mt5")))
    }

    /// Loads `dir` (`config.json`, weights in any layout, `tokenizer.json`)
    /// as generator `id`, its weights held in `dtype`.
    pub fn load(
        id: &str,
        dir: &Path,
        device: DeviceChoice,
        dtype: DType,
    ) -> Result<Self, IclError> {
        Self::load_on(id, dir, &[device], dtype)
    }

    /// [`TorchSeq2Seq::load`] with the encoder's and then the decoder's
    /// blocks split over `devices` in contiguous segments sized by each
    /// device's free memory (`[Auto]`: every CUDA device), as
    /// `device_map="auto"` does; activations move between them.
    pub fn load_on(
        id: &str,
        dir: &Path,
        devices: &[DeviceChoice],
        dtype: DType,
    ) -> Result<Self, IclError> {
        let error = |e: TorchError| e.for_generator(id);
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| error(TorchError::model(&config_path, e.to_string())))?;
        let config: T5Config = serde_json::from_str(&text)
            .map_err(|e| error(TorchError::model(&config_path, e.to_string())))?;
        let start = config.decoder_start_token_id.ok_or_else(|| {
            error(TorchError::model(
                &config_path,
                "a seq2seq model needs `decoder_start_token_id` to start decoding",
            ))
        })?;
        let blocks = config.num_layers + config.decoder_layers();
        let placement = Placement::resolve(devices, blocks).map_err(error)?;
        let device = placement.first();
        let precision = Precision::new(dtype, device).map_err(error)?;
        let weights = Weights::read(dir, device, precision).map_err(error)?;
        let network = Network::load(&weights, &config, &config_path, &placement).map_err(error)?;
        let tokenizer =
            load_tokenizer(dir).map_err(|e| TorchError::Tokenizer(e).for_generator(id))?;
        Ok(Self {
            id: id.to_owned(),
            tokenizer,
            network: Mutex::new(network),
            device,
            start,
            stop: config.eos_token_id.into_iter().collect(),
            window: config.n_positions.unwrap_or(512),
            source: None,
        })
    }

    /// The same model, recording where it came from.
    pub fn with_source(mut self, source: Option<String>) -> Self {
        self.source = source;
        self
    }

    fn error(&self, message: String) -> IclError {
        IclError::Generator {
            generator: self.id.clone(),
            message,
        }
    }

    fn ids(&self, text: &str, special: bool) -> Result<Vec<i64>, IclError> {
        let encoding = self
            .tokenizer
            .encode(text, special)
            .map_err(|e| self.error(format!("tokenizing: {e}")))?;
        Ok(encoding.get_ids().iter().map(|&id| i64::from(id)).collect())
    }

    fn tensor(&self, ids: &[i64]) -> Result<Tensor, TchError> {
        Tensor::f_from_slice(ids)?
            .f_to_device(self.device)?
            .f_unsqueeze(0)
    }

    /// Log-probabilities `[length, vocab]` after each of `decoder_ids`, given `encoded`.
    fn next_log_probs(
        &self,
        network: &Network,
        encoded: &Tensor,
        decoder_ids: &[i64],
    ) -> Result<Tensor, TchError> {
        let hidden = network.decode(&self.tensor(decoder_ids)?, encoded)?;
        network.log_probs(&hidden.f_squeeze_dim(0)?)
    }
}

impl Generator for TorchSeq2Seq {
    fn id(&self) -> &str {
        &self.id
    }

    fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    fn context_window(&self) -> usize {
        self.window
    }

    fn count_tokens(&self, text: &str) -> Result<usize, IclError> {
        Ok(self.ids(text, false)?.len())
    }

    /// Each label's mean token log-probability as the decoder's output after
    /// the start token, the prompt (with its end token) encoded once.
    fn score(&self, prompts: &[String], labels: &[String]) -> Result<Vec<Vec<f64>>, IclError> {
        let tch = |e: TchError| self.error(e.to_string());
        let labels: Vec<Vec<i64>> = labels
            .iter()
            .map(|label| match self.ids(label, false)? {
                ids if ids.is_empty() => Err(IclError::EmptyLabel(label.clone())),
                ids => Ok(ids),
            })
            .collect::<Result<_, _>>()?;
        let network = self
            .network
            .lock()
            .map_err(|_| self.error("poisoned".into()))?;
        prompts
            .iter()
            .map(|prompt| {
                let input = self.ids(prompt, true)?;
                let encoded =
                    tch::no_grad(|| network.encode(&self.tensor(&input)?)).map_err(tch)?;
                labels
                    .iter()
                    .map(|label| {
                        let mut decoder_ids = vec![self.start];
                        decoder_ids.extend(&label[..label.len() - 1]);
                        let log_probs = tch::no_grad(|| {
                            let all = self.next_log_probs(&network, &encoded, &decoder_ids)?;
                            let target = Tensor::f_from_slice(label)?
                                .f_to_device(self.device)?
                                .f_unsqueeze(1)?;
                            all.f_gather(1, &target, false)?.f_to_device(Device::Cpu)
                        })
                        .map_err(tch)?;
                        let values = Vec::<f32>::try_from(log_probs.f_flatten(0, -1).map_err(tch)?)
                            .map_err(tch)?;
                        Ok(values.iter().map(|&v| f64::from(v)).sum::<f64>() / label.len() as f64)
                    })
                    .collect()
            })
            .collect()
    }

    /// Decodes from the start token, the prompt encoded with its end token,
    /// as the reference's mT0 / Aya-101 path does.
    fn generate(&self, prompt: &str, decoding: &Decoding) -> Result<Generation, IclError> {
        let tch = |e: TchError| self.error(e.to_string());
        let input = self.ids(prompt, true)?;
        let network = self
            .network
            .lock()
            .map_err(|_| self.error("poisoned".into()))?;
        let encoded = tch::no_grad(|| network.encode(&self.tensor(&input)?)).map_err(tch)?;
        let mut decoder_ids = vec![self.start];
        let mut draws = Draws::new(&decoding.sampling);
        let mut stopped = false;
        while decoder_ids.len() <= decoding.max_new_tokens {
            let last = tch::no_grad(|| {
                let all = self.next_log_probs(&network, &encoded, &decoder_ids)?;
                all.f_select(0, decoder_ids.len() as i64 - 1)?
                    .f_to_device(Device::Cpu)
            })
            .map_err(tch)?;
            let next = draws.pick(&Vec::<f32>::try_from(last).map_err(tch)?) as i64;
            if self.stop.contains(&next) {
                stopped = true;
                break;
            }
            decoder_ids.push(next);
        }
        let new: Vec<u32> = decoder_ids[1..].iter().map(|&id| id as u32).collect();
        let text = self
            .tokenizer
            .decode(&new, true)
            .map_err(|e| self.error(format!("decoding: {e}")))?;
        Ok(Generation {
            text,
            tokens: new.len(),
            stopped,
        })
    }
}

impl Network {
    fn load(
        w: &Weights,
        c: &T5Config,
        path: &Path,
        placement: &Placement,
    ) -> Result<Self, TorchError> {
        if c.model_type != "t5" && c.model_type != "mt5" {
            return Err(TorchError::model(
                path,
                format!("model_type `{}` is not a T5 encoder-decoder", c.model_type),
            ));
        }
        let gated = match c.feed_forward_proj.as_str() {
            "gated-gelu" => true,
            "relu" => false,
            other => {
                return Err(TorchError::model(
                    path,
                    format!("feed_forward_proj `{other}` is not supported (gated-gelu, relu)"),
                ));
            }
        };
        let encoder_blocks = 0..c.num_layers;
        let decoder_blocks = c.num_layers..c.num_layers + c.decoder_layers();
        let stack = |name: &str, blocks: Range<usize>, decoder: bool| {
            Stack::load(w, name, placement, blocks, decoder, gated, c)
        };
        let shared = w.take("shared.weight", &[c.vocab_size, c.d_model])?;
        let tied = c.tie_word_embeddings.unwrap_or(true);
        let lm_head = match tied {
            true => shared.shallow_clone(),
            false => w.take("lm_head.weight", &[c.vocab_size, c.d_model])?,
        };
        Ok(Self {
            encoder: stack("encoder", encoder_blocks, false)?,
            decoder: stack("decoder", decoder_blocks, true)?,
            shared,
            lm_head,
            output_scale: tied.then(|| (c.d_model as f64).powf(-0.5)),
            buckets: c.relative_attention_num_buckets,
            max_distance: c.relative_attention_max_distance.unwrap_or(128),
        })
    }

    /// Encoder output `[1, length, d_model]`.
    fn encode(&self, ids: &Tensor) -> Result<Tensor, TchError> {
        let x = embed_float(&self.shared, ids)?;
        self.encoder
            .forward(x, None, self.buckets, self.max_distance)
    }

    /// Decoder output `[1, length, d_model]` for decoder input `ids`.
    fn decode(&self, ids: &Tensor, encoded: &Tensor) -> Result<Tensor, TchError> {
        let x = embed_float(&self.shared, ids)?;
        self.decoder
            .forward(x, Some(encoded), self.buckets, self.max_distance)
    }

    fn log_probs(&self, hidden: &Tensor) -> Result<Tensor, TchError> {
        let hidden = match self.output_scale {
            Some(scale) => hidden.f_mul_scalar(scale)?,
            None => hidden.shallow_clone(),
        };
        vocabulary_logits(&hidden, &self.lm_head)?.f_log_softmax(-1, Kind::Float)
    }
}

impl Stack {
    /// Loads stack `name` (`encoder` or `decoder`), its blocks numbered
    /// `blocks` in the model's count (encoder first) for `placement`.
    fn load(
        w: &Weights,
        name: &str,
        placement: &Placement,
        blocks: Range<usize>,
        decoder: bool,
        gated: bool,
        c: &T5Config,
    ) -> Result<Self, TorchError> {
        let inner = c.num_heads * c.d_kv;
        let norm = |w: &Weights, path: String| {
            RmsNorm::load(w, &path, c.d_model, c.layer_norm_epsilon, NormWeight::Plain)
        };
        let attention = |w: &Weights, path: String| -> Result<Attention, TorchError> {
            let linear = |part: &str, inputs: i64, outputs: i64| {
                Linear::load(w, &format!("{path}.{part}"), inputs, outputs, false)
            };
            Ok(Attention {
                q: linear("q", c.d_model, inner)?,
                k: linear("k", c.d_model, inner)?,
                v: linear("v", c.d_model, inner)?,
                o: linear("o", inner, c.d_model)?,
                heads: c.num_heads,
                head_dim: c.d_kv,
            })
        };
        let first = blocks.start;
        let blocks = placement.load_layers(w, blocks, |w, global| {
            let i = global - first;
            let p = format!("{name}.block.{i}.layer");
            let ff_index = if decoder { 2 } else { 1 };
            let ff = format!("{p}.{ff_index}.DenseReluDense");
            let linear = |part: &str, inputs: i64, outputs: i64| {
                Linear::load(w, &format!("{ff}.{part}"), inputs, outputs, false)
            };
            let ff = match gated {
                true => FeedForward {
                    gate: Some(linear("wi_0", c.d_model, c.d_ff)?),
                    up: linear("wi_1", c.d_model, c.d_ff)?,
                    down: linear("wo", c.d_ff, c.d_model)?,
                },
                false => FeedForward {
                    gate: None,
                    up: linear("wi", c.d_model, c.d_ff)?,
                    down: linear("wo", c.d_ff, c.d_model)?,
                },
            };
            let cross = match decoder {
                true => Some((
                    norm(w, format!("{p}.1.layer_norm"))?,
                    attention(w, format!("{p}.1.EncDecAttention"))?,
                )),
                false => None,
            };
            Ok(Block {
                self_norm: norm(w, format!("{p}.0.layer_norm"))?,
                self_attention: attention(w, format!("{p}.0.SelfAttention"))?,
                cross,
                ff_norm: norm(w, format!("{p}.{ff_index}.layer_norm"))?,
                ff,
            })
        })?;
        Ok(Self {
            blocks,
            relative_bias: w.take(
                &format!("{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
                &[c.relative_attention_num_buckets, c.num_heads],
            )?,
            final_norm: norm(w, format!("{name}.final_layer_norm"))?,
            bidirectional: !decoder,
        })
    }

    /// The stack over embedded `x`, each block on its device; the decoder
    /// also attends to `encoded`.
    fn forward(
        &self,
        x: Tensor,
        encoded: Option<&Tensor>,
        buckets: i64,
        max_distance: i64,
    ) -> Result<Tensor, TchError> {
        let length = x.size()[1];
        let bias = self.position_bias(length, buckets, max_distance, x.device())?;
        let inputs = (bias, encoded.map(Tensor::shallow_clone));
        let x = self
            .blocks
            .forward(x, inputs, |_, block, x, (bias, encoded)| {
                block.forward(x, bias, encoded.as_ref())
            })?;
        self.final_norm.forward(&x)
    }

    /// `[1, heads, length, length]` relative position biases, `-inf` where a
    /// decoder position would see the future.
    fn position_bias(
        &self,
        length: i64,
        buckets: i64,
        max_distance: i64,
        device: Device,
    ) -> Result<Tensor, TchError> {
        let mut indices = Vec::with_capacity((length * length) as usize);
        for query in 0..length {
            for key in 0..length {
                indices.push(bucket(
                    key - query,
                    self.bidirectional,
                    buckets,
                    max_distance,
                ));
            }
        }
        let indices = Tensor::f_from_slice(&indices)?.f_to_device(device)?;
        let mut bias = Tensor::f_embedding(&self.relative_bias, &indices, -1, false, false)?
            .f_view([length, length, -1])?
            .f_permute([2, 0, 1])?
            .f_unsqueeze(0)?;
        if !self.bidirectional {
            let future = Tensor::f_ones([length, length], (Kind::Bool, device))?.f_triu(1)?;
            bias = bias.f_masked_fill(&future, f64::NEG_INFINITY)?;
        }
        Ok(bias)
    }
}

/// T5's relative position bucket of `relative` (key minus query position).
fn bucket(relative: i64, bidirectional: bool, buckets: i64, max_distance: i64) -> i64 {
    let (buckets, base, distance) = match bidirectional {
        true => {
            let half = buckets / 2;
            (half, if relative > 0 { half } else { 0 }, relative.abs())
        }
        false => (buckets, 0, (-relative).max(0)),
    };
    let exact = buckets / 2;
    if distance < exact {
        return base + distance;
    }
    // Computed in float32, as transformers does.
    let ratio = (distance as f32 / exact as f32).ln() / (max_distance as f32 / exact as f32).ln();
    let large = exact + (ratio * (buckets - exact) as f32) as i64;
    base + large.min(buckets - 1)
}

impl Block {
    /// Self-attention, cross-attention over `encoded` (decoder blocks), then
    /// the feed-forward sublayer, each added to the residual stream.
    fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        encoded: Option<&Tensor>,
    ) -> Result<Tensor, TchError> {
        let normed = self.self_norm.forward(x)?;
        let mut x = x.f_add(&self.self_attention.forward(&normed, &normed, Some(bias))?)?;
        if let (Some((norm, cross)), Some(encoded)) = (&self.cross, encoded) {
            x = x.f_add(&cross.forward(&norm.forward(&x)?, encoded, None)?)?;
        }
        x.f_add(&self.ff.forward(&self.ff_norm.forward(&x)?)?)
    }
}

impl Attention {
    /// Unscaled dot-product attention of `queries` over `keys` (T5 folds the
    /// scale into its weights), with an additive `bias`.
    fn forward(
        &self,
        queries: &Tensor,
        keys: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Tensor, TchError> {
        let (b, lq, _) = queries.size3()?;
        let lk = keys.size()[1];
        let heads = |t: Tensor, length: i64| {
            t.f_view([b, length, self.heads, self.head_dim])?
                .f_transpose(1, 2)
        };
        let q = heads(self.q.forward(queries)?, lq)?;
        let k = heads(self.k.forward(keys)?, lk)?;
        let v = heads(self.v.forward(keys)?, lk)?;
        let mut scores = q.f_matmul(&k.f_transpose(-2, -1)?)?;
        if let Some(bias) = bias {
            scores = scores.f_add(bias)?;
        }
        let context = scores
            .f_softmax(-1, Kind::Float)?
            .f_matmul(&v)?
            .f_transpose(1, 2)?
            .f_reshape([b, lq, self.heads * self.head_dim])?;
        self.o.forward(&context)
    }
}

impl FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor, TchError> {
        let up = self.up.forward(x)?;
        let hidden = match &self.gate {
            Some(gate) => gate.forward(x)?.f_gelu("tanh")?.f_mul(&up)?,
            None => up.f_relu()?,
        };
        self.down.forward(&hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_t5() {
        // Bidirectional, 32 buckets, max distance 128: exact up to 8 each way.
        assert_eq!(bucket(0, true, 32, 128), 0);
        assert_eq!(bucket(3, true, 32, 128), 19);
        assert_eq!(bucket(-3, true, 32, 128), 3);
        assert_eq!(bucket(-1000, true, 32, 128), 15);
        // Causal: only the past counts.
        assert_eq!(bucket(5, false, 32, 128), 0);
        assert_eq!(bucket(-5, false, 32, 128), 5);
        assert_eq!(bucket(-1000, false, 32, 128), 31);
    }
}
