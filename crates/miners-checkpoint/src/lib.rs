//! Model checkpoints as the Hub publishes them, read tensor by tensor.
//!
//! [`Checkpoint::open`] finds a directory's weights in transformers' order of
//! preference ([`Layout`]): `model.safetensors`, sharded safetensors with
//! `model.safetensors.index.json`, `pytorch_model.bin` (the `torch.save` zip
//! format) and sharded `.bin` with `pytorch_model.bin.index.json`. Opening
//! reads only headers (safetensors) or the pickle (`data.pkl`); each tensor's
//! bytes are read when asked for, with one positioned read, so loading a model
//! never holds a second copy of its checkpoint.
//!
//! The pickle reader executes nothing: it knows the opcodes `torch.save`
//! writes and accepts only the globals a state dict needs (tensor and
//! parameter rebuilds, typed storages, `OrderedDict`), a subset of what
//! `torch.load(weights_only=True)` allows; any other global is a
//! [`CheckpointError::ForbiddenGlobal`] naming file and global.
//!
//! ```no_run
//! use miners_checkpoint::Checkpoint;
//!
//! let checkpoint = Checkpoint::open("models/minilm-l6".as_ref())?;
//! println!("{:?} in {} file(s)", checkpoint.layout(), checkpoint.files().len());
//! let embeddings = checkpoint.read("embeddings.word_embeddings.weight")?;
//! assert_eq!(embeddings.shape.len(), 2);
//! # Ok::<(), miners_checkpoint::CheckpointError>(())
//! ```

mod dtype;
mod error;
mod pickle;
mod safetensors_file;
mod torch_zip;

use std::{
    collections::BTreeMap,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

pub use dtype::Dtype;
pub use error::CheckpointError;

/// How a directory's weights are laid out, in transformers' order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One `model.safetensors`.
    Safetensors,
    /// `model.safetensors.index.json` naming `model-0000N-of-0000M.safetensors` shards.
    ShardedSafetensors,
    /// One `pytorch_model.bin`, a `torch.save` zip archive.
    PytorchBin,
    /// `pytorch_model.bin.index.json` naming `.bin` shards.
    ShardedPytorchBin,
}

impl Layout {
    /// Every layout, preferred first.
    pub const ALL: [Layout; 4] = [
        Self::Safetensors,
        Self::ShardedSafetensors,
        Self::PytorchBin,
        Self::ShardedPytorchBin,
    ];

    /// The file that marks this layout: the weights, or the shards' index.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Safetensors => "model.safetensors",
            Self::ShardedSafetensors => "model.safetensors.index.json",
            Self::PytorchBin => "pytorch_model.bin",
            Self::ShardedPytorchBin => "pytorch_model.bin.index.json",
        }
    }

    /// Whether the weights are split over shards named by an index.
    pub fn is_sharded(self) -> bool {
        matches!(self, Self::ShardedSafetensors | Self::ShardedPytorchBin)
    }

    /// Whether the weights are PyTorch pickles.
    pub fn is_pickle(self) -> bool {
        matches!(self, Self::PytorchBin | Self::ShardedPytorchBin)
    }

    /// The preferred layout present in `dir`.
    pub fn detect(dir: &Path) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|layout| dir.join(layout.file_name()).is_file())
    }

    /// The preferred layout among the file names of a listing (a Hub
    /// repository's top level, say).
    pub fn choose<S: AsRef<str>>(files: &[S]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|layout| files.iter().any(|f| f.as_ref() == layout.file_name()))
    }
}

/// Where one tensor's bytes lie.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Index into the checkpoint's files.
    file: usize,
    /// Byte offset of the first element.
    offset: u64,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Element strides when not contiguous (pickled views).
    strides: Option<Vec<usize>>,
}

/// A tensor read from a checkpoint: contiguous, little-endian, in its stored type.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// The stored element type.
    pub dtype: Dtype,
    /// The shape.
    pub shape: Vec<usize>,
    /// `shape.product() × dtype.size()` bytes, row-major.
    pub data: Vec<u8>,
}

/// The weights of one model directory: names, types and shapes known, bytes
/// read on demand.
#[derive(Debug)]
pub struct Checkpoint {
    dir: PathBuf,
    layout: Layout,
    files: Vec<PathBuf>,
    entries: BTreeMap<String, Entry>,
}

