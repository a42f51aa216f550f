//! Encoders turn texts into embedding matrices.
//!
//! [`Encoder`] is the one interface every model family implements; [`Prompts`]
//! holds a model's optional query/passage prefixes, applied exactly once to a
//! copy of each text by [`Encoder::encode`].
//!
//! This crate has the libtorch-free parts: [`StaticEncoder`] (model2vec /
//! tokenlearn static embeddings), model specs ([`spec`]), what a transformer
//! directory asks for ([`layout`]) and importers ([`import`]). Transformer
//! encoders live in the `miners-torch` backend crate.
//!
//! ```no_run
//! use miners_encoders::{Encoder, Role, StaticEncoder};
//!
//! let encoder = StaticEncoder::load("models/static-tokenlearn".as_ref(), "static-tokenlearn").unwrap();
//! let vectors = encoder.encode(&["Hello world", "Halo dunia"], Role::Query).unwrap();
//! assert_eq!(vectors.dim(), encoder.dim());
//! ```

mod fingerprint;
pub mod import;
pub mod layout;
mod overridden;
mod prepare;
pub mod sentencepiece;
pub mod spec;
mod static_model;
mod tensors;
pub mod tokenizer;

use std::{ops::ControlFlow, path::PathBuf};

use miners_core::Embeddings;
use serde::{Deserialize, Serialize};

pub use fingerprint::Fingerprint;
pub use overridden::Overridden;
pub use prepare::{Prepared, TextPreparation, is_python_space};
pub use static_model::StaticEncoder;

/// Errors of loading a model or encoding with it; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model file is present but malformed.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Tokenization failed for one text.
    #[error("tokenizing text {index}: {message}")]
    Tokenize {
        /// Position of the text in the batch.
        index: usize,
        /// The tokenizer's message.
        message: String,
    },
    /// The requested device or precision is not available.
    #[error("device: {0}")]
    Device(String),
    /// The compute backend failed while running the model.
    #[error("backend: {0}")]
    Backend(String),
    /// The model produced a non-finite value.
    #[error("model output: {0}")]
    Output(#[from] miners_core::CoreError),
}

impl EncoderError {
    /// `path` is malformed, as `message` says.
    pub fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        EncoderError::Format {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// A model file that must exist does not.
    pub fn missing(path: &std::path::Path) -> Self {
        EncoderError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
        }
    }
}

/// Whether a text is a query or a passage, for models that prefix them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The searching side (bitext source, classification test item).
    Query,
    /// The searched side (bitext target, labelled pool).
    Passage,
}

/// Optional per-role prefixes (e5's `query: ` / `passage: `).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prompts {
    /// Prefix of queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Prefix of passages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage: Option<String>,
}

impl Prompts {
    /// The prefix for `role`, if any.
    pub fn for_role(&self, role: Role) -> Option<&str> {
        match role {
            Role::Query => self.query.as_deref(),
            Role::Passage => self.passage.as_deref(),
        }
    }
}

/// A model that embeds texts.
pub trait Encoder: Send + Sync {
    /// Stable identifier recorded in results (`static-tokenlearn`, `e5-small`).
    fn id(&self) -> &str;

    /// Width of the embeddings.
    fn dim(&self) -> usize;

    /// A hash of everything that determines the output of [`Encoder::encode_raw`]
    /// (weights, tokenizer, pooling, precision); caches key embeddings by it.
    fn fingerprint(&self) -> &str;

    /// The model's prefixes; none by default.
    fn prompts(&self) -> &Prompts;

    /// How the model's reference implementation prepares a prompt and a text.
    fn preparation(&self) -> TextPreparation {
        TextPreparation::Verbatim
    }

    /// `text` as [`Encoder::encode`] gives it to the model for `role`.
    fn prepare<'p, 't>(&'p self, text: &'t str, role: Role) -> Prepared<'p, 't> {
        let prompt = self.prompts().for_role(role).unwrap_or_default();
        self.preparation().apply(prompt, text)
    }

    /// What results are keyed by: a hash of [`Encoder::fingerprint`], the text
    /// preparation and the prompts, everything that makes two runs' vectors differ.
    fn identity(&self) -> String {
        let mut identity = Fingerprint::new("identity-v1");
        identity
            .field("fingerprint", self.fingerprint())
            .field("preparation", format!("{:?}", self.preparation()))
            .field("query", format!("{:?}", self.prompts().query))
            .field("passage", format!("{:?}", self.prompts().passage));
        for (role, name) in [
            (Role::Query, "query_signature"),
            (Role::Passage, "passage_signature"),
        ] {
            if let Some(signature) = self.role_signature(role) {
                identity.field(name, signature);
            }
        }
        identity.finish()
    }

    /// Where the model's files came from, when that is more than a local
    /// directory: `hf:<org>/<name>@<commit>` for a Hub model. Recorded in results.
    fn source(&self) -> Option<&str> {
        None
    }

    /// A setting that `role` sends to the model besides its prompt (Cohere's
    /// `input_type`), so that a query and a passage of the same text are two
    /// cache entries; none for models that see only the text.
    fn role_signature(&self, role: Role) -> Option<&str> {
        let _ = role;
        None
    }

    /// Embeds texts exactly as given, one row per text, in input order;
    /// `role` matters only to models with a [`Encoder::role_signature`].
    fn encode_raw(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError>;

    /// Embeds texts exactly as given, handing each finished batch to `sink`
    /// with the position of its first text, in any order, as soon as it is
    /// done: a caller can keep what arrived before a failure. The sink stops
    /// the encoding by returning [`ControlFlow::Break`] (a Ctrl-C): batches
    /// under way may still arrive, no other starts. By default, batches of
    /// [`STREAM_BATCH`] texts in order.
    fn encode_raw_streaming(
        &self,
        texts: &[&str],
        role: Role,
        sink: &mut Sink<'_>,
    ) -> Result<(), EncoderError> {
        for (n, batch) in texts.chunks(STREAM_BATCH).enumerate() {
            if sink(n * STREAM_BATCH, self.encode_raw(batch, role)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Embeds texts as [`Encoder::prepare`] makes them ready for `role`.
    fn encode(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        let prepared = self.prepare_all(texts, role);
        let refs: Vec<&str> = prepared.iter().map(String::as_str).collect();
        self.encode_raw(&refs, role)
    }

    /// [`Encoder::encode`], handing batches to `sink` as
    /// [`Encoder::encode_raw_streaming`] does.
    fn encode_streaming(
        &self,
        texts: &[&str],
        role: Role,
        sink: &mut Sink<'_>,
    ) -> Result<(), EncoderError> {
        let prepared = self.prepare_all(texts, role);
        let refs: Vec<&str> = prepared.iter().map(String::as_str).collect();
        self.encode_raw_streaming(&refs, role, sink)
    }

    /// Every text as [`Encoder::prepare`] joins it for `role`.
    fn prepare_all(&self, texts: &[&str], role: Role) -> Vec<String> {
        texts
            .iter()
            .map(|text| self.prepare(text, role).joined())
            .collect()
    }
}

/// Where [`Encoder::encode_raw_streaming`] hands finished batches: the
/// position of a batch's first text and its vectors; [`ControlFlow::Break`]
/// stops the encoding.
pub type Sink<'a> = dyn FnMut(usize, Embeddings) -> ControlFlow<()> + 'a;

/// Texts per batch of the default [`Encoder::encode_raw_streaming`].
pub const STREAM_BATCH: usize = 256;
