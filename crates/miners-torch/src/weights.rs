//! Named tensors of a model directory's checkpoint (any published layout),
//! checked against expected shapes and placed one at a time.

use std::{path::Path, rc::Rc};

use miners_checkpoint::{Checkpoint, CheckpointError, Dtype};
use tch::{Device, Kind, TchError, Tensor};

use crate::{TorchError, precision::Precision};

/// The tensors of one checkpoint, looked up under an optional prefix and
/// read only when taken; an encoder architecture loads its parameters from it.
#[derive(Clone)]
pub struct Weights {
    checkpoint: Rc<Checkpoint>,
    dir: std::path::PathBuf,
    prefix: String,
    device: Device,
    precision: Precision,
}

impl Weights {
    /// Opens the checkpoint in `dir` for a model held in `precision`;
    /// tensors go to `device` when taken.
    pub(crate) fn read(
        dir: &Path,
        device: Device,
        precision: Precision,
    ) -> Result<Self, TorchError> {
        let checkpoint = Checkpoint::open(dir).map_err(|e| TorchError::checkpoint(&e))?;
        Ok(Self {
            checkpoint: Rc::new(checkpoint),
            dir: dir.to_owned(),
            prefix: String::new(),
            device,
            precision,
        })
    }

    /// The same weights, placed on `device` when taken.
    pub(crate) fn on(&self, device: Device) -> Self {
        Self {
            device,
            ..self.clone()
        }
    }

    /// The device tensors go to.
    pub(crate) fn device(&self) -> Device {
        self.device
    }

    /// Whether linear layers are to be quantized to int8.
    pub(crate) fn int8_linear(&self) -> bool {
        self.precision.int8_linear
    }

    /// The weight files, for fingerprints.
    pub(crate) fn files(&self) -> &[std::path::PathBuf] {
        self.checkpoint.files()
    }

    /// Every tensor, by name, in its stored shape.
    pub(crate) fn take_all(&self) -> Result<Vec<(String, Tensor)>, TorchError> {
        let names: Vec<String> = self.checkpoint.names().map(str::to_owned).collect();
        names
            .into_iter()
            .map(|name| {
                let shape: Vec<i64> = self
                    .checkpoint
                    .info(&name)
                    .map_or_else(Vec::new, |(_, s)| s.iter().map(|&n| n as i64).collect());
                let tensor = self.take(&name, &shape)?;
                Ok((name, tensor))
            })
            .collect()
    }

    /// Uses the prefix (`bert.`, `roberta.`, ...) under which `probe` exists.
    pub(crate) fn with_prefix_of(mut self, probe: &str) -> Self {
        if let Some(key) = self.checkpoint.names().find(|k| k.ends_with(probe)) {
            self.prefix = key[..key.len() - probe.len()].to_owned();
        }
        self
    }

    /// Whether the tensor `name` exists (under the prefix).
    pub fn has(&self, name: &str) -> bool {
        self.checkpoint.contains(&format!("{}{name}", self.prefix))
    }

    /// The tensor `name` with exactly `shape`, on the target device and kind:
    /// read in its stored type, moved, then converted.
    pub fn take(&self, name: &str, shape: &[i64]) -> Result<Tensor, TorchError> {
        let key = format!("{}{name}", self.prefix);
        let path = self.checkpoint.file_of(&key).unwrap_or(&self.dir);
        let (stored_kind, stored) = self
            .checkpoint
            .info(&key)
            .ok_or_else(|| TorchError::model(&self.dir, format!("missing tensor `{key}`")))?;
        if !stored.iter().map(|&n| n as i64).eq(shape.iter().copied()) {
            return Err(TorchError::model(
                path,
                format!("tensor `{key}` has shape {stored:?}, expected {shape:?}"),
            ));
        }
        let torch = |e: TchError| TorchError::model(path, format!("tensor `{key}`: {e}"));
        match self.load(&key, shape, kind_of(stored_kind)) {
            Ok(tensor) => tensor.f_to_kind(self.precision.weights).map_err(torch),
            Err(Loading::Torch(e)) => Err(torch(e)),
            Err(Loading::Checkpoint(e)) => Err(TorchError::checkpoint(&e)),
        }
    }

    /// Tensor `key` in its stored kind on the target device, filled a piece
    /// at a time: the only transient copy is one piece.
    fn load(&self, key: &str, shape: &[i64], stored: Kind) -> Result<Tensor, Loading> {
        let tensor = Tensor::f_empty(shape, (stored, self.device))?;
        let flat = tensor.f_view([-1])?;
        let element = stored.elt_size_in_bytes();
        let mut at = 0i64;
        self.checkpoint.read_chunks(key, PIECE_BYTES, |bytes| {
            let n = (bytes.len() / element) as i64;
            let piece = Tensor::f_from_data_size(bytes, &[n], stored)?;
            flat.f_narrow(0, at, n)?.f_copy_(&piece)?;
            at += n;
            Ok::<(), Loading>(())
        })?;
        Ok(tensor)
    }
}

/// Bytes read and copied at a time while loading a tensor.
const PIECE_BYTES: usize = 1 << 20;

/// A failure while filling a tensor: reading the checkpoint or in libtorch.
enum Loading {
    Checkpoint(CheckpointError),
    Torch(TchError),
}

impl From<CheckpointError> for Loading {
    fn from(error: CheckpointError) -> Self {
        Self::Checkpoint(error)
    }
}

impl From<TchError> for Loading {
    fn from(error: TchError) -> Self {
        Self::Torch(error)
    }
}

/// Every tensor of the checkpoint in `dir` (any published layout), on
/// `device` as `kind`, loaded as the models load theirs: one tensor at a
/// time, in pieces, with no second copy of the checkpoint.
pub fn load_checkpoint(
    dir: &Path,
    device: Device,
    kind: Kind,
) -> Result<Vec<(String, Tensor)>, TorchError> {
    Weights::read(dir, device, Precision::unquantized(kind))?.take_all()
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
