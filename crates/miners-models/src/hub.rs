//! The `hub` backend: a Hub repository becomes a local model directory (the
//! snapshot in the Hub cache), which then runs on the backend its files call
//! for; `Models` wraps the encoder so it says where it came from.

use miners_encoders::{StaticEncoder, spec::ModelSpec};

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
