//! The error type of this crate.

use std::path::{Path, PathBuf};

/// Everything that can go wrong reading a GGUF file or writing its import.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid GGUF, or lacks what the import needs.
    #[error("{path}: {message}")]
    Format {
        /// File involved.
        path: PathBuf,
        /// What is wrong, naming the key or tensor.
        message: String,
    },
    /// Valid GGUF that uses something miners does not support.
    #[error("{path}: unsupported: {what}")]
    Unsupported {
        /// File involved.
        path: PathBuf,
        /// The tensor type, architecture or tokenizer that is not supported.
        what: String,
    },
}

impl GgufError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(path: &Path, what: impl Into<String>) -> Self {
        Self::Unsupported {
            path: path.to_owned(),
            what: what.into(),
        }
    }

    /// Prefixes a format error's message with where it happened.
    pub(crate) fn context(self, place: &str) -> Self {
        match self {
            Self::Format { path, message } => Self::Format {
                path,
                message: format!("{place}: {message}"),
            },
            other => other,
        }
    }
}
