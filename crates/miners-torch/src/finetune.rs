//! Fine-tuning an encoder with a classification head: the reference's
//! `finetune_baseline.py` (transformers' `Trainer` over
//! `AutoModelForSequenceClassification`) on libtorch.
//!
//! The head is transformers': for BERT a tanh pooler on `[CLS]`, dropout and
//! a linear classifier; for XLM-R `RobertaClassificationHead` (dropout,
//! dense, tanh, dropout, projection) on `<s>`. Head weights a checkpoint
//! lacks start as transformers starts them: normal with the config's
//! `initializer_range`, zero biases, drawn from libtorch's generator seeded
//! with [`FineTuning::seed`].
//!
//! Training is `Trainer`'s defaults as the reference sets them: AdamW (β
//! 0.9, 0.999, ε 1e-8) with weight decay on every tensor but biases and
//! LayerNorms, a learning rate decaying linearly to 0 over all steps,
//! gradients clipped to norm 1, dropout as the config says, one evaluation
//! per epoch, early stopping after `patience` epochs without a strictly
//! better validation accuracy, and the best epoch's weights kept. Batches
//! are padded to their longest text where the reference pads every text to
//! 512 tokens; masked positions change no result beyond float rounding.
//! AdamW and the gradient clipping run fused, one pass over each tensor
//! (`adamw`), where `Trainer` on CPU runs a kernel per operation; dropout
//! masks come from the run's own seeded stream (`dropout`), where libtorch
//! draws them one by one from its process-wide generator.
//! Batches are shuffled each epoch with libtorch's generator seeded with
//! the seed, not with `Trainer`'s sampler stream; fresh heads draw from it
//! too. A run is repeatable bit for bit on CPU, unless another thread draws
//! from libtorch's generator meanwhile.

use std::{path::Path, time::Instant};

use miners_classify::{
    EpochLog, FineTune, FineTuneError, FineTuning, Labelled, TrainingLog, accuracy,
};
use miners_encoders::{
    layout::{Architecture, TransformerConfig, TransformerLayout},
    spec::{DType, DeviceChoice},
};
use serde::Deserialize;
use tch::{Device, Kind, TchError, Tensor};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use crate::{
    TorchError,
    adamw::AdamW,
    batch::padded_ids,
    dropout::{Dropout, DropoutMasks, dropout},
    layers::Linear,
    models::{Bert, Positions},
    precision::Precision,
    weights::Weights,
};

/// The parts of `config.json` fine-tuning reads beyond the encoder's.
#[derive(Debug, Deserialize)]
struct TrainingConfig {
    #[serde(default = "default_dropout")]
    hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    attention_probs_dropout_prob: f64,
    #[serde(default)]
    classifier_dropout: Option<f64>,
    #[serde(default = "default_initializer_range")]
    initializer_range: f64,
}

fn default_dropout() -> f64 {
    0.1
}

fn default_initializer_range() -> f64 {
    0.02
}

/// transformers' classification heads.
enum Head {
    /// BERT: `tanh(pooler([CLS]))`, dropout, classifier.
    Pooler { pooler: Linear, classifier: Linear },
    /// XLM-R: dropout, `tanh(dense(<s>))`, dropout, projection.
    Roberta { dense: Linear, out_proj: Linear },
}

/// An encoder with a classification head, trainable.
pub struct SequenceClassifier {
    encoder: Bert,
    head: Head,
    tokenizer: Tokenizer,
    device: Device,
    pad_token_id: i64,
    dropout: Dropout,
    labels: usize,
}

