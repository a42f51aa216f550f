//! Element types a checkpoint may store.

use serde::{Deserialize, Serialize};

/// The element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
    /// IEEE binary64.
    F64,
    /// 64-bit signed integers (`position_ids` buffers, for one).
    I64,
    /// 32-bit signed integers.
    I32,
    /// 16-bit signed integers.
    I16,
    /// 8-bit signed integers.
    I8,
    /// 8-bit unsigned integers.
    U8,
    /// Booleans, one byte each.
    Bool,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::Bf16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// The type of a safetensors header, if this crate reads it.
    pub(crate) fn from_safetensors(dtype: safetensors::Dtype) -> Option<Self> {
        use safetensors::Dtype as S;
        Some(match dtype {
            S::F32 => Self::F32,
            S::F16 => Self::F16,
            S::BF16 => Self::Bf16,
            S::F64 => Self::F64,
            S::I64 => Self::I64,
            S::I32 => Self::I32,
            S::I16 => Self::I16,
            S::I8 => Self::I8,
            S::U8 => Self::U8,
            S::BOOL => Self::Bool,
            _ => return None,
        })
    }

    /// The type of a PyTorch storage class (`FloatStorage`, `BFloat16Storage`, …).
    pub(crate) fn from_storage_class(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::Bf16,
            "DoubleStorage" => Self::F64,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }
}
