//! Sweeps: every configured retriever and generator on every dataset and
//! setting, from one spec; resumable, shardable, mergeable.
//!
//! A [`SweepSpec`] (`sweep.toml`, or built in code) expands into [`Job`]s
//! (task × dataset × retriever × setting, plus the generator for ICL) in a
//! fixed order; each job has cells (a language or pair, with all its k values).
//! [`Shard`] `i/N` (also from Slurm's array variables) runs the cells that a
//! [`ShardPlan`] gives it: cells are spread by estimated cost, and the plan is
//! frozen under `<out>/.sweep/` by the first shard that makes it, so every
//! shard follows the same one. Inside a job every cell is skipped when its
//! records read back with the same model fingerprint, and a finished job (or
//! a shard's part of it) leaves a marker under `<out>/.sweep/` listing its
//! record files, so a rerun skips it after one `stat` per record.
//! [`merge`] joins shard directories. Progress reaches the caller through
//! [`SweepProgress`]; models are opened through [`miners_models::Models`].
//!
//! ```no_run
//! use miners_datasets::DataDir;
//! use miners_models::Models;
//! use miners_sweep::{SweepOptions, SweepSpec, TaskSpec, run};
//!
//! let spec = SweepSpec {
//!     encoders: vec!["static-tokenlearn".into()],
//!     bitext: Some(TaskSpec { datasets: vec!["nusax".into()], ..TaskSpec::default() }),
//!     limit: Some(50),
//!     ..SweepSpec::default()
//! };
//! let models = Models::from_file("models.toml".as_ref()).unwrap();
//! let options = SweepOptions::new("results".as_ref(), DataDir::resolve(None).unwrap());
//! let summary = run(&spec, &models, &options, &miners_eval::Quiet).unwrap();
//! assert!(summary.failed.is_empty());
//! ```

#[cfg(feature = "bars")]
mod bars;
mod digest;
mod jobs;
mod marker;
mod merge;
mod plan;
mod run;
mod spec;

use std::path::{Path, PathBuf};

use miners_eval::Task;

#[cfg(feature = "bars")]
pub use bars::{StepBars, SweepBars};
pub use jobs::{Job, JobRetriever, Shard, jobs};
pub use merge::{MergeSummary, merge, result_files};
pub use miners_run::CellRef;
pub use plan::{PlannedCell, ShardPlan};
pub use run::{SweepOptions, SweepProgress, SweepSummary, listing, run, shard_plan};
pub use spec::{
    EnsembleSpec, FineTuneSweep, IclSpec, MiningSpec, Ranking, SelectionName, SelectionSpec,
    Selections, SweepSpec, TaskSpec,
};

/// Errors of reading, planning, running or merging a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The spec is malformed or asks for something impossible.
    #[error("{origin}: {message}")]
    Spec {
        /// The spec file, or the job at fault.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The spec lists a dataset that lacks the task or is not in the registry.
    #[error("sweep spec: dataset `{dataset}` has no {} task or is not in the registry", task.name())]
    UnknownDataset {
        /// The dataset named.
        dataset: String,
        /// The task it was listed under.
        task: Task,
    },
    /// A shard that is not `i/N` with `0 <= i < N`.
    #[error("shard `{0}`: expected i/N with 0 <= i < N")]
    Shard(String),
    /// More shards than the sweep has cells to give them.
    #[error(
        "{shards} shards for {cells} cells: a sweep splits into at most as many shards as it has cells"
    )]
    TooManyShards {
        /// Shards asked for.
        shards: usize,
        /// Cells of the sweep.
        cells: usize,
    },
    /// Two shards disagree on the metrics of one cell.
    #[error("{} and {} disagree on the metrics of the same cell", shard.display(), target.display())]
    MergeConflict {
        /// The shard's record.
        shard: PathBuf,
        /// The record already in the target.
        target: PathBuf,
    },
    /// Loading data failed.
    #[error(transparent)]
    Dataset(#[from] miners_datasets::DatasetError),
    /// Opening a model failed.
    #[error(transparent)]
    Models(#[from] miners_models::ModelsError),
    /// Running a task failed.
    #[error(transparent)]
    Eval(#[from] miners_eval::EvalError),
    /// The run layer failed.
    #[error(transparent)]
    Run(#[from] miners_run::RunError),
}

impl SweepError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        SweepError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
