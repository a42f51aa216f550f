//! `TorchEncoder`: tokenization, length-sorted batching, forward, pooling, Dense, Normalize.

use std::{path::Path, sync::Mutex};

use miners_core::Embeddings;
use miners_encoders::{
    Encoder, EncoderError, Fingerprint, Prompts, Role, Sink, TextPreparation, collect_in_order,
    layout::{Activation, Pooling, TransformerConfig, TransformerLayout},
    spec::ModelSpec,
    tokenizer::tokenizer_files,
};
use tch::{Device, Kind, TchError, Tensor};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use crate::{
    DeviceChoice, TorchError,
    batch::{padded_ids, token_batches},
    layers::Linear,
    models::{EncoderModel, load_encoder},
    precision::Precision,
    profile::{self, Stage},
    weights::Weights,
};

/// Makes an encoder network from a checkpoint's weights and its config.
pub type LoadArchitecture<'a> =
    dyn Fn(&Weights, &TransformerConfig) -> Result<Box<dyn EncoderModel>, TorchError> + 'a;

/// Default padded tokens per forward pass (batch size × longest sequence).
pub const DEFAULT_TOKEN_BUDGET: usize = 1_024;
/// Sequences per forward pass, at most.
const MAX_BATCH: usize = 256;

struct Dense {
    linear: Linear,
    activation: Activation,
}

/// The libtorch parts: tensors are `Send` but not `Sync`, so they sit behind a
/// mutex (libtorch already spreads one forward pass over every core).
struct Network {
    transformer: Box<dyn EncoderModel>,
    dense: Vec<Dense>,
}

/// A transformer sentence encoder on libtorch.
pub struct TorchEncoder {
    id: String,
    prompts: Prompts,
    tokenizer: Tokenizer,
    network: Mutex<Network>,
    pooling: Pooling,
    include_prompt: bool,
    normalize: bool,
    pad_token_id: i64,
    dim: usize,
    device: Device,
    token_budget: usize,
    fingerprint: String,
}

impl TorchEncoder {
    /// Loads the model a spec names, on the chosen device, as the
    /// architecture its `config.json` names.
    pub fn load(spec: &ModelSpec, device: DeviceChoice) -> Result<Self, EncoderError> {
        let layout = TransformerLayout::read(&spec.path)?;
        let architecture = layout.architecture;
        Self::load_with(spec, device, &|weights, config| {
            load_encoder(weights, config, architecture)
        })
    }

    /// Loads the model a spec names with an architecture of one's own:
    /// `architecture` makes the network from the checkpoint's weights and
    /// the directory's config; tokenization, batching, pooling, Dense and
    /// Normalize stay the directory's.
    pub fn load_with(
        spec: &ModelSpec,
        device: DeviceChoice,
        architecture: &LoadArchitecture<'_>,
    ) -> Result<Self, EncoderError> {
        let layout = TransformerLayout::read(&spec.path)?;
        let (device, precision) = Precision::resolve(device, spec.dtype)?;
        let max_length = spec.max_seq_length.unwrap_or(layout.max_seq_length);
        let tokenizer = encoder_tokenizer(&spec.path, layout.config.vocab_size, max_length)?;
        let weights = Weights::read(&spec.path, device, precision)?
            .with_prefix_of("embeddings.word_embeddings.weight");
        let model = architecture(&weights, &layout.config)?;
        let pooling = spec.pooling.unwrap_or(layout.pooling);
        let normalize = spec.normalize.unwrap_or(layout.normalize);
        let mut fingerprint = Fingerprint::new("torch-v1");
        for file in weights.files().iter().chain(&tokenizer_files(&spec.path)) {
            fingerprint.file(file)?;
        }
        fingerprint
            .file(&spec.path.join("config.json"))?
            .field("pooling", format!("{pooling:?}"))
            .field("include_prompt", layout.include_prompt)
            .field("normalize", normalize)
            .field("max_length", max_length)
            .field("dtype", format!("{:?}", spec.dtype));
        let mut dim = layout.config.hidden_size;
        let mut dense = Vec::new();
        for layer in &layout.dense {
            let w = Weights::read(&layer.dir, device, Precision::unquantized(Kind::Float))?;
            for file in w.files() {
                fingerprint.file(file)?;
            }
            fingerprint.field("activation", format!("{:?}", layer.activation));
            if layer.in_features != dim {
                return Err(EncoderError::format(
                    &layer.dir,
                    format!(
                        "Dense expects {} inputs, the previous module gives {dim}",
                        layer.in_features
                    ),
                ));
            }
            let linear = Linear::load(
                &w,
                "linear",
                layer.in_features as i64,
                layer.out_features as i64,
                layer.bias,
            )?;
            dense.push(Dense {
                linear,
                activation: layer.activation,
            });
            dim = layer.out_features;
        }
        Ok(Self {
            id: spec.id.clone(),
            prompts: spec.prompts.clone(),
            tokenizer,
            network: Mutex::new(Network {
                transformer: model,
                dense,
            }),
            pooling,
            include_prompt: layout.include_prompt,
            normalize,
            fingerprint: fingerprint.finish(),
            pad_token_id: layout.config.pad_token_id,
            dim,
            device,
            token_budget: DEFAULT_TOKEN_BUDGET,
        })
    }

