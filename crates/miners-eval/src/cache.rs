//! A content-addressed embedding cache on disk, shared by every task, setting,
//! ensemble and k: each sentence is encoded once per model and prompt.
//!
//! Layout: `<root>/<encoder fingerprint>/<segment>.bin`. A text's key is
//! SHA-256 of its [`Prepared`](miners_encoders::Prepared) form (prompt, NUL,
//! body), so the same text under another prefix is another entry, and texts
//! the model sees alike (`" hi"` and `"hi"` for a stripping model) share one. New entries are written as a new segment
//! (temporary file, then rename), so concurrent processes (Slurm shards) can
//! share a directory and a crash leaves no partial segment behind.
//!
//! Segment: `MEMB`, version `1` (u32), dimension (u32), count (u64), then per
//! entry a 32-byte key and `dimension` little-endian `f32`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use miners_core::Embeddings;
use miners_encoders::{Encoder, EncoderError, Role};
use sha2::{Digest, Sha256};

use crate::{EvalError, Progress};

const MAGIC: &[u8; 4] = b"MEMB";
const VERSION: u32 = 1;
const HEADER: usize = 20;

type Key = [u8; 32];

/// Vectors of one encoder, by text key.
#[derive(Default)]
struct Store {
    dim: usize,
    vectors: HashMap<Key, Vec<f32>>,
}

/// The cache rooted at one directory.
pub struct EmbeddingCache {
    root: PathBuf,
    stores: Mutex<HashMap<String, Store>>,
}

impl EmbeddingCache {
    /// A cache in `root` (created on first write).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// The embeddings of `texts` as `encoder` gives them for `role`, encoding only
    /// the texts not cached yet (each distinct text once).
    pub fn encode(
        &self,
        encoder: &dyn Encoder,
        texts: &[String],
        role: Role,
        label: &str,
        progress: &dyn Progress,
    ) -> Result<Embeddings, EvalError> {
        let keys: Vec<Key> = texts
            .iter()
            .map(|text| {
                let prepared = encoder.prepare(text, role);
                key(prepared.prompt, prepared.body)
            })
            .collect();
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| EvalError::Config("embedding cache lock poisoned".into()))?;
        let dir = self.root.join(encoder.fingerprint());
        if !stores.contains_key(encoder.fingerprint()) {
            stores.insert(encoder.fingerprint().to_owned(), load(&dir)?);
        }
        let store = stores
            .get_mut(encoder.fingerprint())
            .expect("inserted above");
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !store.vectors.contains_key(k) && seen.insert(*k) {
                missing.push(i);
            }
        }
        if !missing.is_empty() {
            let fresh = encode_some(encoder, texts, &missing, role, label, progress)?;
            let entries: Vec<(Key, &[f32])> = missing
                .iter()
                .zip(fresh.as_slice().chunks(fresh.dim()))
                .map(|(&i, v)| (keys[i], v))
                .collect();
            write_segment(&dir, fresh.dim(), &entries)?;
            store.dim = fresh.dim();
            for (k, v) in entries {
                store.vectors.insert(k, v.to_vec());
            }
        }
        let dim = if store.dim == 0 {
            encoder.dim()
        } else {
            store.dim
        };
        let mut rows = Vec::with_capacity(texts.len() * dim);
        for k in &keys {
            rows.extend_from_slice(&store.vectors[k]);
        }
        Ok(Embeddings::from_rows(dim, rows).map_err(EncoderError::from)?)
    }
}

/// `sha256(prompt \0 body)`.
fn key(prompt: &str, body: &str) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(prompt.as_bytes());
    hasher.update([0]);
    hasher.update(body.as_bytes());
    hasher.finalize().into()
}

/// Encodes the texts at `indices`, in chunks so that progress moves.
pub(crate) fn encode_some(
    encoder: &dyn Encoder,
    texts: &[String],
    indices: &[usize],
    role: Role,
    label: &str,
    progress: &dyn Progress,
) -> Result<Embeddings, EvalError> {
    const CHUNK: usize = 256;
    progress.begin(&format!("{} {label}", encoder.id()), indices.len());
    let mut parts = Vec::new();
    for chunk in indices.chunks(CHUNK) {
        let refs: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        parts.push(encoder.encode(&refs, role)?);
        progress.advance(chunk.len());
    }
    progress.finish();
    let parts: Vec<&Embeddings> = parts.iter().collect();
    Ok(Embeddings::concat(&parts).map_err(EncoderError::from)?)
}

/// Reads every segment of one encoder's directory.
fn load(dir: &Path) -> Result<Store, EvalError> {
    let mut store = Store::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(store);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    paths.sort();
    for path in paths {
        read_segment(&path, &mut store)?;
    }
    Ok(store)
}

fn read_segment(path: &Path, store: &mut Store) -> Result<(), EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_owned(),
        source,
    })?;
    let corrupt = |why: &str| {
        EvalError::Config(format!(
            "{}: corrupt embedding cache segment ({why}); delete it to rebuild",
            path.display()
        ))
    };
    if bytes.len() < HEADER
        || &bytes[..4] != MAGIC
        || u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) != VERSION
    {
        return Err(corrupt("bad header"));
    }
    let dim = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    let count = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
    let entry = 32 + 4 * dim;
    if dim == 0 || bytes.len() != HEADER + count * entry || (store.dim != 0 && store.dim != dim) {
        return Err(corrupt("size or dimension mismatch"));
    }
    store.dim = dim;
    for raw in bytes[HEADER..].chunks_exact(entry) {
        let key: Key = raw[..32].try_into().expect("32 bytes");
        let vector = raw[32..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        store.vectors.insert(key, vector);
    }
    Ok(())
}

/// Writes entries as one new segment, atomically.
fn write_segment(dir: &Path, dim: usize, entries: &[(Key, &[f32])]) -> Result<(), EvalError> {
    let io = |source| EvalError::Io {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut buffer = Vec::with_capacity(HEADER + entries.len() * (32 + 4 * dim));
    buffer.extend_from_slice(MAGIC);
    buffer.extend_from_slice(&VERSION.to_le_bytes());
    buffer.extend_from_slice(&(dim as u32).to_le_bytes());
    buffer.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (key, vector) in entries {
        buffer.extend_from_slice(key);
        buffer.extend(vector.iter().flat_map(|v| v.to_le_bytes()));
    }
    let name = format!("{}.bin", hex(&Sha256::digest(&buffer)[..8]));
    miners_core::atomic_write(&dir.join(name), &buffer).map_err(io)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
