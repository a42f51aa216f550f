//! Named tensors of a model directory's checkpoint (any published layout),
//! checked against expected shapes and placed one at a time.

use std::path::Path;

use miners_checkpoint::{Checkpoint, Dtype};
use tch::{Device, Kind, Tensor};

use crate::TorchError;

/// The tensors of one checkpoint, looked up under an optional prefix and
/// read only when taken.
pub(crate) struct Weights {
    checkpoint: Checkpoint,
    dir: std::path::PathBuf,
    prefix: String,
    device: Device,
    kind: Kind,
}

impl Weights {
    /// Opens the checkpoint in `dir`; tensors go to `device` as `kind` when taken.
    pub(crate) fn read(dir: &Path, device: Device, kind: Kind) -> Result<Self, TorchError> {
        let checkpoint =
            Checkpoint::open(dir).map_err(|e| TorchError::model(dir, e.to_string()))?;
        Ok(Self {
            checkpoint,
            dir: dir.to_owned(),
            prefix: String::new(),
            device,
            kind,
        })
    }

    /// The weight files, for fingerprints.
    pub(crate) fn files(&self) -> &[std::path::PathBuf] {
        self.checkpoint.files()
    }

    /// Uses the prefix (`bert.`, `roberta.`, ...) under which `probe` exists.
    pub(crate) fn with_prefix_of(mut self, probe: &str) -> Self {
        if let Some(key) = self.checkpoint.names().find(|k| k.ends_with(probe)) {
            self.prefix = key[..key.len() - probe.len()].to_owned();
        }
        self
    }

    /// Whether the tensor `name` exists (under the prefix).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.checkpoint.contains(&format!("{}{name}", self.prefix))
    }

    /// The tensor `name` with exactly `shape`, on the target device and kind:
    /// read in its stored type, moved, then converted.
    pub(crate) fn take(&self, name: &str, shape: &[i64]) -> Result<Tensor, TorchError> {
        let key = format!("{}{name}", self.prefix);
        let path = self.checkpoint.file_of(&key).unwrap_or(&self.dir);
        let (_, stored) = self
            .checkpoint
            .info(&key)
            .ok_or_else(|| TorchError::model(&self.dir, format!("missing tensor `{key}`")))?;
        if !stored.iter().map(|&n| n as i64).eq(shape.iter().copied()) {
            return Err(TorchError::model(
                path,
                format!("tensor `{key}` has shape {stored:?}, expected {shape:?}"),
            ));
        }
        let raw = self
            .checkpoint
            .read(&key)
            .map_err(|e| TorchError::model(path, e.to_string()))?;
        Tensor::f_from_data_size(&raw.data, shape, kind_of(raw.dtype))
            .and_then(|t| t.f_to_device(self.device))
            .and_then(|t| t.f_to_kind(self.kind))
            .map_err(|e| TorchError::model(path, format!("tensor `{key}`: {e}")))
    }
}

/// libtorch's kind for a stored element type.
fn kind_of(dtype: Dtype) -> Kind {
    match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::Bf16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::Bool => Kind::Bool,
    }
}
