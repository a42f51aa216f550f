//! Shared helpers of the miners benchmarks.
//!
//! ```
//! let m = miners_benches::random_matrix(4, 3, 7);
//! assert_eq!((m.len(), m.dim()), (4, 3));
//! ```

use faer::{Accum, MatMut, MatRef, Par};
use miners_core::Embeddings;

/// A deterministic pseudo-random `rows × dim` matrix with values in [-1, 1).
pub fn random_matrix(rows: usize, dim: usize, seed: u64) -> Embeddings {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let values = (0..rows * dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    Embeddings::from_rows(dim, values).expect("finite values")
}

/// A `rows × dim` matrix from a file of raw little-endian `f32`, as the
/// Python benches write them with `numpy.tofile`; panics naming the file.
pub fn read_matrix(path: &str, dim: usize) -> Embeddings {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Embeddings::from_rows(dim, values).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fastest of `repeats` calls of `f`, in seconds, with that call's
/// result; `repeats` must be at least one.
pub fn best_of<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = (f64::INFINITY, None);
    for _ in 0..repeats {
        let start = std::time::Instant::now();
        let value = f();
        let seconds = start.elapsed().as_secs_f64();
        if seconds < best.0 {
            best = (seconds, Some(value));
        }
    }
    (best.0, best.1.expect("one repeat at least"))
}

/// `Q · Cᵀ` into `out` with faer on every rayon thread: the GEMM ceiling of a search.
pub fn gemm(queries: &Embeddings, candidates: &Embeddings, out: &mut [f32]) {
    let dim = queries.dim();
    let lhs = MatRef::from_row_major_slice(queries.as_slice(), queries.len(), dim);
    let rhs =
        MatRef::from_row_major_slice(candidates.as_slice(), candidates.len(), dim).transpose();
    let dst = MatMut::from_row_major_slice_mut(out, queries.len(), candidates.len());
    let threads = rayon::current_num_threads();
    faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, Par::rayon(threads));
}
