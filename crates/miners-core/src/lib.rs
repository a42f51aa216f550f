//! Shared types for miners, with no heavy dependencies.
//!
//! - [`Embeddings`]: a row-major `f32` matrix, one row per text, guaranteed finite.
//! - [`Metric`]: how two embeddings are compared, and which direction is better.
//! - [`Neighbours`]: the k nearest candidates of every query, best first.
//! - [`Lang`] and [`Label`]: string newtypes that keep languages and labels apart.
//! - [`atomic_write`]: the one way miners writes a file that others may read
//!   ([`atomic_create`] where the first writer must win).
//!
//! ```
//! use miners_core::{Embeddings, Metric};
//!
//! let e = Embeddings::from_rows(2, vec![3.0, 4.0, 1.0, 0.0]).unwrap();
//! assert_eq!((e.len(), e.dim()), (2, 2));
//! assert_eq!(e.l2_normalized().row(0).to_vec(), vec![0.6, 0.8]);
//! assert!(!Metric::Euclidean.higher_is_better());
//! ```

mod atomic;
mod embeddings;
mod files;
mod hex;
mod metric;
mod name;
mod neighbours;
mod text;

pub use atomic::{
    TEMPORARY_SUFFIX, atomic_create, atomic_write, atomic_write_with, remove_stale_temporaries,
};
pub use embeddings::Embeddings;
pub use files::files_under;
pub use hex::hex;
pub use metric::Metric;
pub use name::{is_inside_path, is_plain_name};
pub use neighbours::{Neighbour, Neighbours};
pub use text::{Label, Lang};

/// Errors raised when building the shared types from untrusted values.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CoreError {
    /// A value in an embedding matrix is NaN or infinite.
    #[error("embedding row {row}, column {col} is not finite ({value})")]
    NonFinite {
        /// Row (text index) of the bad value.
        row: usize,
        /// Column (dimension) of the bad value.
        col: usize,
        /// The value itself.
        value: f32,
    },
    /// The flat buffer length is not a multiple of the dimension.
    #[error("{len} values cannot be split into rows of dimension {dim}")]
    Shape {
        /// Number of values given.
        len: usize,
        /// Requested row width.
        dim: usize,
    },
    /// Two matrices that must share a dimension do not.
    #[error("dimension mismatch: {left} vs {right}")]
    DimensionMismatch {
        /// Dimension of the first matrix.
        left: usize,
        /// Dimension of the second matrix.
        right: usize,
    },
    /// A metric name that is not one of `cosine`, `dot`, `euclidean`, `manhattan`.
    #[error("unknown metric `{0}` (expected cosine, dot, euclidean or manhattan)")]
    UnknownMetric(String),
}
