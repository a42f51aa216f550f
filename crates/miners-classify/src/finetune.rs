//! Fine-tuned classification, the reference's baseline
//! (`finetune_baseline.py`): what a run asks for ([`FineTuning`], the
//! reference's `Trainer` arguments), what it reports ([`TrainingLog`]), and
//! the [`FineTune`] trait a backend implements (libtorch:
//! `miners_torch::SequenceClassifier`).

use serde::{Deserialize, Serialize};

/// A classifier that can be fine-tuned and then predict label ids.
pub trait FineTune {
    /// Fine-tunes on `train`. With `valid`, evaluates after each epoch,
    /// stops early and keeps the weights of the best epoch; without, keeps
    /// the last. `on_step` hears each step's number and loss.
    fn fine_tune(
        &mut self,
        train: Labelled<'_>,
        valid: Option<Labelled<'_>>,
        config: &FineTuning,
        on_step: &mut dyn FnMut(usize, f64),
    ) -> Result<TrainingLog, FineTuneError>;

    /// The best-scoring label id of each text.
    fn predict(&self, texts: &[&str]) -> Result<Vec<usize>, FineTuneError>;
}

/// A fine-tuning backend's failure, in its words.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("fine-tuning: {0}")]
pub struct FineTuneError(pub String);

/// How to fine-tune: `Trainer`'s defaults with the reference's arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FineTuning {
    /// Peak learning rate (5e-5).
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay (0.01), on all but biases and LayerNorms.
    pub weight_decay: f64,
    /// Texts per step (8).
    pub batch_size: usize,
    /// Epochs at most (10).
    pub epochs: usize,
    /// Epochs without a better validation accuracy before stopping (2).
    pub patience: usize,
    /// Gradient norm clip (1.0).
    pub max_grad_norm: f64,
    /// Seeds the head's initialisation, dropout and the shuffles (42).
    pub seed: u64,
    /// Dropout as the model's config says (`Trainer`'s training mode); off
    /// for parity checks.
    pub dropout: bool,
    /// Shuffle the training texts each epoch; off keeps their order.
    pub shuffle: bool,
    /// Stop after this many steps (the schedule then spans them), as
    /// `TrainingArguments.max_steps`.
    pub max_steps: Option<usize>,
}

impl Default for FineTuning {
    fn default() -> Self {
        Self {
            learning_rate: 5e-5,
            weight_decay: 0.01,
            batch_size: 8,
            epochs: 10,
            patience: 2,
            max_grad_norm: 1.0,
            seed: 42,
            dropout: true,
            shuffle: true,
            max_steps: None,
        }
    }
}

/// Texts with their label ids.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    /// The texts.
    pub texts: &'a [&'a str],
    /// One label id per text, below the classifier's label count.
    pub labels: &'a [usize],
}

/// What a fine-tuning run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingLog {
    /// The loss of every step, in order.
    pub losses: Vec<f64>,
    /// One entry per epoch run.
    pub epochs: Vec<EpochLog>,
    /// The epoch whose weights were kept (1-based), when epochs were
    /// evaluated; otherwise the last weights are kept.
    pub best_epoch: Option<usize>,
}

/// One epoch of a fine-tuning run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over its steps.
    pub mean_loss: f64,
    /// Accuracy on the validation texts after it, when there are some.
    pub valid_accuracy: Option<f64>,
    /// Wall time of its steps and evaluation.
    pub seconds: f64,
}

/// The share of predictions equal to their labels.
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    let right = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    right as f64 / labels.len().max(1) as f64
}
