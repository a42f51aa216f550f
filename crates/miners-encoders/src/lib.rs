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
    /// with the positions of its texts, in any order, as soon as it is
    /// done: a caller can keep what arrived before a failure. The sink stops
    /// the encoding by returning [`ControlFlow::Break`] (a Ctrl-C): batches
    /// under way may still arrive, no other starts. By default, batches of
    /// [`STREAM_BATCH`] texts in order; an encoder that batches better across
    /// all the texts (a transformer sorting them by length) overrides it.
    fn encode_raw_streaming(
        &self,
        texts: &[&str],
        role: Role,
        sink: &mut Sink<'_>,
    ) -> Result<(), EncoderError> {
        for (n, batch) in texts.chunks(STREAM_BATCH).enumerate() {
            let start = n * STREAM_BATCH;
            let positions: Vec<usize> = (start..start + batch.len()).collect();
            if sink(&positions, self.encode_raw(batch, role)?).is_break() {
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
/// positions of a batch's texts (one per row) and their vectors;
/// [`ControlFlow::Break`] stops the encoding.
pub type Sink<'a> = dyn FnMut(&[usize], Embeddings) -> ControlFlow<()> + 'a;

/// The vectors of `count` texts in input order, from `stream`, an encoding
/// that hands its batches to a [`Sink`] in any order (`dim` is the width of
/// an empty result). Every text must arrive exactly once.
pub fn collect_in_order(
    count: usize,
    dim: usize,
    stream: impl FnOnce(&mut Sink<'_>) -> Result<(), EncoderError>,
) -> Result<Embeddings, EncoderError> {
    let mut rows = InOrder::new(count, dim);
    let mut placed = Ok(());
    stream(&mut |positions, vectors| {
        placed = rows.place(positions, &vectors);
        match placed {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    })?;
    placed?;
    rows.finish()
}

/// Vectors placed by the positions of their texts as batches arrive, in any
/// order, and read back in input order once every text has one.
#[derive(Debug)]
pub struct InOrder {
    rows: Vec<Option<Vec<f32>>>,
    dim: usize,
}

impl InOrder {
    /// Room for `count` texts' vectors (`dim`: the width of an empty result).
    pub fn new(count: usize, dim: usize) -> Self {
        Self {
            rows: vec![None; count],
            dim,
        }
    }

    /// Puts a batch's rows at their positions: an error for a text placed
    /// twice, a position out of range, or a row count unlike the positions'.
    pub fn place(&mut self, positions: &[usize], vectors: &Embeddings) -> Result<(), EncoderError> {
        let wrong = |message: String| Err(EncoderError::Backend(message));
        if positions.len() != vectors.len() {
            let (rows, texts) = (vectors.len(), positions.len());
            return wrong(format!("a batch of {rows} vectors for {texts} texts"));
        }
        let count = self.rows.len();
        let rows = vectors.as_slice().chunks(vectors.dim());
        for (&position, row) in positions.iter().zip(rows) {
            match self.rows.get_mut(position) {
                Some(slot @ None) => *slot = Some(row.to_vec()),
                Some(Some(_)) => return wrong(format!("text {position} of {count} arrived twice")),
                None => return wrong(format!("a batch placed text {position} of {count} texts")),
            }
        }
        Ok(())
    }

    /// Every text's vector in input order: an error if one is missing or
    /// the widths differ.
    pub fn finish(self) -> Result<Embeddings, EncoderError> {
        let count = self.rows.len();
        if let Some(missing) = self.rows.iter().position(Option::is_none) {
            return Err(EncoderError::Backend(format!(
                "no vector for text {missing} of {count}"
            )));
        }
        let rows: Vec<Vec<f32>> = self.rows.into_iter().flatten().collect();
        let dim = rows.first().map_or(self.dim, Vec::len);
        if let Some(odd) = rows.iter().position(|row| row.len() != dim) {
            return Err(EncoderError::Backend(format!(
                "text {odd} has a {}-dimensional vector, text 0 a {dim}-dimensional one",
                rows[odd].len()
            )));
        }
        Ok(Embeddings::from_rows(dim, rows.concat())?)
    }
}

/// Texts per batch of the default [`Encoder::encode_raw_streaming`].
pub const STREAM_BATCH: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[f32]) -> Embeddings {
        Embeddings::from_rows(1, values.to_vec()).unwrap()
    }

    /// Hands `batches` (positions, one value per row) to the sink in order.
    fn streamed(count: usize, batches: &[(&[usize], &[f32])]) -> Result<Embeddings, EncoderError> {
        collect_in_order(count, 1, |sink| {
            for (positions, values) in batches {
                if sink(positions, rows(values)).is_break() {
                    break;
                }
            }
            Ok(())
        })
    }

    #[test]
    fn batches_in_any_order_land_in_input_order() {
        let got = streamed(4, &[(&[3, 0], &[30.0, 0.0]), (&[2, 1], &[20.0, 10.0])]).unwrap();
        assert_eq!(got.as_slice(), &[0.0, 10.0, 20.0, 30.0]);
        assert_eq!(streamed(0, &[]).unwrap().len(), 0);
    }

    #[test]
    fn a_text_twice_missing_or_out_of_range_is_an_error() {
        let twice = streamed(2, &[(&[0, 1], &[0.0, 1.0]), (&[1], &[1.0])]).unwrap_err();
        assert!(
            twice.to_string().contains("text 1 of 2 arrived twice"),
            "{twice}"
        );
        let missing = streamed(3, &[(&[0, 2], &[0.0, 2.0])]).unwrap_err();
        assert!(
            missing.to_string().contains("no vector for text 1 of 3"),
            "{missing}"
        );
        let outside = streamed(2, &[(&[0, 5], &[0.0, 5.0])]).unwrap_err();
        assert!(outside.to_string().contains("text 5 of 2"), "{outside}");
        let short = streamed(2, &[(&[0, 1], &[0.0])]).unwrap_err();
        assert!(
            short.to_string().contains("1 vectors for 2 texts"),
            "{short}"
        );
    }
}
