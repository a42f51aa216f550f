//! Retrieval-based classification, with DistFuse weights learned per group
//! of languages when the retriever asks for it.

use miners_classify::Vote;
use miners_core::Lang;
use miners_datasets::{ClassificationPlan, Dataset, DatasetSpec};
use miners_eval::{
    ClassificationRun, Retriever, Task, run_classification,
    tune::{TunedGroup, tuned_retrievers},
};

use crate::{CellRef, CellTexts, Context, Pool, RunError, TaskRun, Tuning};

/// Retrieval-based classification: the k nearest labelled texts vote.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ClassificationSpec {
    /// Only these test languages (repeatable; default all).
    #[cfg_attr(feature = "clap", arg(long = "lang"))]
    pub langs: Vec<Lang>,
    /// Where the neighbours come from.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub pool: Pool,
    /// Voting rule.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = Vote::Majority))]
    pub vote: Vote,
}

impl TaskRun for ClassificationSpec {
    fn task(&self) -> Task {
        Task::Classification
    }

    fn learns_weights(&self) -> bool {
        true
    }

    fn skips(&self, dataset: &DatasetSpec) -> Option<String> {
        cross_skip(&self.pool, dataset)
    }

    fn cells(&self, dataset: &Dataset) -> Result<Vec<CellRef>, RunError> {
        lang_cells(dataset, &self.langs, &self.pool)
    }

    fn cell_texts(
        &self,
        dataset: &Dataset,
        cell: &CellRef,
        limit: Option<usize>,
    ) -> Result<CellTexts, RunError> {
        let (lang, pool_lang, plan) = cell_plan(dataset, cell, &self.pool)?;
        let pool = dataset.load_classification(&pool_lang, plan.pool, limit)?;
        let test = dataset.load_classification(&lang, plan.test, limit)?;
        Ok((test.texts, pool.texts))
    }

    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError> {
        let cross_source = self.pool.source(cx.dataset)?;
        for (retriever, langs) in self.groups(cx)? {
            let run = ClassificationRun {
                langs,
                cross_source: cross_source.clone(),
                vote: self.vote,
            };
            run_classification(
                cx.dataset,
                &retriever,
                &run,
                &cx.options,
                cx.progress,
                cx.sink,
            )?;
        }
        Ok(())
    }
}

impl ClassificationSpec {
    /// The retrievers to run and the test languages of each: the context's
    /// for all languages, or one per tuning group, each running the
    /// languages of this spec it has (all of the group's when the spec
    /// names none).
    fn groups(&self, cx: &Context<'_, '_>) -> Result<Vec<(Retriever, Vec<Lang>)>, RunError> {
        let Some(Tuning { by, langs }) = cx.tuning else {
            return Ok(vec![(cx.retriever.clone(), self.langs.clone())]);
        };
        let k = cx.options.ks.iter().copied().max().unwrap_or(10);
        let groups = tuned_retrievers(cx.dataset, cx.retriever, langs, k, *by, cx.progress)?;
        let mut runs = Vec::new();
        for TunedGroup {
            group,
            langs,
            retriever,
            tuned,
        } in groups
        {
            cx.progress.note(&tuned.describe(&group));
            let langs: Vec<Lang> = match self.langs.is_empty() {
                true => langs,
                false => self
                    .langs
                    .iter()
                    .filter(|l| langs.contains(l))
                    .cloned()
                    .collect(),
            };
            if !langs.is_empty() {
                runs.push((retriever, langs));
            }
        }
        Ok(runs)
    }
}

/// Why a cross-lingual run leaves `dataset` out: it has a single language.
pub(crate) fn cross_skip(pool: &Pool, dataset: &DatasetSpec) -> Option<String> {
    let cross = matches!(pool, Pool::Cross { .. });
    let single = dataset
        .classification
        .is_some_and(|p| p.cross_source.is_none());
    (cross && single).then(|| {
        format!(
            "{} has a single language; nothing to cross to",
            dataset.name
        )
    })
}

/// The cells of a classification or ICL run: its test languages (all of
/// the dataset's when it names none) but the pool's own.
pub(crate) fn lang_cells(
    dataset: &Dataset,
    langs: &[Lang],
    pool: &Pool,
) -> Result<Vec<CellRef>, RunError> {
    let source = pool.source(dataset)?;
    let langs = match langs.is_empty() {
        true => dataset.classification_langs()?,
        false => langs.to_vec(),
    };
    Ok(langs
        .into_iter()
        .filter(|lang| Some(lang) != source.as_ref())
        .map(|lang| CellRef::Lang(lang.to_string()))
        .collect())
}

/// A language cell's test language, its pool's language and the dataset's
/// splits.
pub(crate) fn cell_plan(
    dataset: &Dataset,
    cell: &CellRef,
    pool: &Pool,
) -> Result<(Lang, Lang, ClassificationPlan), RunError> {
    let lang = cell
        .lang()
        .ok_or_else(|| RunError::Config(format!("cell {cell}: not a test language")))?;
    let plan = dataset.spec().classification.ok_or_else(|| {
        RunError::Config(format!(
            "{}: not a classification dataset",
            dataset.spec().name
        ))
    })?;
    let pool_lang = pool.source(dataset)?.unwrap_or_else(|| lang.clone());
    Ok((lang, pool_lang, plan))
}
