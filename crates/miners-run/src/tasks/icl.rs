//! In-context learning: the generator is opened through the session, the
//! prompt is the dataset's instruction unless the spec gives one.

use miners_core::Lang;
use miners_datasets::Dataset;
use miners_eval::{IclRun, Task, run_icl};
use miners_icl::{Prompt, ScoringKind, Selection};

use crate::{
    CellRef, CellTexts, Context, Pool, RunError, TaskRun,
    tasks::classification::{cell_plan, lang_cells},
};

/// In-context learning: retrieved demonstrations in a prompt, a generator
/// scores or generates the label.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct IclSpec {
    /// Generator: a `[[generator]]` id of the catalog, `hf:<org>/<name>[@<revision>]`
    /// or a model directory.
    #[cfg_attr(feature = "clap", arg(long))]
    pub generator: String,
    /// Only these test languages (repeatable; default all).
    #[cfg_attr(feature = "clap", arg(long = "lang"))]
    pub langs: Vec<Lang>,
    /// Where the demonstrations come from.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub pool: Pool,
    /// Which retrieved texts become demonstrations.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub selection: Selection,
    /// Instruction text (default: the paper's for the dataset).
    #[cfg_attr(feature = "clap", arg(long))]
    pub instruction: Option<String>,
    /// Add the `Options:` line listing the labels to log-probability prompts;
    /// the reference lists options only when generating, so off by default.
    #[cfg_attr(feature = "clap", arg(long))]
    pub options: bool,
    /// How answers are read: `logprob` (each label's log-probability) or
    /// `generate` (chat template, generation, exact match). Default: the
    /// generator's catalog setting.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub scoring: Option<ScoringKind>,
    /// Generation: seed of the sampled answers.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 42))]
    pub seed: u64,
    /// Generation: decode greedily instead of the reference's sampling
    /// (temperature 0.2, top-p 1).
    #[cfg_attr(feature = "clap", arg(long))]
    pub greedy: bool,
}

impl TaskRun for IclSpec {
    fn task(&self) -> Task {
        Task::Icl
    }

    /// The reference retrieves ICL demonstrations without prompts.
    fn prompts_by_default(&self) -> bool {
        false
    }

    fn cells(&self, dataset: &Dataset) -> Result<Vec<CellRef>, RunError> {
        lang_cells(dataset, &self.langs, &self.pool)
    }

    /// The pool stays whole; the limit spreads over the test split.
    fn cell_texts(
        &self,
        dataset: &Dataset,
        cell: &CellRef,
        limit: Option<usize>,
    ) -> Result<CellTexts, RunError> {
        let (lang, pool_lang, plan) = cell_plan(dataset, cell, &self.pool)?;
        let pool = dataset.load_classification(&pool_lang, plan.pool, None)?;
        let test = dataset.load_classification(&lang, plan.test, None)?;
        Ok((test.spread(limit).texts, pool.texts))
    }

    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError> {
        let plan = cx.dataset.spec().classification.ok_or_else(|| {
            RunError::Config(format!(
                "{}: ICL needs a classification dataset",
                cx.dataset.spec().name
            ))
        })?;
        let cross_source = self.pool.source(cx.dataset)?;
        let (generator, entry) = cx.session.generator(&self.generator)?;
        let instruction = self.instruction.as_deref().unwrap_or(plan.instruction);
        let run = IclRun {
            langs: self.langs.clone(),
            cross_source,
            selection: self.selection.clone(),
            prompt: Prompt::new(instruction).with_options(self.options),
            scoring: entry.run_scoring(self.scoring, self.seed, self.greedy),
            ks: cx.options.ks.clone(),
            limit: cx.options.limit,
        };
        run_icl(
            cx.dataset,
            cx.retriever,
            generator,
            &run,
            cx.progress,
            cx.sink,
        )?;
        Ok(())
    }
}
