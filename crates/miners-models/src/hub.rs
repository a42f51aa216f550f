//! The `hub` backend: a Hub repository becomes a local model directory (the
//! snapshot in the Hub cache), which then runs on the backend its files call
//! for; `Models` wraps the encoder so it says where it came from.

use miners_encoders::{StaticEncoder, spec::ModelSpec};

use crate::{
    EncoderEntry, HubEntry, HubGeneratorEntry, ModelsError, StaticEntry, TorchGeneratorEntry,
};

/// The local entry a Hub entry becomes once downloaded, and its source
/// (`hf:<org>/<name>@<commit>`).
pub(crate) fn hub_local_entry(hub: &HubEntry) -> Result<(EncoderEntry, String), ModelsError> {
    let snapshot = download(&hub.id, &hub.reference())?;
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

/// The local generator entry a Hub generator becomes once downloaded, its
/// source (`hf:<org>/<name>@<commit>`) recorded.
pub(crate) fn hub_local_generator(
    hub: &HubGeneratorEntry,
) -> Result<TorchGeneratorEntry, ModelsError> {
    let snapshot = download(&hub.id, &hub.reference())?;
    Ok(TorchGeneratorEntry {
        id: hub.id.clone(),
        path: snapshot.dir,
        scoring: hub.scoring,
        fold_case: hub.fold_case,
        source: Some(format!("hf:{}@{}", hub.repo, snapshot.commit)),
        dtype: hub.dtype,
    })
}

/// Model `id`'s files at `reference` (`org/name@revision`), in the Hub cache.
#[cfg(feature = "hub")]
fn download(id: &str, reference: &str) -> Result<miners_hub::Snapshot, ModelsError> {
    let error = |message: String| ModelsError::Hub {
        id: id.to_owned(),
        message,
    };
    let reference = miners_hub::HubRef::parse(reference).map_err(|e| error(e.to_string()))?;
    let client = miners_hub::Hub::from_env().map_err(|e| error(e.to_string()))?;
    client.model(&reference).map_err(|e| error(e.to_string()))
}

#[cfg(not(feature = "hub"))]
fn download(id: &str, _reference: &str) -> Result<Snapshot, ModelsError> {
    Err(ModelsError::BackendNotBuilt {
        id: id.to_owned(),
        backend: "hub",
    })
}

/// What [`download`] gives without the `hub` feature (it never returns one).
#[cfg(not(feature = "hub"))]
struct Snapshot {
    commit: String,
    dir: std::path::PathBuf,
}
