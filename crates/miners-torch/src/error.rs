//! The backend's one error type, converted at the crate boundary into the
//! encoder's or the generator's.

use std::path::{Path, PathBuf};

use miners_encoders::EncoderError;
use miners_icl::IclError;
use tch::TchError;

/// What went wrong loading or running a model on libtorch.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// A model file is missing or malformed (config, weights, tokenizer).
    #[error("{}: {message}", path.display())]
    Model {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The requested device or precision is not available.
    #[error("device: {0}")]
    Device(String),
    /// The model's tokenizer could not be loaded.
    #[error("{0}")]
    Tokenizer(EncoderError),
    /// libtorch failed while running the model.
    #[error("libtorch: {0}")]
    Backend(#[from] TchError),
    /// Inputs the model cannot take (texts and labels that do not pair up,
    /// a label outside the head).
    #[error("{0}")]
    Input(String),
}

impl TorchError {
    /// `path` is missing or malformed, as `message` says.
    pub(crate) fn model(path: &Path, message: impl Into<String>) -> Self {
        TorchError::Model {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// A checkpoint that cannot be read, as the file at fault.
    pub(crate) fn checkpoint(error: &miners_checkpoint::CheckpointError) -> Self {
        Self::model(error.path(), error.detail())
    }

    /// The error as generator `id`'s.
    pub fn for_generator(self, id: &str) -> IclError {
        IclError::Generator {
            generator: id.to_owned(),
            message: self.to_string(),
        }
    }
}

impl From<TorchError> for EncoderError {
    fn from(error: TorchError) -> Self {
        match error {
            TorchError::Model { path, message } => EncoderError::Format { path, message },
            TorchError::Device(message) => EncoderError::Device(message),
            TorchError::Backend(error) => EncoderError::Backend(error.to_string()),
            TorchError::Tokenizer(error) => error,
            TorchError::Input(message) => EncoderError::Backend(message),
        }
    }
}
