//! The `hub` backend: a Hub repository becomes a local model directory (the
//! snapshot in the Hub cache), which then runs on the backend its files call
//! for, and the encoder remembers where it came from.

use std::sync::Arc;

use miners_core::Embeddings;
use miners_encoders::{
    Encoder, EncoderError, Prompts, Role, StaticEncoder, TextPreparation, spec::ModelSpec,
};

use crate::{EncoderEntry, HubEntry, ModelsError, StaticEntry};

/// The local entry a Hub entry becomes once downloaded, and its source
/// (`hf:<org>/<name>@<commit>`).
pub(crate) fn hub_local_entry(hub: &HubEntry) -> Result<(EncoderEntry, String), ModelsError> {
    let snapshot = download(hub)?;
    let source = format!("hf:{}@{}", hub.repo, snapshot.commit);
    let dir = snapshot.dir;
    let entry = if StaticEncoder::recognizes(&dir) {
        EncoderEntry::Static(StaticEntry {
            id: hub.id.clone(),
            path: dir,
            prompts: hub.prompts.clone(),
        })
    } else {
        EncoderEntry::Torch(ModelSpec {
            id: hub.id.clone(),
            path: dir,
            prompts: hub.prompts.clone(),
            pooling: hub.pooling,
            normalize: hub.normalize,
            max_seq_length: hub.max_seq_length,
            dtype: hub.dtype,
        })
    };
    Ok((entry, source))
}

#[cfg(feature = "hub")]
fn download(hub: &HubEntry) -> Result<miners_hub::Snapshot, ModelsError> {
    let error = |message: String| ModelsError::Hub {
        id: hub.id.clone(),
        message,
    };
    let reference =
        miners_hub::HubRef::parse(&hub.reference()).map_err(|e| error(e.to_string()))?;
    let client = miners_hub::Hub::from_env().map_err(|e| error(e.to_string()))?;
    client.model(&reference).map_err(|e| error(e.to_string()))
}

#[cfg(not(feature = "hub"))]
fn download(hub: &HubEntry) -> Result<Snapshot, ModelsError> {
    Err(ModelsError::BackendNotBuilt {
        id: hub.id.clone(),
        backend: "hub",
    })
}

/// What [`download`] gives without the `hub` feature (it never returns one).
#[cfg(not(feature = "hub"))]
struct Snapshot {
    commit: String,
    dir: std::path::PathBuf,
}

/// An encoder that says where its files came from.
pub(crate) struct Sourced {
    encoder: Arc<dyn Encoder>,
    source: String,
}

impl Sourced {
    pub(crate) fn new(encoder: Arc<dyn Encoder>, source: String) -> Self {
        Self { encoder, source }
    }
}

impl Encoder for Sourced {
    fn id(&self) -> &str {
        self.encoder.id()
    }

    fn dim(&self) -> usize {
        self.encoder.dim()
    }

    fn fingerprint(&self) -> &str {
        self.encoder.fingerprint()
    }

    fn prompts(&self) -> &Prompts {
        self.encoder.prompts()
    }

    fn preparation(&self) -> TextPreparation {
        self.encoder.preparation()
    }

    fn source(&self) -> Option<&str> {
        Some(&self.source)
    }

    fn role_signature(&self, role: Role) -> Option<&str> {
        self.encoder.role_signature(role)
    }

    fn encode_raw(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        self.encoder.encode_raw(texts, role)
    }

    fn encode_raw_streaming(
        &self,
        texts: &[&str],
        role: Role,
        sink: &mut dyn FnMut(usize, Embeddings),
    ) -> Result<(), EncoderError> {
        self.encoder.encode_raw_streaming(texts, role, sink)
    }
}
