//! Tasks as a trait: what the run layer hands a task, and what a task does
//! with it.

use std::fmt::Debug;

use miners_core::Lang;
use miners_datasets::{Dataset, DatasetSpec};
use miners_eval::{Progress, RecordSink, Retriever, RunOptions, Task, tune::TuneBy};

use crate::{CellRef, RunError, Session};

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

    /// Why the task leaves `dataset` out of a run over every dataset, though
    /// the dataset has what the task runs on (a cross-lingual pool on a
    /// dataset of one language); `None` runs it.
    fn skips(&self, dataset: &DatasetSpec) -> Option<String> {
        let _ = dataset;
        None
    }

    /// The cells a run on `dataset` scores, in the order it scores them:
    /// what a sweep's shards split a run by.
    fn cells(&self, dataset: &Dataset) -> Result<Vec<CellRef>, RunError>;

    /// The texts `cell` encodes under the item `limit`, queries then pool,
    /// as the run reads them: what a sweep's planner costs.
    fn cell_texts(
        &self,
        dataset: &Dataset,
        cell: &CellRef,
        limit: Option<usize>,
    ) -> Result<CellTexts, RunError>;

    /// Runs the task on `cx.dataset` with `cx.retriever`, each cell's records
    /// into `cx.sink` as soon as it is scored.
    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError>;
}

/// The texts a cell encodes: queries, then the pool they are ranked against.
pub type CellTexts = (Vec<String>, Vec<String>);

/// What a task runs with: the dataset and retriever opened for it, the
/// session that opens generators, the k values and item limit, and where
/// progress and records go.
pub struct Context<'r, 's> {
    /// The dataset, with its label option applied.
    pub dataset: &'r Dataset,
    /// The retriever.
    pub retriever: &'r Retriever,
    /// The retriever's encoders as the spec names them (catalog ids,
    /// directories, `hf:` references), for tasks that open them otherwise
    /// (fine-tuning).
    pub references: &'r [String],
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

/// The pool flags of a command line (feature `clap`): `--cross`, and
/// `--src-lang` for its language.
#[cfg(feature = "clap")]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PoolArgs {
    /// Cross-lingual: every test language uses the pool (neighbours or
    /// demonstrations) of --src-lang.
    #[arg(long)]
    pub cross: bool,
    /// Pool language of --cross (default: the dataset's usual source).
    #[arg(long, requires = "cross")]
    pub src_lang: Option<String>,
}

#[cfg(feature = "clap")]
impl PoolArgs {
    /// The pool the flags ask for.
    pub fn pool(&self) -> Pool {
        match self.cross {
            true => Pool::Cross {
                source: self.src_lang.clone(),
            },
            false => Pool::Own,
        }
    }
}
