//! Times exact search and bare GEMM on raw little-endian f32 matrices, for
//! `benches/knn_vs_faiss.py`. Prints one JSON line of best-of-N seconds.
//!
//! Usage: `knn-timing QUERIES.f32 CANDIDATES.f32 DIM K REPEATS`

use std::time::Instant;

use miners_benches::gemm;
use miners_core::{Embeddings, Metric};
use miners_index::ExactIndex;

fn read(path: &str, dim: usize) -> Embeddings {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Embeddings::from_rows(dim, values).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn best_of(repeats: usize, mut f: impl FnMut()) -> f64 {
    (0..repeats)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, queries, candidates, dim, k, repeats] = &args[..] else {
        panic!("usage: knn-timing QUERIES.f32 CANDIDATES.f32 DIM K REPEATS");
    };
    let (dim, k, repeats) = (
        dim.parse().unwrap(),
        k.parse().unwrap(),
        repeats.parse().unwrap(),
    );
    let (queries, candidates) = (read(queries, dim), read(candidates, dim));
    let index = ExactIndex::new(candidates.clone(), Metric::Euclidean);
    let hits = index.search(&queries, k).unwrap();
    let search_s = best_of(repeats, || {
        index.search(&queries, k).unwrap();
    });
    let mut out = vec![0f32; queries.len() * candidates.len()];
    let gemm_s = best_of(repeats, || gemm(&queries, &candidates, &mut out));
    let first: Vec<usize> = (0..queries.len())
        .map(|q| hits.indices(q).next().unwrap())
        .collect();
    let checksum: usize = first.iter().enumerate().map(|(i, &j)| i * 31 + j).sum();
    println!("{{\"search_s\": {search_s}, \"gemm_s\": {gemm_s}, \"top1_checksum\": {checksum}}}");
}
