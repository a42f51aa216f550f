//! ggml tensor types and their dequantization to `f32`.
//!
//! Each block-quantized type stores a fixed number of values per block; the
//! formulas follow ggml's reference `dequantize_row_*` functions, in the same
//! order of `f32` operations, so results are bit-identical to ggml's.

use half::{bf16, f16};

/// Values per K-quant super-block.
const QK_K: usize = 256;

/// A ggml storage type miners can read.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16.
    BF16,
    /// 4-bit, one scale per 32 values.
    Q4_0,
    /// 4-bit, scale and minimum per 32 values.
    Q4_1,
    /// 5-bit, one scale per 32 values.
    Q5_0,
    /// 5-bit, scale and minimum per 32 values.
    Q5_1,
    /// 8-bit, one scale per 32 values.
    Q8_0,
    /// 4-bit K-quant: 256-value super-blocks of eight 32-value blocks.
    Q4_K,
    /// 5-bit K-quant.
    Q5_K,
    /// 6-bit K-quant: sixteen 16-value blocks with 8-bit scales.
    Q6_K,
}

impl TensorType {
    /// The type with ggml id `id`, if miners supports it.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            12 => Self::Q4_K,
            13 => Self::Q5_K,
            14 => Self::Q6_K,
            30 => Self::BF16,
            _ => return None,
        })
    }

    /// `(values per block, bytes per block)`.
    pub fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 2 + 16),
            Self::Q4_1 => (32, 2 + 2 + 16),
            Self::Q5_0 => (32, 2 + 4 + 16),
            Self::Q5_1 => (32, 2 + 2 + 4 + 16),
            Self::Q8_0 => (32, 2 + 32),
            Self::Q4_K => (QK_K, 2 + 2 + 12 + QK_K / 2),
            Self::Q5_K => (QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2),
            Self::Q6_K => (QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2),
        }
    }

    /// Bytes that `len` values occupy; an error if `len` is not whole blocks.
    pub fn byte_size(self, len: u64) -> Result<u64, String> {
        let (values, bytes) = self.block();
        if !len.is_multiple_of(values as u64) {
            return Err(format!(
                "{len} values are not a whole number of {self:?} blocks of {values}"
            ));
        }
        Ok(len / values as u64 * bytes as u64)
    }

    /// Dequantizes `len` values stored in `bytes`.
    pub fn dequantize(self, bytes: &[u8], len: usize) -> Result<Vec<f32>, String> {
        let expected = self.byte_size(len as u64)? as usize;
        if bytes.len() != expected {
            return Err(format!(
                "{} bytes for {len} {self:?} values, expected {expected}",
                bytes.len()
            ));
        }
        let (values, size) = self.block();
        let mut out = vec![0f32; len];
        let decode: fn(&[u8], &mut [f32]) = match self {
            Self::F32 => |b, y| y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F16 => |b, y| y[0] = half16(b),
            Self::BF16 => |b, y| y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::Q4_0 => q4_0,
            Self::Q4_1 => q4_1,
            Self::Q5_0 => q5_0,
            Self::Q5_1 => q5_1,
            Self::Q8_0 => q8_0,
            Self::Q4_K => q4_k,
            Self::Q5_K => q5_k,
            Self::Q6_K => q6_k,
        };
        for (block, y) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(values)) {
            decode(block, y);
        }
        Ok(out)
    }
}

fn half16(b: &[u8]) -> f32 {
    f16::from_le_bytes([b[0], b[1]]).to_f32()
}

fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = half16(b);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
    }
}

fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half16(b), half16(&b[2..]));
    for (j, &q) in b[4..20].iter().enumerate() {
        y[j] = (q & 0x0F) as f32 * d + m;
        y[j + 16] = (q >> 4) as f32 * d + m;
    }
}

/// The fifth bits of Q5 blocks: bit `j` of a little-endian `u32`.
fn high_bits(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = half16(b);
    let qh = high_bits(&b[2..]);
    for (j, &q) in b[6..22].iter().enumerate() {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = (((q & 0x0F) as u32 | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((q >> 4) as u32 | h1) as i32 - 16) as f32 * d;
    }
}

fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half16(b), half16(&b[2..]));
    let qh = high_bits(&b[4..]);
    for (j, &q) in b[8..24].iter().enumerate() {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = ((q & 0x0F) as u32 | h0) as f32 * d + m;
        y[j + 16] = ((q >> 4) as u32 | h1) as f32 * d + m;
    }
}

fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = half16(b);
    for (out, &q) in y.iter_mut().zip(&b[2..34]) {
        *out = q as i8 as f32 * d;
    }
}

/// Scale and minimum of sub-block `j` from the 12 packed bytes of Q4_K / Q5_K.
fn scale_min(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

fn q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half16(b), half16(&b[2..]));
    let scales = &b[4..16];
    let qs = &b[16..16 + QK_K / 2];
    for (chunk, (q, y)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (sc1, m1) = scale_min(2 * chunk, scales);
        let (sc2, m2) = scale_min(2 * chunk + 1, scales);
        let (d1, min1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, min2) = (d * sc2 as f32, dmin * m2 as f32);
        for (l, &v) in q.iter().enumerate() {
            y[l] = d1 * (v & 0x0F) as f32 - min1;
            y[l + 32] = d2 * (v >> 4) as f32 - min2;
        }
    }
}

fn q5_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half16(b), half16(&b[2..]));
    let scales = &b[4..16];
    let qh = &b[16..16 + QK_K / 8];
    let ql = &b[16 + QK_K / 8..];
    for (chunk, (q, y)) in ql.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (sc1, m1) = scale_min(2 * chunk, scales);
        let (sc2, m2) = scale_min(2 * chunk + 1, scales);
        let (d1, min1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, min2) = (d * sc2 as f32, dmin * m2 as f32);
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        for (l, &v) in q.iter().enumerate() {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[l] = d1 * ((v & 0x0F) + h1) as f32 - min1;
            y[l + 32] = d2 * ((v >> 4) + h2) as f32 - min2;
        }
    }
}

fn q6_k(b: &[u8], y: &mut [f32]) {
    let ql_all = &b[..QK_K / 2];
    let qh_all = &b[QK_K / 2..QK_K / 2 + QK_K / 4];
    let sc_all = &b[QK_K / 2 + QK_K / 4..QK_K / 2 + QK_K / 4 + QK_K / 16];
    let d = half16(&b[QK_K / 2 + QK_K / 4 + QK_K / 16..]);
    for half in 0..2 {
        let ql = &ql_all[64 * half..];
        let qh = &qh_all[32 * half..];
        let sc = &sc_all[8 * half..];
        let y = &mut y[128 * half..];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            let scale = |i: usize| d * sc[i] as i8 as f32;
            y[l] = scale(is) * q1 as f32;
            y[l + 32] = scale(is + 2) * q2 as f32;
            y[l + 64] = scale(is + 4) * q3 as f32;
            y[l + 96] = scale(is + 6) * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_block_decodes_scale_times_int8() {
        let mut block = f16::from_f32(0.5).to_le_bytes().to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let values = TensorType::Q8_0.dequantize(&block, 32).unwrap();
        assert_eq!(values[0], -8.0);
        assert_eq!(values[31], 7.5);
    }

    #[test]
    fn partial_blocks_are_rejected() {
        let err = TensorType::Q4_K.dequantize(&[0; 10], 100).unwrap_err();
        assert!(err.contains("whole number"), "{err}");
    }
}