impl SequenceClassifier {
    /// The model in `dir` (BERT or XLM-R) with a head of `labels` outputs in
    /// float32 on `device`: the checkpoint's head where it has one, else a
    /// fresh one drawn with `seed`.
    pub fn load(
        dir: &Path,
        labels: usize,
        device: DeviceChoice,
        seed: u64,
    ) -> Result<Self, TorchError> {
        let config_path = dir.join("config.json");
        let layout = TransformerLayout::read(dir).map_err(TorchError::Tokenizer)?;
        let training: TrainingConfig = read_config(&config_path)?;
        let (device, _) = Precision::resolve(device, DType::Float32)?;
        let root = Weights::read(dir, device, Precision::unquantized(Kind::Float))?;
        let weights = root
            .clone()
            .with_prefix_of("embeddings.word_embeddings.weight");
        let positions = match layout.architecture {
            Architecture::Bert => Positions::FromZero,
            Architecture::XlmRoberta => Positions::AfterPadding,
        };
        let encoder = Bert::load(&weights, &layout.config, positions)?;
        tch::manual_seed(seed as i64);
        let init = Init {
            std: training.initializer_range,
            device,
            hidden: layout.config.hidden_size as i64,
            labels: labels as i64,
        };
        let head = match layout.architecture {
            Architecture::Bert => Head::Pooler {
                pooler: init.square(&weights, "pooler.dense")?,
                classifier: init.output(&root, "classifier")?,
            },
            Architecture::XlmRoberta => Head::Roberta {
                dense: init.square(&root, "classifier.dense")?,
                out_proj: init.output(&root, "classifier.out_proj")?,
            },
        };
        Ok(Self {
            encoder,
            head,
            tokenizer: training_tokenizer(dir, &layout.config, positions)?,
            device,
            pad_token_id: layout.config.pad_token_id,
            dropout: Dropout {
                hidden: training.hidden_dropout_prob,
                attention: training.attention_probs_dropout_prob,
                classifier: training
                    .classifier_dropout
                    .unwrap_or(training.hidden_dropout_prob),
            },
            labels,
        })
    }

    /// Logits `[texts, labels]` in evaluation mode, a batch of `batch` texts at a time.
    pub fn logits(&self, texts: &[&str], batch: usize) -> Result<Vec<Vec<f32>>, TorchError> {
        let encodings = self.encode(texts)?;
        let mut rows = Vec::with_capacity(texts.len());
        for chunk in encodings.chunks(batch.max(1)) {
            let logits = tch::no_grad(|| self.forward(chunk, None))?;
            let logits = logits.f_to_device(Device::Cpu)?;
            for row in 0..chunk.len() as i64 {
                rows.push(Vec::<f32>::try_from(logits.f_get(row)?)?);
            }
        }
        Ok(rows)
    }

    /// The best-scoring label of each text, `batch` texts at a time.
    fn predict_ids(&self, texts: &[&str], batch: usize) -> Result<Vec<usize>, TorchError> {
        Ok(self
            .logits(texts, batch)?
            .iter()
            .map(|row| argmax(row))
            .collect())
    }

    /// [`FineTune::fine_tune`], in libtorch's errors.
    fn train(
        &mut self,
        train: Labelled<'_>,
        valid: Option<Labelled<'_>>,
        config: &FineTuning,
        on_step: &mut dyn FnMut(usize, f64),
    ) -> Result<TrainingLog, TorchError> {
        self.check(train)?;
        if let Some(valid) = valid {
            self.check(valid)?;
        }
        let encodings = self.encode(train.texts)?;
        let parameters = self.parameters()?;
        let mut optimizer = optimizer(&parameters, config)?;
        let per_epoch = train.texts.len().div_ceil(config.batch_size.max(1));
        let total = config.max_steps.unwrap_or(per_epoch * config.epochs);
        let mut log = TrainingLog::default();
        let mut best: Option<(f64, Vec<Tensor>)> = None;
        let mut waited = 0;
        tch::manual_seed(config.seed as i64);
        let masks = config
            .dropout
            .then(|| DropoutMasks::new(self.dropout, config.seed));
        for epoch in 1..=config.epochs {
            let started = Instant::now();
            let order = self.epoch_order(train.texts.len(), config.shuffle)?;
            let mut losses = Vec::new();
            for batch in order.chunks(config.batch_size.max(1)) {
                if log.losses.len() == total {
                    break;
                }
                let lr = config.learning_rate * (total - log.losses.len()) as f64 / total as f64;
                optimizer.set_learning_rate(lr);
                let loss = self.step(
                    &mut optimizer,
                    masks.as_ref(),
                    batch,
                    &encodings,
                    train,
                    config,
                )?;
                on_step(log.losses.len(), loss);
                log.losses.push(loss);
                losses.push(loss);
            }
            let accuracy = match valid {
                Some(valid) => Some(accuracy(
                    &self.predict_ids(valid.texts, config.batch_size)?,
                    valid.labels,
                )),
                None => None,
            };
            log.epochs.push(EpochLog {
                epoch,
                mean_loss: losses.iter().sum::<f64>() / losses.len().max(1) as f64,
                valid_accuracy: accuracy,
                seconds: started.elapsed().as_secs_f64(),
            });
            match (accuracy, &best) {
                (None, _) => {}
                (Some(accuracy), Some((score, _))) if accuracy <= *score => waited += 1,
                (Some(accuracy), _) => {
                    best = Some((accuracy, snapshot(&parameters)?));
                    log.best_epoch = Some(epoch);
                    waited = 0;
                }
            }
            if waited >= config.patience || log.losses.len() == total {
                break;
            }
        }
        if let Some((_, weights)) = best {
            restore(&parameters, &weights)?;
        }
        for (_, tensor) in &parameters {
            let _ = tensor.set_requires_grad(false);
        }
        Ok(log)
    }

