//! The one way to run a MINERS task.
//!
//! A [`RunSpec`] names the task, the dataset, the retriever
//! ([`RetrieverSpec`]: encoders, weights, normalisation, metric, hubness,
//! prompts, learned weights), the k values and the task's own settings
//! ([`RunTask`]: pairs, languages and pool, vote, generator and demonstration
//! selection). [`run`] opens the dataset, assembles the retriever through a
//! [`Session`] (which opens each model once across runs) and hands both to
//! the task, a [`TaskRun`], whose records go to a
//! [`RecordSink`] cell by cell.
//!
//! The CLI fills a `RunSpec` from its flags, the sweep from each job and the
//! cells of its shard, and a program by hand:
//!
//! ```no_run
//! use miners_datasets::DataDir;
//! use miners_eval::{Quiet, ResultRecord};
//! use miners_models::Models;
//! use miners_run::{BitextSpec, RetrieverSpec, RunSpec, Session, RunTask, run};
//!
//! let spec = RunSpec {
//!     dataset: "nusax".into(),
//!     label_option: None,
//!     retriever: RetrieverSpec::single("static-tokenlearn"),
//!     ks: vec![1, 5, 10],
//!     limit: Some(50),
//!     task: RunTask::Bitext(BitextSpec::default()),
//! };
//! let models = Models::from_file("models.toml".as_ref()).unwrap();
//! let mut session = Session::new(&models, None);
//! let mut records: Vec<ResultRecord> = Vec::new();
//! run(&spec, &mut session, &DataDir::resolve(None).unwrap(), &Quiet, &mut records).unwrap();
//! println!("{} records", records.len());
//! ```

mod cell;
mod session;
mod spec;
mod task;
mod tasks;

use std::sync::Arc;

use miners_datasets::{DataDir, Dataset, DatasetError, DatasetSpec, registry};
use miners_eval::{Progress, RecordSink, RunOptions, Task};

pub use cell::CellRef;
pub use session::Session;
pub use spec::{RetrieverSpec, RunSpec, RunTask};
#[cfg(feature = "clap")]
pub use task::PoolArgs;
pub use task::{CellTexts, Context, Pool, TaskRun, Tuning};
pub use tasks::{
    BitextSpec, ClassificationSpec, FineTuneSpec, IclSpec, MiningSpec, PairSelection,
    laser_ranking, selected_pairs,
};

/// Errors of a run; wraps the component that failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Loading data failed.
    #[error(transparent)]
    Dataset(#[from] miners_datasets::DatasetError),
    /// Opening a model failed.
    #[error(transparent)]
    Models(#[from] miners_models::ModelsError),
    /// A generator could not be opened.
    #[error("generator {reference}: {source}")]
    Generator {
        /// The reference given.
        reference: String,
        /// Why.
        source: miners_models::ModelsError,
    },
    /// Running the task failed.
    #[error(transparent)]
    Eval(#[from] miners_eval::EvalError),
    /// The spec asks for something impossible.
    #[error("{0}")]
    Config(String),
}

/// Runs `spec`: opens its dataset in `data` and its retriever through
/// `session`, then runs its task, each cell's records into `sink`.
pub fn run(
    spec: &RunSpec,
    session: &mut Session<'_>,
    data: &DataDir,
    progress: &dyn Progress,
    sink: &mut dyn RecordSink,
) -> Result<(), RunError> {
    let task = spec.task.runner();
    let dataset = open_dataset(spec, task.task(), data)?;
    if spec.retriever.tuning.is_some() && !task.learns_weights() {
        return Err(RunError::Config(format!(
            "{}: learned DistFuse weights are for classification",
            task.task().name()
        )));
    }
    let retriever = spec
        .retriever
        .open_for(session, task.prompts_by_default())?;
    let mut cx = Context {
        dataset: &dataset,
        retriever: &retriever,
        references: &spec.retriever.encoders,
        tuning: spec.retriever.tuning.as_ref(),
        session,
        options: RunOptions {
            ks: spec.ks.clone(),
            limit: spec.limit,
            both_directions: false,
        },
        progress,
        sink,
    };
    task.run(&mut cx)
}

/// The datasets `task` runs on, in registry order: those of `wanted` (an
/// absent one is an error), or every one the data directory has when
/// `wanted` is empty, with the absent ones and why beside them. A dataset
/// that is absent but has a substitute is left to the substitute's own entry.
#[allow(clippy::type_complexity)]
pub fn present_datasets(
    data: &DataDir,
    task: Task,
    wanted: &[String],
) -> Result<(Vec<String>, Vec<(String, DatasetError)>), RunError> {
    let (mut names, mut skipped) = (Vec::new(), Vec::new());
    for spec in registry().iter().filter(|s| task.runs_on(s)) {
        let listed = wanted.iter().any(|w| w == spec.name);
        if !wanted.is_empty() && !listed {
            continue;
        }
        match Dataset::open(data, spec.name) {
            Ok(dataset) if !listed && dataset.spec().name != spec.name => {}
            Ok(_) => names.push(spec.name.to_owned()),
            Err(error @ DatasetError::Missing { .. }) if !listed => {
                skipped.push((spec.name.to_owned(), error))
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok((names, skipped))
}

/// `spec` on every dataset of its task that `data` has, in registry order,
/// with a line for each dataset left out: absent, or one the task skips
/// ([`TaskRun::skips`]).
pub fn on_present_datasets(
    spec: &RunSpec,
    data: &DataDir,
) -> Result<(Vec<RunSpec>, Vec<String>), RunError> {
    let runner = spec.task.runner();
    let (names, absent) = present_datasets(data, runner.task(), &[])?;
    let mut skipped: Vec<String> = absent.iter().map(|(_, e)| e.to_string()).collect();
    let mut specs = Vec::new();
    for name in names {
        match runner.skips(DatasetSpec::find(&name)?) {
            Some(reason) => skipped.push(reason),
            None => specs.push(RunSpec {
                dataset: name,
                ..spec.clone()
            }),
        }
    }
    Ok((specs, skipped))
}

/// The dataset of `spec`, with its label option, checked to have what `task`
/// runs on.
fn open_dataset(spec: &RunSpec, task: Task, data: &DataDir) -> Result<Dataset, RunError> {
    let dataset = Dataset::open(data, &spec.dataset)?;
    let dataset = match &spec.label_option {
        Some(option) => dataset.with_label_option(option)?,
        None => dataset,
    };
    match task.runs_on(dataset.spec()) {
        true => Ok(dataset),
        false => Err(RunError::Config(format!(
            "{}: {} runs on {} datasets, and this is not one",
            spec.dataset,
            task.name(),
            match task.pairs_languages() {
                true => "bitext",
                false => "classification",
            }
        ))),
    }
}

/// A task of one's own, shared so that specs stay cheap to clone.
pub type CustomTask = Arc<dyn TaskRun>;
