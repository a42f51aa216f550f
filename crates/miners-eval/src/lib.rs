//! The MINERS task runners, their metrics and their result records.
//!
//! - [`run_bitext`]: each source sentence retrieves targets; scored with the
//!   reference's weighted metrics over sentence indices plus recall@k.
//! - [`run_classification`]: the k nearest labelled pool texts vote; macro metrics.
//! - [`run_icl`]: retrieved demonstrations in a prompt; a generator scores the labels.
//! - [`Retriever`]: one encoder or a DistFuse of several.
//! - [`ResultRecord`]: one JSON file per cell, written atomically into a [`ResultsDir`].
//!
//! ```
//! use miners_eval::metrics::{classification_scores, Average};
//!
//! let s = classification_scores(&["a", "b", "b"], &["a", "b", "a"], Average::Macro);
//! assert!((s.accuracy - 2.0 / 3.0).abs() < 1e-12);
//! assert!((s.recall - 0.75).abs() < 1e-12);
//! ```

mod cache;
mod finetune;
mod icl;
mod memory;
pub mod metrics;
pub mod mining;
pub mod packs;
mod record;
mod results_dir;
mod retriever;
mod tasks;
pub mod tune;

pub use cache::EmbeddingCache;
pub use finetune::{FineTuneRun, OpenFineTuner, run_finetune};
pub use icl::{IclRun, run_icl};
pub use memory::{CellClock, CellTime, cpu_seconds, peak_rss_mib, reset_peak_rss};
pub use record::{
    CellKey, FineTuneRecord, FingerprintLedger, FusionMemberRecord, GeneratorRecord, IclOutputs,
    MetricsRecord, ModelRecord, ResultRecord, SCHEMA_VERSION, Setting, Task, slug,
};
pub use results_dir::ResultsDir;
pub use retriever::{Retriever, RetrieverParts};
pub use tasks::{ClassificationRun, RunOptions, cross_source, run_bitext, run_classification};

use std::path::PathBuf;

/// Errors of a run; wraps the component that failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Loading data failed.
    #[error(transparent)]
    Dataset(#[from] miners_datasets::DatasetError),
    /// Encoding failed.
    #[error(transparent)]
    Encoder(#[from] miners_encoders::EncoderError),
    /// Search failed.
    #[error(transparent)]
    Index(#[from] miners_index::IndexError),
    /// DistFuse could not be assembled.
    #[error(transparent)]
    Fusion(#[from] miners_fusion::FusionError),
    /// Voting failed.
    #[error(transparent)]
    Classify(#[from] miners_classify::ClassifyError),
    /// Prompting or the generator failed.
    #[error(transparent)]
    Icl(#[from] miners_icl::IclError),
    /// An inconsistent run configuration.
    #[error("{0}")]
    Config(String),
    /// Writing a result failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Stopped on request ([`Progress::cancelled`], a Ctrl-C); the records
    /// of finished cells and the cached vectors are kept.
    #[error("stopped (interrupted); finished cells and cached vectors are kept")]
    Cancelled,
}

/// Receives the records of each cell as soon as it is scored.
pub trait RecordSink {
    /// Takes the records of one cell (one per k).
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError>;

    /// Takes the result of mining one pair. A sink that keeps no mining
    /// results says so (the default), rather than drop one.
    fn accept_mining(&mut self, result: &mining::MiningResult) -> Result<(), EvalError> {
        Err(EvalError::Config(format!(
            "{} {}: this record sink keeps no mining results",
            result.dataset, result.pair
        )))
    }

    /// Whether the cell already has records for every k, made with the same
    /// item `limit` by a model of the same `fingerprint`, so a resumed run can
    /// skip it. By default nothing is done.
    fn is_done(
        &self,
        _cell: &CellKey,
        _ks: &[usize],
        _limit: Option<usize>,
        _fingerprint: Option<&str>,
    ) -> bool {
        false
    }
}

/// Collecting into a vector.
impl RecordSink for Vec<ResultRecord> {
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError> {
        self.extend_from_slice(records);
        Ok(())
    }
}

/// Receives progress of long steps (encoding); the CLI draws bars with it.
pub trait Progress: Sync {
    /// A step of `total` items starts.
    fn begin(&self, label: &str, total: usize);
    /// `n` more items are done.
    fn advance(&self, n: usize);
    /// The step is done.
    fn finish(&self);
    /// Something went wrong and was repaired (a corrupt cache segment set
    /// aside); printed to standard error unless overridden.
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
    /// A finding worth a line (weights learned on a validation split);
    /// printed to standard error unless overridden.
    fn note(&self, message: &str) {
        eprintln!("{message}");
    }
    /// Whether the run should stop (a Ctrl-C): long steps look between
    /// batches and stop with [`EvalError::Cancelled`]. Never, by default.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that is not shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: usize) {}
    fn advance(&self, _: usize) {}
    fn finish(&self) {}
    fn note(&self, _: &str) {}
}