    /// One optimisation step on the texts `batch` names: forward, loss,
    /// backward, clip, AdamW; the batch's mean loss.
    fn step(
        &self,
        optimizer: &mut AdamW,
        dropout: Option<&DropoutMasks>,
        batch: &[usize],
        encodings: &[Encoding],
        train: Labelled<'_>,
        config: &FineTuning,
    ) -> Result<f64, TorchError> {
        let chosen: Vec<Encoding> = batch.iter().map(|&i| encodings[i].clone()).collect();
        let labels: Vec<i64> = batch.iter().map(|&i| train.labels[i] as i64).collect();
        let labels = Tensor::from_slice(&labels).f_to_device(self.device)?;
        optimizer.zero_grad()?;
        let loss = self
            .forward(&chosen, dropout)?
            .f_cross_entropy_loss::<Tensor>(&labels, None, tch::Reduction::Mean, -100, 0.0)?;
        loss.f_backward()?;
        optimizer.clip_and_step(config.max_grad_norm)?;
        Ok(loss.f_double_value(&[])?)
    }

    /// Logits of a batch of encodings, with `dropout` while training.
    fn forward(
        &self,
        batch: &[Encoding],
        dropout: Option<&DropoutMasks>,
    ) -> Result<Tensor, TchError> {
        let rows: Vec<&[u32]> = batch.iter().map(Encoding::get_ids).collect();
        let (ids, mask) = padded_ids(&rows, self.pad_token_id, self.device)?;
        let states = self.encoder.forward_with(&ids, &mask, dropout)?;
        let first = states.f_select(1, 0)?;
        let head_dropout = |x: Tensor| self::dropout(x, dropout, |r| r.classifier);
        match &self.head {
            Head::Pooler { pooler, classifier } => {
                let pooled = pooler.forward(&first)?.f_tanh()?;
                classifier.forward(&head_dropout(pooled)?)
            }
            Head::Roberta { dense, out_proj } => {
                let hidden = dense.forward(&head_dropout(first)?)?.f_tanh()?;
                out_proj.forward(&head_dropout(hidden)?)
            }
        }
    }

    /// Every trainable tensor, encoder then head, named as transformers does.
    fn parameters(&self) -> Result<Vec<(String, Tensor)>, TorchError> {
        let mut found = self.encoder.parameters()?;
        match &self.head {
            Head::Pooler { pooler, classifier } => {
                found.extend(pooler.parameters("pooler.dense")?);
                found.extend(classifier.parameters("classifier")?);
            }
            Head::Roberta { dense, out_proj } => {
                found.extend(dense.parameters("classifier.dense")?);
                found.extend(out_proj.parameters("classifier.out_proj")?);
            }
        }
        for (_, tensor) in &found {
            let _ = tensor.set_requires_grad(true);
        }
        Ok(found)
    }

    /// The training texts' order for one epoch.
    fn epoch_order(&self, n: usize, shuffle: bool) -> Result<Vec<usize>, TchError> {
        if !shuffle {
            return Ok((0..n).collect());
        }
        let order = Tensor::f_randperm(n as i64, (Kind::Int64, Device::Cpu))?;
        Ok(Vec::<i64>::try_from(order)?
            .into_iter()
            .map(|i| i as usize)
            .collect())
    }

    /// Token ids with special tokens, truncated to the model's length.
    fn encode(&self, texts: &[&str]) -> Result<Vec<Encoding>, TorchError> {
        self.tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| TorchError::Input(format!("tokenizer: {e}")))
    }

    /// Every label below the head's output count.
    fn check(&self, data: Labelled<'_>) -> Result<(), TorchError> {
        if data.texts.len() != data.labels.len() || data.texts.is_empty() {
            return Err(TorchError::Input(format!(
                "fine-tuning needs one label per text and at least one text ({} texts, {} labels)",
                data.texts.len(),
                data.labels.len()
            )));
        }
        match data.labels.iter().find(|&&l| l >= self.labels) {
            Some(label) => Err(TorchError::Input(format!(
                "label id {label} is out of range for a head of {} labels",
                self.labels
            ))),
            None => Ok(()),
        }
    }
}

