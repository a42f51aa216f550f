//! How a precision ([`DType`]) is held on a device: the kind weights are
//! stored in, and whether linear layers are quantized to int8.

use miners_encoders::spec::{DType, DeviceChoice};
use tch::{Device, Kind};

use crate::{TorchError, resolve_device};

/// Weight storage for one model on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Precision {
    /// The kind every weight is stored in (linear layers too, unless quantized).
    pub(crate) weights: Kind,
    /// Linear layers as int8 with per-output-channel absmax scales.
    pub(crate) int8_linear: bool,
}

impl Precision {
    /// Every weight in `kind`, none quantized.
    pub(crate) fn unquantized(kind: Kind) -> Self {
        Self {
            weights: kind,
            int8_linear: false,
        }
    }

    /// The device a choice resolves to and the storage `dtype` calls for there.
    pub(crate) fn resolve(
        choice: DeviceChoice,
        dtype: DType,
    ) -> Result<(Device, Self), TorchError> {
        let device = resolve_device(choice)?;
        Ok((device, Self::new(dtype, device)?))
    }

    /// The storage `dtype` calls for on `device`; float16 needs CUDA.
    pub(crate) fn new(dtype: DType, device: Device) -> Result<Self, TorchError> {
        let (weights, int8_linear) = match (dtype, device) {
            (DType::Float32, _) => (Kind::Float, false),
            (DType::BFloat16, _) => (Kind::BFloat16, false),
            (DType::Float16, Device::Cuda(_)) => (Kind::Half, false),
            (DType::Int8, Device::Cuda(_)) => (Kind::Half, true),
            (DType::Int8, _) => (Kind::Float, true),
            (DType::Float16, _) => {
                return Err(TorchError::Device(
                    "float16 needs a CUDA device; use bfloat16 or float32 on the CPU".into(),
                ));
            }
        };
        Ok(Self {
            weights,
            int8_linear,
        })
    }
}