    /// The same encoder with at most `tokens` padded tokens per forward pass.
    pub fn with_token_budget(mut self, tokens: usize) -> Self {
        self.token_budget = tokens.max(1);
        self
    }

    /// Embeds texts in batches of similar length, the longest first, handing
    /// each batch to `sink` as it is done; the first `skip` tokens of each
    /// text are left out of pooling.
    fn embed_streaming(
        &self,
        texts: &[&str],
        skip: usize,
        sink: &mut Sink<'_>,
    ) -> Result<(), EncoderError> {
        let encodings = profile::time(Stage::Tokenize, || {
            self.tokenizer.encode_batch_fast(texts.to_vec(), true)
        })
        .map_err(|e| EncoderError::Tokenize {
            index: 0,
            message: e.to_string(),
        })?;
        let order = profile::time(Stage::Batch, || {
            let mut order: Vec<usize> = (0..encodings.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
            order
        });
        let network = self
            .network
            .lock()
            .map_err(|_| EncoderError::Backend("a previous encode panicked".into()))?;
        let lengths: Vec<usize> = order.iter().map(|&i| encodings[i].len()).collect();
        for range in token_batches(&lengths, self.token_budget, MAX_BATCH) {
            let batch = &order[range];
            let vectors = tch::no_grad(|| self.forward_batch(&network, batch, &encodings, skip))
                .map_err(TorchError::from)?;
            if sink(batch, Embeddings::from_rows(self.dim, vectors)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn forward_batch(
        &self,
        network: &Network,
        batch: &[usize],
        encodings: &[Encoding],
        skip: usize,
    ) -> Result<Vec<f32>, TchError> {
        let length = encodings[batch[0]].len();
        let (ids, mask) = profile::time(Stage::Batch, || {
            let rows: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].get_ids()).collect();
            padded_ids(&rows, self.pad_token_id, self.device)
        })?;
        let states = network
            .transformer
            .forward(&ids, &mask)?
            .f_to_kind(Kind::Float)?;
        profile::time(Stage::Pool, || {
            self.pool_states(network, &states, mask, length, skip)
        })
    }

    /// Sentence vectors from a batch's token states: pooled (leaving the
    /// first `skip` tokens out), through the Dense layers, normalised.
    fn pool_states(
        &self,
        network: &Network,
        states: &Tensor,
        mask: Tensor,
        length: usize,
        skip: usize,
    ) -> Result<Vec<f32>, TchError> {
        let pooling_mask = if skip > 0 {
            let keep =
                Tensor::f_arange(length as i64, (Kind::Int64, self.device))?.f_ge(skip as i64)?;
            mask.f_mul(&keep)?
        } else {
            mask
        };
        let mut pooled = pool(self.pooling, states, &pooling_mask)?;
        for dense in &network.dense {
            pooled = dense.linear.forward(&pooled)?;
            if dense.activation == Activation::Tanh {
                pooled = pooled.f_tanh()?;
            }
        }
        if self.normalize {
            let norm = pooled
                .f_norm_scalaropt_dim(2, [1], true)?
                .f_clamp_min(1e-12)?;
            pooled = pooled.f_div(&norm)?;
        }
        Vec::<f32>::try_from(pooled.f_to_device(Device::Cpu)?.f_flatten(0, -1)?)
    }
}

/// Sentence vectors `[batch, hidden]` from token states and a 0/1 mask.
fn pool(pooling: Pooling, states: &Tensor, mask: &Tensor) -> Result<Tensor, TchError> {
    let mask = mask.f_unsqueeze(-1)?.f_to_kind(Kind::Float)?;
    match pooling {
        Pooling::Cls => states.f_select(1, 0),
        Pooling::Mean => {
            let sum =
                states
                    .f_mul(&mask)?
                    .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Float)?;
            let count = mask
                .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Float)?
                .f_clamp_min(1e-9)?;
            sum.f_div(&count)
        }
        Pooling::Max => {
            // As sentence-transformers: padding set to -1e9 before the maximum.
            let masked = states.f_masked_fill(&mask.f_eq(0.0)?, -1e9)?;
            Ok(masked.f_max_dim(1, false)?.0)
        }
    }
}

