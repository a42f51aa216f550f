//! Reading safetensors tensors into `f32` / `i64` vectors with clear errors.

use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::EncoderError;

/// Parses a safetensors buffer.
pub fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>, EncoderError> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| EncoderError::format(path, format!("not a safetensors file: {e}")))
}

/// A tensor by name, or `None` if absent.
pub fn optional<'a>(
    path: &Path,
    st: &'a SafeTensors<'a>,
    name: &str,
) -> Result<Option<TensorView<'a>>, EncoderError> {
    match st.tensor(name) {
        Ok(t) => Ok(Some(t)),
        Err(safetensors::SafeTensorError::TensorNotFound(_)) => Ok(None),
        Err(e) => Err(EncoderError::format(path, format!("tensor `{name}`: {e}"))),
    }
}

/// A tensor by name that must exist.
pub fn required<'a>(
    path: &Path,
    st: &'a SafeTensors<'a>,
    name: &str,
) -> Result<TensorView<'a>, EncoderError> {
    optional(path, st, name)?
        .ok_or_else(|| EncoderError::format(path, format!("missing tensor `{name}`")))
}

/// Checks a tensor's rank.
pub fn expect_rank(
    path: &Path,
    name: &str,
    t: &TensorView<'_>,
    rank: usize,
) -> Result<(), EncoderError> {
    if t.shape().len() == rank {
        Ok(())
    } else {
        Err(EncoderError::format(
            path,
            format!(
                "tensor `{name}` has shape {:?}, expected rank {rank}",
                t.shape()
            ),
        ))
    }
}

/// Converts a floating or int8 tensor to `f32`.
pub fn to_f32(path: &Path, name: &str, t: &TensorView<'_>) -> Result<Vec<f32>, EncoderError> {
    let data = t.data();
    let values = match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Dtype::I8 => data.iter().map(|&b| f32::from(b as i8)).collect(),
        other => {
            return Err(EncoderError::format(
                path,
                format!("tensor `{name}` has dtype {other:?}; supported: F32, F16, BF16, I8"),
            ));
        }
    };
    Ok(values)
}

/// Converts an integer tensor to `i64`.
pub fn to_i64(path: &Path, name: &str, t: &TensorView<'_>) -> Result<Vec<i64>, EncoderError> {
    let data = t.data();
    match t.dtype() {
        Dtype::I64 => Ok(data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect()),
        Dtype::I32 => Ok(data
            .chunks_exact(4)
            .map(|b| i64::from(i32::from_le_bytes(b.try_into().expect("4 bytes"))))
            .collect()),
        other => Err(EncoderError::format(
            path,
            format!("tensor `{name}` has dtype {other:?}; supported: I64, I32"),
        )),
    }
}

/// IEEE 754 half to single precision.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the fraction.
            let shift = frac.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | ((frac << (shift + 13)) & 0x7f_ffff)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_precision_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }
}
