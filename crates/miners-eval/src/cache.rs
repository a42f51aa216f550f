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
//! Segment: `MEMB`, version `2` (u32), dimension (u32), count (u64), the
//! SHA-256 of the encoder's fingerprint (32 bytes), then per entry a 32-byte
//! key and `dimension` little-endian `f32`. A segment's name is the first 16
//! hex digits of the SHA-256 of its bytes, verified as it is read: a segment
//! that fails (bad header, another encoder's fingerprint, say copied into
//! the wrong folder, a version-1 segment, which carries none, wrong size,
//! wrong hash, a value that is not finite) is renamed
//! to `<name>.corrupt`, reported through [`Progress::warn`], and its texts are
//! encoded again.

use std::{
    collections::HashMap,
    ops::ControlFlow,
    path::{Path, PathBuf},
    sync::Mutex,
};

use miners_core::{Embeddings, hex};
use miners_encoders::{Encoder, EncoderError, InOrder, Role};
use sha2::{Digest, Sha256};

use crate::{EvalError, Progress};

const MAGIC: &[u8; 4] = b"MEMB";
const VERSION: u32 = 2;
/// Magic, version, dimension, count and the fingerprint's digest.
const HEADER: usize = 20 + 32;

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

    /// Whether each of `texts` is cached for `encoder` and `role` (what a
    /// sweep plan counts as free).
    pub fn contains(
        &self,
        encoder: &dyn Encoder,
        texts: &[String],
        role: Role,
        progress: &dyn Progress,
    ) -> Result<Vec<bool>, EvalError> {
        let mut stores = self.lock_loaded(encoder, progress)?;
        let store = stores.get_mut(encoder.fingerprint()).expect("loaded");
        Ok(texts
            .iter()
            .map(|text| store.vectors.contains_key(&text_key(encoder, text, role)))
            .collect())
    }

    /// The stores, with `encoder`'s read from disk if it was not yet.
    fn lock_loaded(
        &self,
        encoder: &dyn Encoder,
        progress: &dyn Progress,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Store>>, EvalError> {
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| EvalError::Config("embedding cache lock poisoned".into()))?;
        if !stores.contains_key(encoder.fingerprint()) {
            let dir = self.root.join(encoder.fingerprint());
            let store = load(&dir, &owner(encoder), progress)?;
            stores.insert(encoder.fingerprint().to_owned(), store);
        }
        Ok(stores)
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
            .map(|text| text_key(encoder, text, role))
            .collect();
        let mut stores = self.lock_loaded(encoder, progress)?;
        let dir = self.root.join(encoder.fingerprint());
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
            // Every batch that arrives is written, even if a later one fails.
            encode_some(
                encoder,
                texts,
                &missing,
                role,
                label,
                progress,
                &mut |at, fresh| {
                    if store.dim != 0 && store.dim != fresh.dim() {
                        return Err(EvalError::Config(format!(
                            "{}: {} gave {}-dimensional vectors, the cache holds {}",
                            dir.display(),
                            encoder.id(),
                            fresh.dim(),
                            store.dim
                        )));
                    }
                    let entries: Vec<(Key, &[f32])> = at
                        .iter()
                        .zip(fresh.as_slice().chunks(fresh.dim()))
                        .map(|(&i, v)| (keys[i], v))
                        .collect();
                    write_segment(&dir, &owner(encoder), fresh.dim(), &entries)?;
                    store.dim = fresh.dim();
                    for (k, v) in entries {
                        store.vectors.insert(k, v.to_vec());
                    }
                    Ok(())
                },
            )?;
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

/// The key of `text` as `encoder` prepares it for `role`.
fn text_key(encoder: &dyn Encoder, text: &str, role: Role) -> Key {
    let prepared = encoder.prepare(text, role);
    key(prepared.prompt, prepared.body, encoder.role_signature(role))
}

/// `sha256(prompt \0 body)`, and `\0 signature` after it for a model whose
/// role sends a setting besides the prompt.
fn key(prompt: &str, body: &str, signature: Option<&str>) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(prompt.as_bytes());
    hasher.update([0]);
    hasher.update(body.as_bytes());
    if let Some(signature) = signature {
        hasher.update([0]);
        hasher.update(signature.as_bytes());
    }
    hasher.finalize().into()
}

