//! Named tensors from a safetensors file, checked against expected shapes.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use tch::{Device, Kind, Tensor};

use crate::TorchError;

/// The tensors of one safetensors file, looked up under an optional prefix.
pub(crate) struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    prefix: String,
    device: Device,
    kind: Kind,
}

impl Weights {
    /// Reads `path`, placing tensors on `device` as `kind` when taken.
    pub(crate) fn read(path: &Path, device: Device, kind: Kind) -> Result<Self, TorchError> {
        if !path.is_file() {
            return Err(TorchError::model(path, "file not found"));
        }
        let tensors = Tensor::read_safetensors(path).map_err(|e| {
            TorchError::model(path, format!("not a readable safetensors file: {e}"))
        })?;
        Ok(Self {
            path: path.to_owned(),
            tensors: tensors.into_iter().collect(),
            prefix: String::new(),
            device,
            kind,
        })
    }

    /// Uses the prefix (`bert.`, `roberta.`, ...) under which `probe` exists.
    pub(crate) fn with_prefix_of(mut self, probe: &str) -> Self {
        if let Some(key) = self.tensors.keys().find(|k| k.ends_with(probe)) {
            self.prefix = key[..key.len() - probe.len()].to_owned();
        }
        self
    }

    /// Whether the tensor `name` exists (under the prefix).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(&format!("{}{name}", self.prefix))
    }

    /// The tensor `name` with exactly `shape`, on the target device and kind.
    pub(crate) fn take(&self, name: &str, shape: &[i64]) -> Result<Tensor, TorchError> {
        let key = format!("{}{name}", self.prefix);
        let tensor = self
            .tensors
            .get(&key)
            .ok_or_else(|| TorchError::model(&self.path, format!("missing tensor `{key}`")))?;
        if tensor.size() != shape {
            return Err(TorchError::model(
                &self.path,
                format!(
                    "tensor `{key}` has shape {:?}, expected {shape:?}",
                    tensor.size()
                ),
            ));
        }
        tensor
            .f_to_device(self.device)
            .and_then(|t| t.f_to_kind(self.kind))
            .map_err(|e| TorchError::model(&self.path, format!("tensor `{key}`: {e}")))
    }
}
