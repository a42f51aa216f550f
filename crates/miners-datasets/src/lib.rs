//! The MINERS datasets: what the reference evaluates, and loaders for the
//! normalized TSV layout (see `docs/data.md`).
//!
//! The [`registry`] says, per dataset, which splits are scored; a [`Dataset`]
//! opened from a data directory discovers its languages and pairs from the
//! files present and loads them with line-exact error messages.
//!
//! ```no_run
//! use miners_datasets::{DataDir, Dataset};
//!
//! let data = DataDir::resolve(None).unwrap();
//! let nusax = Dataset::open(&data, "nusax").unwrap();
//! for pair in nusax.bitext_pairs().unwrap() {
//!     let bitext = nusax.load_bitext(&pair, Some(10)).unwrap();
//!     println!("{pair}: {} pairs", bitext.len());
//! }
//! ```

#[cfg(feature = "convert")]
pub mod convert;
mod dataset;
mod families;
mod registry;
pub mod sources;
mod status;
mod tsv;

pub use dataset::{Bitext, DataDir, Dataset, LabelledTexts, Manifest, Pair};
pub use families::{language_family, reference_family};
pub use registry::{
    BitextPlan, Candidates, ClassificationPlan, DatasetSpec, Headline, INTENT, LabelOption,
    SENTIMENT, Split, TOPIC, registry,
};
pub use status::registry_status;
pub use tsv::read_two_columns;

use std::path::PathBuf;

/// Errors of locating, reading and parsing dataset files.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// No dataset of that name in the registry.
    #[error("unknown dataset `{name}`; known datasets: {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// Comma-separated registry names.
        known: String,
    },
    /// The dataset is known but its files are absent (MTOP, for instance).
    #[error(
        "dataset `{name}` is not in the data directory: {why}. Put its files under {expected} (layout in docs/data.md)"
    )]
    Missing {
        /// Dataset name.
        name: String,
        /// What is missing.
        why: String,
        /// Where the files are expected.
        expected: PathBuf,
    },
    /// A label option the dataset does not have.
    #[error("dataset `{dataset}` has no label option `{option}` (it has: {known})")]
    UnknownLabelOption {
        /// Dataset name.
        dataset: String,
        /// The option asked for.
        option: String,
        /// The options it has.
        known: String,
    },
    /// A data file that the manifest lists is absent.
    #[error("{}: manifest.json lists this file of dataset `{name}`, but it does not exist", path.display())]
    MissingFile {
        /// Dataset name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// The dataset does not support the asked task.
    #[error("dataset `{name}` has no {task} task")]
    NoSuchTask {
        /// Dataset name.
        name: String,
        /// `bitext` or `classification`.
        task: &'static str,
    },
    /// A language or pair that the dataset does not have.
    #[error("dataset `{dataset}` has no language or pair `{lang}`; available: {available}")]
    UnknownLanguage {
        /// Dataset name.
        dataset: String,
        /// The language asked for.
        lang: String,
        /// Comma-separated available languages.
        available: String,
    },
    /// No data directory was given and none was found.
    #[error("no data directory found (tried {tried}); set MINERS_DATA_DIR or name one")]
    NoDataDir {
        /// Paths tried.
        tried: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's content is malformed.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 for the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
}
