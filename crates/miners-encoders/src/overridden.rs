//! An encoder with its prompts or its source replaced, delegating the rest.

use std::sync::Arc;

use miners_core::Embeddings;

use crate::{Encoder, EncoderError, Prompts, Role, TextPreparation};

/// Another encoder, with some of what it declares replaced: its prompts (the
/// reference's ICL scripts encode without e5's `query: `) or the source its
/// files came from (a Hub commit). Encoding is the inner encoder's.
///
/// ```
/// use std::sync::Arc;
/// use miners_encoders::{Encoder, Overridden, Prompts, StaticEncoder};
///
/// # fn main() -> Result<(), miners_encoders::EncoderError> {
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/static-tokenlearn");
/// # if !dir.is_dir() { return Ok(()); }
/// let inner: Arc<dyn Encoder> = Arc::new(StaticEncoder::load(&dir, "static")?);
/// let plain = Overridden::new(inner).with_prompts(Prompts::default()).with_source("hf:org/name@abc");
/// assert_eq!(plain.source(), Some("hf:org/name@abc"));
/// # Ok(())
/// # }
/// ```
pub struct Overridden {
    inner: Arc<dyn Encoder>,
    prompts: Option<Prompts>,
    source: Option<String>,
}

impl Overridden {
    /// `inner`, nothing replaced yet.
    pub fn new(inner: Arc<dyn Encoder>) -> Self {
        Self {
            inner,
            prompts: None,
            source: None,
        }
    }

    /// With `prompts` instead of the inner encoder's.
    pub fn with_prompts(mut self, prompts: Prompts) -> Self {
        self.prompts = Some(prompts);
        self
    }

    /// Saying its files came from `source`.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl Encoder for Overridden {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    fn prompts(&self) -> &Prompts {
        self.prompts
            .as_ref()
            .unwrap_or_else(|| self.inner.prompts())
    }

    fn preparation(&self) -> TextPreparation {
        self.inner.preparation()
    }

    fn source(&self) -> Option<&str> {
        self.source.as_deref().or_else(|| self.inner.source())
    }

    fn role_signature(&self, role: Role) -> Option<&str> {
        self.inner.role_signature(role)
    }

    fn encode_raw(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        self.inner.encode_raw(texts, role)
    }

    fn encode_raw_streaming(
        &self,
        texts: &[&str],
        role: Role,
        sink: &mut crate::Sink<'_>,
    ) -> Result<(), EncoderError> {
        self.inner.encode_raw_streaming(texts, role, sink)
    }
}
