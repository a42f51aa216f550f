//! The margins' and CSLS's neighbourhoods come from one pass over the score
//! blocks (one GEMM serves both sides); they equal, bit for bit, the means
//! over two exact searches (queries → candidates, and the sides swapped),
//! ties included: vectors of small integers, with repeated rows, tie often.

use miners_core::{Embeddings, Metric};
use miners_index::{BlockScorer, Hubness, HubnessScorer, MetricScorer, SearchOptions, search};
use proptest::prelude::*;

/// Mean score of each query's `k` nearest under `scorer`, as a search gives them.
fn means_by_search<S: BlockScorer>(scorer: &S, k: usize, options: SearchOptions) -> Vec<f32> {
    let k = k.min(scorer.num_candidates()).max(1);
    let neighbours = search(scorer, k, options).unwrap();
    let sign = if scorer.higher_is_better() { 1.0 } else { -1.0 };
    (0..neighbours.len())
        .map(|q| {
            let sum: f64 = neighbours.get(q).map(|n| f64::from(n.score)).sum();
            (sign * sum / k as f64) as f32
        })
        .collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// `rows` vectors of `dim` small integers, some rows repeated.
fn integer_rows(rows: usize, dim: usize) -> impl Strategy<Value = Embeddings> {
    (
        prop::collection::vec(-2i8..=2, rows * dim),
        prop::collection::vec(0..rows, rows / 3),
    )
        .prop_map(move |(values, copies)| {
            let mut values: Vec<f32> = values.into_iter().map(f32::from).collect();
            for (to, &from) in copies.iter().enumerate() {
                let row: Vec<f32> = values[from * dim..(from + 1) * dim].to_vec();
                values[to * dim..(to + 1) * dim].copy_from_slice(&row);
            }
            // No zero row: cosine needs a direction.
            for row in values.chunks_mut(dim) {
                if row.iter().all(|&v| v == 0.0) {
                    row[0] = 1.0;
                }
            }
            Embeddings::from_rows(dim, values).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn one_pass_neighbourhoods_equal_two_searches_bit_for_bit(
        (queries, candidates) in (1usize..40, 1usize..90, 1usize..12)
            .prop_flat_map(|(nq, nc, dim)| (integer_rows(nq, dim), integer_rows(nc, dim))),
        k in 1usize..12,
        query_block in 1usize..20,
        candidate_block in 1usize..70,
        metric in prop::sample::select(vec![Metric::Cosine, Metric::Dot, Metric::Euclidean]),
    ) {
        let options = SearchOptions { query_block, candidate_block };
        let forward = MetricScorer::new(&queries, &candidates, metric).unwrap();
        let backward = MetricScorer::new(&candidates, &queries, metric).unwrap();
        for hubness in [Hubness::DistanceMargin { k }, Hubness::Csls { k }] {
            let scorer = HubnessScorer::new(&forward, &backward, hubness, options).unwrap();
            prop_assert_eq!(bits(scorer.query_means()), bits(&means_by_search(&forward, k, options)));
            prop_assert_eq!(bits(scorer.candidate_means()), bits(&means_by_search(&backward, k, options)));
        }
    }
}

#[test]
fn one_pass_neighbourhoods_equal_two_searches_on_a_large_random_pool() {
    // Real-sized blocks (the defaults) and a dimension that spans GEMM tiles.
    let (nq, nc, dim) = (700, 1_300, 384);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let queries = Embeddings::from_rows(dim, (0..nq * dim).map(|_| next()).collect()).unwrap();
    let candidates = Embeddings::from_rows(dim, (0..nc * dim).map(|_| next()).collect()).unwrap();
    let options = SearchOptions::default();
    for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
        let forward = MetricScorer::new(&queries, &candidates, metric).unwrap();
        let backward = MetricScorer::new(&candidates, &queries, metric).unwrap();
        let scorer =
            HubnessScorer::new(&forward, &backward, Hubness::Csls { k: 10 }, options).unwrap();
        assert_eq!(
            bits(scorer.query_means()),
            bits(&means_by_search(&forward, 10, options))
        );
        assert_eq!(
            bits(scorer.candidate_means()),
            bits(&means_by_search(&backward, 10, options))
        );
    }
}