impl Checkpoint {
    /// Opens the weights of `dir` in the preferred layout it has.
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        let layout = Layout::detect(dir).ok_or_else(|| CheckpointError::NoWeights {
            dir: dir.to_owned(),
        })?;
        let marker = dir.join(layout.file_name());
        let index = match layout.is_sharded() {
            true => Some(ShardIndex::read(&marker)?),
            false => None,
        };
        let files: Vec<PathBuf> = match &index {
            Some(index) => index.shards().map(|shard| dir.join(shard)).collect(),
            None => vec![marker.clone()],
        };
        let mut entries = BTreeMap::new();
        for (i, path) in files.iter().enumerate() {
            if !path.is_file() {
                return Err(CheckpointError::format(
                    &marker,
                    format!("names shard `{}`, which is not there", file_name(path)),
                ));
            }
            let tensors = match layout.is_pickle() {
                true => torch_zip::entries(path, i)?,
                false => safetensors_file::entries(path, i)?,
            };
            for (name, entry) in tensors {
                if let Some(previous) = entries.insert(name.clone(), entry) {
                    return Err(CheckpointError::format(
                        path,
                        format!(
                            "tensor `{name}` is also in {}",
                            file_name(&files[previous.file])
                        ),
                    ));
                }
            }
        }
        if let Some(index) = &index {
            index.check(&marker, &entries, &files)?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            layout,
            files,
            entries,
        })
    }

    /// The layout the weights were found in.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The weight files, in the index's order for sharded layouts.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The stored type and shape of tensor `name`.
    pub fn info(&self, name: &str) -> Option<(Dtype, &[usize])> {
        self.entries
            .get(name)
            .map(|e| (e.dtype, e.shape.as_slice()))
    }

    /// The file holding tensor `name`.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.entries.get(name).map(|e| self.files[e.file].as_path())
    }

    /// Total bytes of every tensor as stored.
    pub fn stored_bytes(&self) -> u64 {
        self.entries
            .values()
            .map(|e| (e.shape.iter().product::<usize>() * e.dtype.size()) as u64)
            .sum()
    }

    /// Reads tensor `name`'s bytes (one positioned read; strided pickled
    /// views are made contiguous).
    pub fn read(&self, name: &str) -> Result<RawTensor, CheckpointError> {
        let entry = self.entry(name)?;
        let mut data = Vec::new();
        self.read_chunks(name, usize::MAX, |chunk| {
            data.extend_from_slice(chunk);
            Ok::<(), CheckpointError>(())
        })?;
        Ok(RawTensor {
            dtype: entry.dtype,
            shape: entry.shape.clone(),
            data,
        })
    }

    /// Hands tensor `name`'s bytes, row-major, to `sink` in pieces of at most
    /// `max_bytes` (whole elements; one piece for a strided view), so that a
    /// caller can fill its own buffer without a second copy of the tensor.
    pub fn read_chunks<E: From<CheckpointError>>(
        &self,
        name: &str,
        max_bytes: usize,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let entry = self.entry(name)?;
        let path = &self.files[entry.file];
        let size = entry.dtype.size();
        let unreadable = |e: std::io::Error| {
            CheckpointError::format(
                path,
                format!("tensor `{name}`: cannot read its bytes (truncated?): {e}"),
            )
        };
        let mut file = File::open(path).map_err(CheckpointError::io(path))?;
        file.seek(SeekFrom::Start(entry.offset))
            .map_err(unreadable)?;
        if let Some(strides) = &entry.strides {
            let extent = element_extent(&entry.shape, strides)
                .map_err(|m| CheckpointError::format(path, format!("tensor `{name}`: {m}")))?;
            let mut span = vec![0u8; extent * size];
            file.read_exact(&mut span).map_err(unreadable)?;
            return sink(&gather(&span, &entry.shape, strides, size));
        }
        let mut left = entry.shape.iter().product::<usize>() * size;
        let piece = (max_bytes / size).max(1) * size;
        let mut buffer = vec![0u8; left.min(piece)];
        while left > 0 {
            let n = left.min(piece);
            file.read_exact(&mut buffer[..n]).map_err(unreadable)?;
            sink(&buffer[..n])?;
            left -= n;
        }
        Ok(())
    }

    fn entry(&self, name: &str) -> Result<&Entry, CheckpointError> {
        self.entries
            .get(name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                path: self.dir.clone(),
                name: name.to_owned(),
            })
    }
}

