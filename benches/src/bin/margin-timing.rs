//! Times LASER-style margin mining's core on raw little-endian f32 matrices,
//! for `benches/margin_vs_laser.py`: a plain cosine search, and the ratio
//! margin (k neighbourhoods each way, then the corrected ranking) as miners
//! computes it (two passes over the blocks) and as three searches would.
//! Prints one JSON line of best-of-N seconds and each source's best target.
//!
//! Usage: `margin-timing QUERIES.f32 CANDIDATES.f32 DIM K REPEATS`

use miners_benches::{best_of, read_matrix};
use miners_core::Metric;
use miners_index::{Hubness, HubnessScorer, MetricScorer, SearchOptions, search};

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
    let (queries, candidates) = (read_matrix(queries, dim), read_matrix(candidates, dim));
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
