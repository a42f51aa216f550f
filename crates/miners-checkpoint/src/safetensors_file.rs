//! The tensors of one safetensors file, from its header alone.

use std::{fs::File, io::Read, path::Path};

use safetensors::tensor::Metadata;

use crate::{CheckpointError, Dtype, Entry};

/// Largest header this reader accepts (the safetensors crate's own bound).
const MAX_HEADER: u64 = 100_000_000;

/// Every tensor of `path` as `(name, entry)`, with `file` as the entries' file
/// index. The file must hold all the bytes its header promises.
pub(crate) fn entries(path: &Path, file: usize) -> Result<Vec<(String, Entry)>, CheckpointError> {
    let mut handle = File::open(path).map_err(CheckpointError::io(path))?;
    let length = handle.metadata().map_err(CheckpointError::io(path))?.len();
    let mut size = [0u8; 8];
    handle.read_exact(&mut size).map_err(|_| {
        CheckpointError::format(
            path,
            "not a safetensors file: shorter than its 8-byte header size",
        )
    })?;
    let header_len = u64::from_le_bytes(size);
    if header_len > MAX_HEADER || header_len + 8 > length {
        return Err(CheckpointError::format(
            path,
            format!(
                "not a safetensors file (or truncated): header of {header_len} bytes in a file of {length}"
            ),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    handle
        .read_exact(&mut header)
        .map_err(CheckpointError::io(path))?;
    let metadata: Metadata = serde_json::from_slice(&header)
        .map_err(|e| CheckpointError::format(path, format!("not a safetensors header: {e}")))?;
    let data_start = 8 + header_len;
    let data_end = data_start + metadata.data_len() as u64;
    if data_end > length {
        return Err(CheckpointError::format(
            path,
            format!(
                "truncated: the header promises {} bytes of tensors, the file holds {}",
                data_end - data_start,
                length - data_start
            ),
        ));
    }
    metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| {
            let dtype = Dtype::from_safetensors(info.dtype).ok_or_else(|| {
                CheckpointError::format(
                    path,
                    format!("tensor `{name}`: unsupported dtype {:?}", info.dtype),
                )
            })?;
            let entry = Entry {
                file,
                offset: data_start + info.data_offsets.0 as u64,
                dtype,
                shape: info.shape.clone(),
                strides: None,
            };
            Ok((name, entry))
        })
        .collect()
}