/// `model.safetensors.index.json` / `pytorch_model.bin.index.json`.
#[derive(serde::Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    fn read(path: &Path) -> Result<Self, CheckpointError> {
        let text = std::fs::read(path).map_err(CheckpointError::io(path))?;
        let index: Self = serde_json::from_slice(&text)
            .map_err(|e| CheckpointError::format(path, format!("not a shard index: {e}")))?;
        if let Some(bad) = index
            .weight_map
            .values()
            .find(|shard| !is_plain_file_name(shard))
        {
            return Err(CheckpointError::format(
                path,
                format!("shard `{bad}` is not a file name inside the model's directory"),
            ));
        }
        Ok(index)
    }

    /// Shard file names, each once, sorted (`model-00001-of-…` first).
    fn shards(&self) -> impl Iterator<Item = &str> {
        let mut seen = std::collections::BTreeSet::new();
        let mut shards: Vec<&str> = self.weight_map.values().map(String::as_str).collect();
        shards.sort_unstable();
        shards.retain(|s| seen.insert(*s));
        shards.into_iter()
    }

    /// Every tensor the index names is in the shard it names.
    fn check(
        &self,
        path: &Path,
        entries: &BTreeMap<String, Entry>,
        files: &[PathBuf],
    ) -> Result<(), CheckpointError> {
        for (name, shard) in &self.weight_map {
            let found = entries.get(name).map(|e| file_name(&files[e.file]));
            if found.as_deref() != Some(shard.as_str()) {
                return Err(CheckpointError::format(
                    path,
                    format!("names tensor `{name}` in shard `{shard}`, which lacks it"),
                ));
            }
        }
        Ok(())
    }
}

/// The shard files a sharded layout's index names, for downloading: each a
/// plain file name in the index's directory.
pub fn shard_names(index: &Path) -> Result<Vec<String>, CheckpointError> {
    Ok(ShardIndex::read(index)?
        .shards()
        .map(str::to_owned)
        .collect())
}

/// Whether `name` is a single, ordinary path component.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !(name.len() >= 2 && name.as_bytes()[1] == b':')
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Row-major strides, in elements, of a contiguous tensor of `shape`.
pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Elements from the first to one past the last a strided view touches,
/// checked for rank and overflow.
pub(crate) fn element_extent(shape: &[usize], strides: &[usize]) -> Result<usize, String> {
    if shape.len() != strides.len() {
        return Err(format!(
            "shape {shape:?} and strides {strides:?} differ in rank"
        ));
    }
    if shape.contains(&0) {
        return Ok(0);
    }
    shape
        .iter()
        .zip(strides)
        .try_fold(1usize, |extent, (&size, &stride)| {
            (size - 1).checked_mul(stride)?.checked_add(extent)
        })
        .ok_or_else(|| format!("shape {shape:?} with strides {strides:?} overflows"))
}

/// The elements of a strided view, in row-major order.
fn gather(span: &[u8], shape: &[usize], strides: &[usize], size: usize) -> Vec<u8> {
    let count: usize = shape.iter().product();
    let mut out = Vec::with_capacity(count * size);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..count {
        let at = index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>() * size;
        out.extend_from_slice(&span[at..at + size]);
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_stay_inside_the_directory() {
        for bad in [
            "",
            ".",
            "..",
            "../x.safetensors",
            "a/b.safetensors",
            "a\\b",
            "C:x",
            "x\0y",
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
        assert!(is_plain_file_name("model-00001-of-00002.safetensors"));
    }

    #[test]
    fn a_transposed_view_is_gathered_row_major() {
        // storage [0 1 2 3 4 5] as 2×3, viewed transposed as 3×2 (strides 1, 3)
        let span: Vec<u8> = (0..6).collect();
        assert_eq!(gather(&span, &[3, 2], &[1, 3], 1), [0, 3, 1, 4, 2, 5]);
        assert_eq!(element_extent(&[3, 2], &[1, 3]), Ok(6));
        assert_eq!(contiguous_strides(&[2, 3, 4]), [12, 4, 1]);
    }
}
