//! Tasks as a trait: what the run layer hands a task, and what a task does
//! with it.

use std::fmt::Debug;

use miners_core::Lang;
use miners_datasets::Dataset;
use miners_eval::{Progress, RecordSink, Retriever, RunOptions, Task, tune::TuneBy};

use crate::{RunError, Session};

/// A task the run layer can run. The four MINERS tasks implement it (their
/// specs, [`crate::BitextSpec`] and the rest); a task of your own does too,
/// and runs through [`crate::RunTask::Custom`].
pub trait TaskRun: Debug + Send + Sync {
    /// The task its records belong to.
    fn task(&self) -> Task;

    /// Whether the retriever encodes with its models' prompts unless the
    /// spec says: yes, as the reference does for everything but ICL.
    fn prompts_by_default(&self) -> bool {
        true
    }

    /// Whether the task learns DistFuse weights on a validation split when
    /// the retriever asks for it ([`Context::tuning`]): only classification.
    fn learns_weights(&self) -> bool {
        false
    }

    /// Runs the task on `cx.dataset` with `cx.retriever`, each cell's records
    /// into `cx.sink` as soon as it is scored.
    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError>;
}

/// What a task runs with: the dataset and retriever opened for it, the
/// session that opens generators, the k values and item limit, and where
/// progress and records go.
pub struct Context<'r, 's> {
    /// The dataset, with its label option applied.
    pub dataset: &'r Dataset,
    /// The retriever.
    pub retriever: &'r Retriever,
    /// Learned DistFuse weights, when the retriever asks for them.
    pub tuning: Option<&'r Tuning>,
    /// Opens generators (and further encoders).
    pub session: &'r mut Session<'s>,
    /// k values and item limit (`both_directions` is the bitext task's own).
    pub options: RunOptions,
    /// Where long steps report progress.
    pub progress: &'r dyn Progress,
    /// Where records go.
    pub sink: &'r mut dyn RecordSink,
}

/// Where DistFuse weights are learned: which languages share weights, and
/// whose validation split teaches them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// One set of weights per dataset or per language family.
    pub by: TuneBy,
    /// The languages learned on (empty: all of the dataset's). Every shard of
    /// a sweep learns on the job's languages, so all learn the same weights.
    pub langs: Vec<Lang>,
}

/// Where a classification or ICL run draws its neighbours from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Pool {
    /// Each test language from its own pool (monolingual; code-switched data
    /// records its own setting).
    #[default]
    Own,
    /// Every test language from the pool of `source` (default: the dataset's
    /// usual source language).
    Cross {
        /// The pool language.
        source: Option<String>,
    },
}

impl Pool {
    /// The pool language on `dataset`: none for its own pool, else the one
    /// named (which it must have) or its usual source.
    pub fn source(&self, dataset: &Dataset) -> Result<Option<Lang>, RunError> {
        match self {
            Self::Own => Ok(None),
            Self::Cross { source } => miners_eval::cross_source(dataset, source.as_deref())
                .map(Some)
                .map_err(|error| RunError::Config(format!("cross-lingual pool: {error}"))),
        }
    }
}
