//! The crate's one error type: every variant names the file at fault.

use std::path::{Path, PathBuf};

/// What went wrong opening or reading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A directory without any weight file this crate reads.
    #[error(
        "{}: no weights (model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json)",
        dir.display()
    )]
    NoWeights {
        /// The directory searched.
        dir: PathBuf,
    },
    /// A weight file or index that is malformed, truncated or inconsistent.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A pickle that imports a global outside the state-dict subset of what
    /// `torch.load(weights_only=True)` allows. Nothing was executed.
    #[error(
        "{}: the pickle imports `{global}`, which a weights-only load refuses; nothing was executed",
        path.display()
    )]
    ForbiddenGlobal {
        /// The pickle's file.
        path: PathBuf,
        /// `module.name` of the global.
        global: String,
    },
    /// No tensor of that name in the checkpoint.
    #[error("{}: no tensor `{name}`", path.display())]
    MissingTensor {
        /// The checkpoint's directory.
        path: PathBuf,
        /// The tensor asked for.
        name: String,
    },
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl CheckpointError {
    /// The file (or directory) at fault.
    pub fn path(&self) -> &Path {
        match self {
            Self::NoWeights { dir: path }
            | Self::Format { path, .. }
            | Self::ForbiddenGlobal { path, .. }
            | Self::MissingTensor { path, .. }
            | Self::Io { path, .. } => path,
        }
    }

    /// What is wrong, without the path (every message is `path: detail`).
    pub fn detail(&self) -> String {
        let message = self.to_string();
        let prefix = format!("{}: ", self.path().display());
        message
            .strip_prefix(&prefix)
            .map_or(message.clone(), str::to_owned)
    }

    /// `path` is malformed, as `message` says.
    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// Reading `path` failed.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
