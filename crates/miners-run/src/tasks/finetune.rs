//! The reference's fine-tuned baseline: the encoder with a classification
//! head, trained on each test language's training split.

use miners_classify::FineTuning;
use miners_core::Lang;
use miners_datasets::{Dataset, DatasetSpec};
use miners_eval::{EvalError, FineTuneRun, Task, run_finetune};

use crate::{CellRef, CellTexts, Context, Pool, RunError, TaskRun};

use super::classification::{cell_plan, cross_skip, lang_cells};

/// Fine-tuning: which test languages, and the recipe (the reference's
/// `Trainer` arguments by default).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct FineTuneSpec {
    /// Only these test languages (repeatable; default all).
    #[cfg_attr(feature = "clap", arg(long = "lang"))]
    pub langs: Vec<Lang>,
    /// Where the model learns: each test language on its own (the
    /// reference), or one model on a source language for all.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub pool: Pool,
    /// Epochs at most (the reference: 10, early stopping after 2 without a gain).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 10))]
    pub epochs: usize,
    /// Peak learning rate, decaying linearly to 0.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 5e-5))]
    pub learning_rate: f64,
    /// Texts per step.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 8))]
    pub batch_size: usize,
    /// Seeds the head, dropout and the shuffles.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 42))]
    pub seed: u64,
}

impl Default for FineTuneSpec {
    fn default() -> Self {
        let recipe = FineTuning::default();
        Self {
            langs: Vec::new(),
            pool: Pool::Own,
            epochs: recipe.epochs,
            learning_rate: recipe.learning_rate,
            batch_size: recipe.batch_size,
            seed: recipe.seed,
        }
    }
}

impl FineTuneSpec {
    /// The recipe: the reference's, with this spec's epochs, rate, batch and seed.
    pub fn recipe(&self) -> FineTuning {
        FineTuning {
            epochs: self.epochs,
            learning_rate: self.learning_rate,
            batch_size: self.batch_size,
            seed: self.seed,
            ..FineTuning::default()
        }
    }
}

impl TaskRun for FineTuneSpec {
    fn task(&self) -> Task {
        Task::FineTune
    }

    /// The reference fine-tunes on the texts as they are (`--prompt ""`).
    fn prompts_by_default(&self) -> bool {
        false
    }

    fn skips(&self, dataset: &DatasetSpec) -> Option<String> {
        cross_skip(&self.pool, dataset)
    }

    fn cells(&self, dataset: &Dataset) -> Result<Vec<CellRef>, RunError> {
        lang_cells(dataset, &self.langs, &self.pool)
    }

    /// The test texts, then the training texts (the source's, crossing).
    fn cell_texts(
        &self,
        dataset: &Dataset,
        cell: &CellRef,
        limit: Option<usize>,
    ) -> Result<CellTexts, RunError> {
        let (lang, trained_on, plan) = cell_plan(dataset, cell, &self.pool)?;
        let train = dataset.load_classification(&trained_on, plan.pool, limit)?;
        let test = dataset.load_classification(&lang, plan.test, limit)?;
        Ok((test.texts, train.texts))
    }

    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError> {
        let [reference] = cx.references else {
            return Err(RunError::Config(format!(
                "fine-tuning trains one encoder; {} were given",
                cx.references.len()
            )));
        };
        let models = cx.session.models().clone();
        let mut open = |labels, seed| {
            models
                .open_fine_tuner(reference, labels, seed)
                .map_err(|e| EvalError::Config(e.to_string()))
        };
        let run = FineTuneRun {
            langs: self.langs.clone(),
            cross_source: self.pool.source(cx.dataset)?,
            recipe: self.recipe(),
        };
        run_finetune(
            cx.dataset,
            cx.retriever,
            &run,
            &mut open,
            &cx.options,
            cx.progress,
            cx.sink,
        )?;
        Ok(())
    }
}
