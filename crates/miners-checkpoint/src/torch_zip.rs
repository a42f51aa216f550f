//! The tensors of one `torch.save` zip archive (`pytorch_model.bin`): the
//! pickle `<archive>/data.pkl` names them, each storage is an uncompressed
//! entry `<archive>/data/<key>` read in place.

use std::{collections::HashMap, fs::File, io::Read, path::Path};

use zip::{CompressionMethod, ZipArchive};

use crate::{
    CheckpointError, Entry,
    pickle::{self, PickleError, TensorRef},
};

/// The first bytes of a zip file; `torch.save` before 1.6 wrote a bare pickle.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Where a storage's bytes start in the file, and how many there are.
struct StorageSpan {
    start: u64,
    len: u64,
}

/// Every tensor of `path` as `(name, entry)`, with `file` as the entries' file index.
pub(crate) fn entries(path: &Path, file: usize) -> Result<Vec<(String, Entry)>, CheckpointError> {
    let mut handle = File::open(path).map_err(CheckpointError::io(path))?;
    let mut magic = [0u8; 4];
    let read = handle.read(&mut magic).map_err(CheckpointError::io(path))?;
    if &magic[..read] != ZIP_MAGIC {
        return Err(CheckpointError::format(
            path,
            "not a zip archive: a legacy (torch < 1.6) pickle or another format; re-save it with \
             a current torch.save, or as safetensors",
        ));
    }
    let mut archive = ZipArchive::new(handle).map_err(|e| {
        CheckpointError::format(
            path,
            format!("not a readable zip archive (truncated?): {e}"),
        )
    })?;
    let prefix = archive_prefix(&archive, path)?;
    let order = read_entry(&mut archive, &format!("{prefix}byteorder"), path)?;
    if order.is_some_and(|order| order != b"little") {
        return Err(CheckpointError::format(
            path,
            "big-endian storages are not supported",
        ));
    }
    let pickle = read_entry(&mut archive, &format!("{prefix}data.pkl"), path)?
        .ok_or_else(|| CheckpointError::format(path, "no data.pkl"))?;
    let tensors = pickle::state_dict(&pickle).map_err(|error| match error {
        PickleError::Forbidden(global) => CheckpointError::ForbiddenGlobal {
            path: path.to_owned(),
            global,
        },
        PickleError::Malformed(message) => {
            CheckpointError::format(path, format!("data.pkl: {message}"))
        }
    })?;
    let mut spans = HashMap::new();
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let key = &tensor.storage.key;
            if !spans.contains_key(key) {
                let span = storage_span(&mut archive, &format!("{prefix}data/{key}"), path)?;
                spans.insert(key.clone(), span);
            }
            let entry = entry(&tensor, &spans[key], file).map_err(|message| {
                CheckpointError::format(path, format!("tensor `{name}`: {message}"))
            })?;
            Ok((name, entry))
        })
        .collect()
}

/// The folder every entry sits in (`archive/`, or the file's stem).
fn archive_prefix(archive: &ZipArchive<File>, path: &Path) -> Result<String, CheckpointError> {
    archive
        .file_names()
        .find_map(|name| name.strip_suffix("data.pkl"))
        .filter(|prefix| prefix.is_empty() || prefix.ends_with('/'))
        .map(str::to_owned)
        .ok_or_else(|| {
            CheckpointError::format(
                path,
                "a zip archive without data.pkl: not a torch.save file",
            )
        })
}

fn read_entry(
    archive: &mut ZipArchive<File>,
    name: &str,
    path: &Path,
) -> Result<Option<Vec<u8>>, CheckpointError> {
    let mut entry = match archive.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(CheckpointError::format(path, format!("{name}: {e}"))),
    };
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| CheckpointError::format(path, format!("{name}: {e}")))?;
    Ok(Some(bytes))
}

fn storage_span(
    archive: &mut ZipArchive<File>,
    name: &str,
    path: &Path,
) -> Result<StorageSpan, CheckpointError> {
    let entry = archive
        .by_name(name)
        .map_err(|e| CheckpointError::format(path, format!("storage {name}: {e}")))?;
    if entry.compression() != CompressionMethod::Stored {
        return Err(CheckpointError::format(
            path,
            format!(
                "storage {name} is compressed ({}); torch.save stores them uncompressed",
                entry.compression()
            ),
        ));
    }
    Ok(StorageSpan {
        start: entry.data_start(),
        len: entry.size(),
    })
}

/// Where `tensor`'s elements lie in the file, checked against its storage.
fn entry(tensor: &TensorRef, span: &StorageSpan, file: usize) -> Result<Entry, String> {
    let dtype = tensor.storage.dtype;
    let extent = crate::element_extent(&tensor.shape, &tensor.strides)?;
    let end = tensor
        .offset
        .checked_add(extent)
        .filter(|&end| end <= tensor.storage.numel)
        .ok_or_else(|| {
            format!(
                "reaches past its storage of {} elements",
                tensor.storage.numel
            )
        })?;
    if (end * dtype.size()) as u64 > span.len {
        return Err(format!(
            "storage `{}` holds {} bytes, the tensor needs {}",
            tensor.storage.key,
            span.len,
            end * dtype.size()
        ));
    }
    let contiguous = crate::contiguous_strides(&tensor.shape) == tensor.strides;
    Ok(Entry {
        file,
        offset: span.start + (tensor.offset * dtype.size()) as u64,
        dtype,
        shape: tensor.shape.clone(),
        strides: (!contiguous).then(|| tensor.strides.clone()),
    })
}