/// Rows gathered before they are handed on (about one segment per thousand
/// texts)...
const KEEP_EVERY: usize = 1024;
/// ...or the time they wait, so a killed process loses at most about a
/// second of a slow (remote) encoder's work.
const KEEP_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What an encoding hands on: positions in `texts` and their vectors, row by row.
pub(crate) type Keep<'a> = dyn FnMut(&[usize], &Embeddings) -> Result<(), EvalError> + 'a;

/// Encodes the texts at `indices`, handing what arrives to `keep` every
/// [`KEEP_EVERY`] rows or [`KEEP_AFTER`], and whatever arrived before an
/// error, then the error.
pub(crate) fn encode_some(
    encoder: &dyn Encoder,
    texts: &[String],
    indices: &[usize],
    role: Role,
    label: &str,
    progress: &dyn Progress,
    keep: &mut Keep<'_>,
) -> Result<(), EvalError> {
    progress.begin(&format!("{} {label}", encoder.id()), indices.len());
    let refs: Vec<&str> = indices.iter().map(|&i| texts[i].as_str()).collect();
    let mut arrived = Arrived::default();
    let mut kept = Ok(());
    let encoded = encoder.encode_streaming(&refs, role, &mut |positions, vectors| {
        progress.advance(vectors.len());
        arrived.push(positions, vectors);
        let due = arrived.rows >= KEEP_EVERY || arrived.since.elapsed() >= KEEP_AFTER;
        if due && kept.is_ok() {
            kept = arrived.hand_on(indices, keep);
        }
        match progress.cancelled() {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    });
    let last = kept.and_then(|()| arrived.hand_on(indices, keep));
    progress.finish();
    encoded?;
    last?;
    if progress.cancelled() {
        return Err(EvalError::Cancelled);
    }
    if arrived.total != indices.len() {
        return Err(EvalError::Config(format!(
            "{} returned {} vectors for {} texts",
            encoder.id(),
            arrived.total,
            indices.len()
        )));
    }
    Ok(())
}

/// Every text of `texts` encoded, in order, without a cache.
pub(crate) fn encode_all(
    encoder: &dyn Encoder,
    texts: &[String],
    role: Role,
    label: &str,
    progress: &dyn Progress,
) -> Result<Embeddings, EvalError> {
    let all: Vec<usize> = (0..texts.len()).collect();
    let mut rows = InOrder::new(texts.len(), encoder.dim());
    encode_some(
        encoder,
        texts,
        &all,
        role,
        label,
        progress,
        &mut |at, vectors| Ok(rows.place(at, vectors)?),
    )?;
    Ok(rows.finish()?)
}

/// Batches received (the positions of their texts and their vectors) and
/// not yet handed on.
struct Arrived {
    batches: Vec<(Vec<usize>, Embeddings)>,
    rows: usize,
    total: usize,
    since: std::time::Instant,
}

impl Default for Arrived {
    fn default() -> Self {
        Self {
            batches: Vec::new(),
            rows: 0,
            total: 0,
            since: std::time::Instant::now(),
        }
    }
}

impl Arrived {
    fn push(&mut self, positions: &[usize], vectors: Embeddings) {
        self.rows += vectors.len();
        self.total += vectors.len();
        self.batches.push((positions.to_vec(), vectors));
    }

    /// Hands the pending batches to `keep` as one group.
    fn hand_on(&mut self, indices: &[usize], keep: &mut Keep<'_>) -> Result<(), EvalError> {
        let batches = std::mem::take(&mut self.batches);
        self.rows = 0;
        self.since = std::time::Instant::now();
        if batches.is_empty() {
            return Ok(());
        }
        let mut at = Vec::new();
        for (positions, vectors) in &batches {
            let found = positions.iter().map(|&p| indices.get(p).copied());
            let found: Option<Vec<usize>> = found.collect();
            match found {
                Some(found) if found.len() == vectors.len() => at.extend(found),
                _ => {
                    return Err(EvalError::Config(format!(
                        "an encoder returned {} vectors at positions {:?}… of {} texts",
                        vectors.len(),
                        &positions[..positions.len().min(3)],
                        indices.len()
                    )));
                }
            }
        }
        let parts: Vec<&Embeddings> = batches.iter().map(|(_, v)| v).collect();
        let vectors = Embeddings::concat(&parts).map_err(EncoderError::from)?;
        keep(&at, &vectors)
    }
}

/// The digest of an encoder's fingerprint that its segments carry.
fn owner(encoder: &dyn Encoder) -> Key {
    Sha256::digest(encoder.fingerprint().as_bytes()).into()
}

/// Reads every segment of one encoder's directory (`owner`: its
/// fingerprint's digest), setting corrupt ones aside.
fn load(dir: &Path, owner: &Key, progress: &dyn Progress) -> Result<Store, EvalError> {
    let mut store = Store::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(store);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin") && p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        match read_segment(&path, owner, store.dim) {
            Ok(Some(segment)) => {
                store.dim = segment.dim;
                store.vectors.extend(segment.entries);
            }
            Ok(None) => {}
            Err(Corrupt(why)) => set_aside(&path, &why, progress)?,
        }
    }
    Ok(store)
}