fn encoder_tokenizer(
    dir: &Path,
    vocab_size: usize,
    max_length: usize,
) -> Result<Tokenizer, EncoderError> {
    let mut tokenizer = miners_encoders::tokenizer::load_tokenizer(dir)?;
    let files = tokenizer_files(dir);
    let path = files.first().map_or(dir, |file| file.as_path());
    let size = tokenizer.get_vocab_size(true);
    if size > vocab_size {
        return Err(EncoderError::format(
            path,
            format!("the tokenizer has {size} tokens but config.json's vocab_size is {vocab_size}"),
        ));
    }
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length,
            ..Default::default()
        }))
        .map_err(|e| EncoderError::format(path, e.to_string()))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

impl Encoder for TorchEncoder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// sentence-transformers strips every input after prepending the prompt.
    fn preparation(&self) -> TextPreparation {
        TextPreparation::SentenceTransformers
    }

    fn encode_raw(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        collect_in_order(texts.len(), self.dim, |sink| {
            self.encode_raw_streaming(texts, role, sink)
        })
    }

    /// All the texts length-sorted together, not in chunks.
    fn encode_raw_streaming(
        &self,
        texts: &[&str],
        _role: Role,
        sink: &mut Sink<'_>,
    ) -> Result<(), EncoderError> {
        self.embed_streaming(texts, 0, sink)
    }

    /// [`TorchEncoder::encode_streaming`], in input order.
    fn encode(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        collect_in_order(texts.len(), self.dim, |sink| {
            self.encode_streaming(texts, role, sink)
        })
    }

    /// Prepares each text once; with `include_prompt = false` the prompt's
    /// tokens (after the leading special token) are left out of pooling.
    fn encode_streaming(
        &self,
        texts: &[&str],
        role: Role,
        sink: &mut Sink<'_>,
    ) -> Result<(), EncoderError> {
        let prepared = self.prepare_all(texts, role);
        let refs: Vec<&str> = prepared.iter().map(String::as_str).collect();
        self.embed_streaming(&refs, self.prompt_skip(role)?, sink)
    }
}

impl TorchEncoder {
    /// The tokens of `role`'s prompt that pooling leaves out: none unless
    /// the model says `include_prompt = false`.
    fn prompt_skip(&self, role: Role) -> Result<usize, EncoderError> {
        match self.prompts.for_role(role) {
            Some(prompt) if !self.include_prompt => self.prompt_tokens(prompt),
            _ => Ok(0),
        }
    }

    /// Tokens of the prepared prompt with special tokens, minus the closing one
    /// (as sentence-transformers counts them).
    fn prompt_tokens(&self, prompt: &str) -> Result<usize, EncoderError> {
        let prompt = self.preparation().apply("", prompt).joined();
        let encoding =
            self.tokenizer
                .encode_fast(prompt, true)
                .map_err(|e| EncoderError::Tokenize {
                    index: 0,
                    message: e.to_string(),
                })?;
        Ok(encoding.len().saturating_sub(1))
    }
}