/// Where a head's tensors come from: the checkpoint, or transformers' init.
struct Init {
    std: f64,
    device: Device,
    hidden: i64,
    labels: i64,
}

impl Init {
    /// A `hidden × hidden` layer `name` (a pooler or dense).
    fn square(&self, weights: &Weights, name: &str) -> Result<Linear, TorchError> {
        self.linear(weights, name, self.hidden)
    }

    /// The `labels × hidden` output layer `name`.
    fn output(&self, weights: &Weights, name: &str) -> Result<Linear, TorchError> {
        self.linear(weights, name, self.labels)
    }

    fn linear(&self, weights: &Weights, name: &str, outputs: i64) -> Result<Linear, TorchError> {
        if weights.has(&format!("{name}.weight")) {
            return Linear::load(weights, name, self.hidden, outputs, true);
        }
        let options = (Kind::Float, self.device);
        let weight = Tensor::f_randn([outputs, self.hidden], options)?.f_mul_scalar(self.std)?;
        let bias = Tensor::f_zeros([outputs], options)?;
        Ok(Linear::new(weight, Some(bias)))
    }
}

/// AdamW over `parameters`, decaying every tensor but biases and
/// LayerNorms, as `Trainer` groups them.
fn optimizer(parameters: &[(String, Tensor)], config: &FineTuning) -> Result<AdamW, TchError> {
    let decays: Vec<(Tensor, f64)> = parameters
        .iter()
        .map(|(name, tensor)| {
            let exempt = name.contains("bias") || name.contains("LayerNorm");
            let decay = if exempt { 0.0 } else { config.weight_decay };
            (tensor.shallow_clone(), decay)
        })
        .collect();
    AdamW::new(&decays)
}

/// Copies of the parameters' values.
fn snapshot(parameters: &[(String, Tensor)]) -> Result<Vec<Tensor>, TchError> {
    parameters.iter().map(|(_, t)| t.f_detach_copy()).collect()
}

/// Writes `saved` back into the parameters.
fn restore(parameters: &[(String, Tensor)], saved: &[Tensor]) -> Result<(), TchError> {
    tch::no_grad(|| {
        for ((_, tensor), value) in parameters.iter().zip(saved) {
            tensor.f_detach()?.f_copy_(value)?;
        }
        Ok(())
    })
}

/// The tokenizer the reference trains with: special tokens added, truncated
/// to `tokenizer_config.json`'s `model_max_length` within the position table.
fn training_tokenizer(
    dir: &Path,
    config: &TransformerConfig,
    numbering: Positions,
) -> Result<Tokenizer, TorchError> {
    #[derive(Deserialize)]
    struct TokenizerConfig {
        model_max_length: Option<f64>,
    }
    // XLM-R numbers real tokens from pad_token_id + 1.
    let positions = match numbering {
        Positions::FromZero => config.max_position_embeddings,
        Positions::AfterPadding => config
            .max_position_embeddings
            .saturating_sub(config.pad_token_id.max(0) as usize + 1),
    };
    let path = dir.join("tokenizer_config.json");
    let declared = match path.is_file() {
        true => read_config::<TokenizerConfig>(&path)?.model_max_length,
        false => None,
    };
    let max_length = declared.map_or(positions, |n| (n.min(positions as f64)) as usize);
    let mut tokenizer =
        miners_encoders::tokenizer::load_tokenizer(dir).map_err(TorchError::Tokenizer)?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length,
            ..Default::default()
        }))
        .map_err(|e| TorchError::model(&path, e.to_string()))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TorchError> {
    let text = std::fs::read_to_string(path).map_err(|e| TorchError::model(path, e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| TorchError::model(path, e.to_string()))
}

/// The index of the largest value (the first of ties).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &value) in row.iter().enumerate() {
        if value > row[best] {
            best = i;
        }
    }
    best
}

impl FineTune for SequenceClassifier {
    fn fine_tune(
        &mut self,
        train: Labelled<'_>,
        valid: Option<Labelled<'_>>,
        config: &FineTuning,
        on_step: &mut dyn FnMut(usize, f64),
    ) -> Result<TrainingLog, FineTuneError> {
        self.train(train, valid, config, on_step)
            .map_err(|e| FineTuneError(e.to_string()))
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<usize>, FineTuneError> {
        self.predict_ids(texts, EVAL_BATCH)
            .map_err(|e| FineTuneError(e.to_string()))
    }
}

/// Texts per forward pass when predicting (the reference's eval batch, 8).
const EVAL_BATCH: usize = 8;
