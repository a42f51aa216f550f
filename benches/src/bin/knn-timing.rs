//! Times exact search and bare GEMM on raw little-endian f32 matrices, for
//! `benches/knn_vs_faiss.py`. Prints one JSON line of best-of-N seconds.
//!
//! Usage: `knn-timing QUERIES.f32 CANDIDATES.f32 DIM K REPEATS`

use miners_benches::{best_of, gemm, read_matrix};
use miners_core::Metric;
use miners_index::ExactIndex;

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
    let (queries, candidates) = (read_matrix(queries, dim), read_matrix(candidates, dim));
    let index = ExactIndex::new(candidates.clone(), Metric::Euclidean);
    let hits = index.search(&queries, k).unwrap();
    let (search_s, _) = best_of(repeats, || index.search(&queries, k).unwrap());
    let mut out = vec![0f32; queries.len() * candidates.len()];
    let (gemm_s, ()) = best_of(repeats, || gemm(&queries, &candidates, &mut out));
    let first: Vec<usize> = (0..queries.len())
        .map(|q| hits.indices(q).next().unwrap())
        .collect();
    let checksum: usize = first.iter().enumerate().map(|(i, &j)| i * 31 + j).sum();
    println!("{{\"search_s\": {search_s}, \"gemm_s\": {gemm_s}, \"top1_checksum\": {checksum}}}");
}
