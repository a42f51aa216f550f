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
