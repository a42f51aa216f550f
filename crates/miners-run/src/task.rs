//! Tasks as a trait: what the run layer hands a task, and what a task does
//! with it.

use std::fmt::Debug;

use miners_datasets::Dataset;
use miners_eval::{Progress, RecordSink, Retriever, RunOptions, Task};

use crate::{RunError, Session, Tuning};

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
