//! Times LASER-style margin mining's core on raw little-endian f32 matrices,
//! for `benches/margin_vs_laser.py`: a plain cosine search, and the ratio
//! margin (k neighbourhoods each way, then the corrected ranking) as miners
//! computes it (two passes over the blocks) and as three searches would.
//! Prints one JSON line of best-of-N seconds and each source's best target.
//!
//! Usage: `margin-timing QUERIES.f32 CANDIDATES.f32 DIM K REPEATS`

use std::time::Instant;

use miners_core::{Embeddings, Metric};
use miners_index::{Hubness, HubnessScorer, MetricScorer, SearchOptions, search};

fn read(path: &str, dim: usize) -> Embeddings {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Embeddings::from_rows(dim, values).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn best_of<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = (f64::INFINITY, None);
    for _ in 0..repeats {
        let start = Instant::now();
        let value = f();
        let seconds = start.elapsed().as_secs_f64();
        if seconds < best.0 {
            best = (seconds, Some(value));
        }
    }
    (best.0, best.1.expect("one repeat at least"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, queries, candidates, dim, k, repeats] = &args[..] else {
        panic!("usage: margin-timing QUERIES.f32 CANDIDATES.f32 DIM K REPEATS");
    };
    let (dim, k, repeats): (usize, usize, usize) = (
        dim.parse().unwrap(),
        k.parse().unwrap(),
        repeats.parse().unwrap(),
    );
    let (queries, candidates) = (read(queries, dim), read(candidates, dim));
    let options = SearchOptions::default();
    let forward = MetricScorer::new(&queries, &candidates, Metric::Cosine).unwrap();
    let backward = MetricScorer::new(&candidates, &queries, Metric::Cosine).unwrap();
    let margin = Hubness::RatioMargin { k };
    let (search_s, _) = best_of(repeats, || search(&forward, k, options).unwrap());
    let (margin_s, best) = best_of(repeats, || {
        let corrected = HubnessScorer::new(&forward, &backward, margin, options).unwrap();
        search(&corrected, 1, options).unwrap()
    });
    // The cost of the same ranking as three searches: each neighbourhood by a
    // search of its own, then the corrected search.
    let corrected = HubnessScorer::new(&forward, &backward, margin, options).unwrap();
    let (three_s, _) = best_of(repeats, || {
        search(&forward, k, options).unwrap();
        search(&backward, k, options).unwrap();
        search(&corrected, 1, options).unwrap()
    });
    let top1: Vec<usize> = (0..best.len())
        .map(|q| best.indices(q).next().unwrap())
        .collect();
    let top1 = top1
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "{{\"search_s\": {search_s}, \"margin_s\": {margin_s}, \"three_searches_s\": {three_s}, \"top1\": [{top1}]}}"
    );
}