/// Why a segment cannot be used.
struct Corrupt(String);

/// The contents of one verified segment.
struct Segment {
    dim: usize,
    entries: Vec<(Key, Vec<f32>)>,
}

/// Renames a corrupt segment to `<name>.corrupt` and says so.
fn set_aside(path: &Path, why: &str, progress: &dyn Progress) -> Result<(), EvalError> {
    let aside = path.with_extension("corrupt");
    std::fs::rename(path, &aside).map_err(|source| EvalError::Io {
        path: path.to_owned(),
        source,
    })?;
    progress.warn(&format!(
        "{}: corrupt embedding cache segment ({why}); moved to {} and its texts will be encoded again",
        path.display(),
        aside.display()
    ));
    Ok(())
}

/// The entries of one segment, hashed as they stream in and checked against
/// its name; `None` if it vanished (another process set it aside).
fn read_segment(path: &Path, owner: &Key, expected_dim: usize) -> Result<Option<Segment>, Corrupt> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Corrupt(e.to_string())),
    };
    let mut reader = HashingReader::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut header = [0u8; HEADER];
    reader
        .fill(&mut header)
        .map_err(|_| Corrupt("truncated header".into()))?;
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    if &header[..4] != MAGIC {
        return Err(Corrupt("bad header".into()));
    }
    if word(4) != VERSION {
        return Err(Corrupt(format!(
            "version {}, not {VERSION}: written without the model's fingerprint",
            word(4)
        )));
    }
    if &header[20..52] != owner {
        return Err(Corrupt(
            "written for another model (its fingerprint differs from this folder's)".into(),
        ));
    }
    let dim = word(8) as usize;
    let count = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    if dim == 0 || (expected_dim != 0 && expected_dim != dim) {
        return Err(Corrupt(format!("dimension {dim}, expected {expected_dim}")));
    }
    let mut entries = Vec::new();
    let mut raw = vec![0u8; 32 + 4 * dim];
    for _ in 0..count {
        reader
            .fill(&mut raw)
            .map_err(|_| Corrupt("truncated".into()))?;
        let key: Key = raw[..32].try_into().expect("32 bytes");
        let vector: Vec<f32> = raw[32..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        if vector.iter().any(|v| !v.is_finite()) {
            return Err(Corrupt(format!("entry {} is not finite", entries.len())));
        }
        entries.push((key, vector));
    }
    let digest = reader
        .finish()
        .map_err(|_| Corrupt("trailing bytes".into()))?;
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    if name != hex(&digest[..8]) {
        return Err(Corrupt(format!(
            "content hash {} does not match its name",
            hex(&digest[..8])
        )));
    }
    Ok(Some(Segment { dim, entries }))
}

/// Reads exact byte counts while hashing them.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: std::io::Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn fill(&mut self, buffer: &mut [u8]) -> std::io::Result<()> {
        self.inner.read_exact(buffer)?;
        self.hasher.update(&*buffer);
        Ok(())
    }

    /// The digest, if nothing follows what was read.
    fn finish(mut self) -> std::io::Result<[u8; 32]> {
        let mut probe = [0u8; 1];
        match self.inner.read(&mut probe)? {
            0 => Ok(self.hasher.finalize().into()),
            _ => Err(std::io::Error::other("trailing bytes")),
        }
    }
}

/// Writes entries as one new segment, atomically.
fn write_segment(
    dir: &Path,
    owner: &Key,
    dim: usize,
    entries: &[(Key, &[f32])],
) -> Result<(), EvalError> {
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
    buffer.extend_from_slice(owner);
    for (key, vector) in entries {
        buffer.extend_from_slice(key);
        buffer.extend(vector.iter().flat_map(|v| v.to_le_bytes()));
    }
    let name = format!("{}.bin", hex(&Sha256::digest(&buffer)[..8]));
    miners_core::atomic_write(&dir.join(name), &buffer).map_err(io)
}
