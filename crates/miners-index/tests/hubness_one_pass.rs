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

/// `rows × dim` values in [-0.5, 0.5) from the xorshift stream in `state`.
fn random_rows(rows: usize, dim: usize, state: &mut u64) -> Embeddings {
    let values = (0..rows * dim)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    Embeddings::from_rows(dim, values).unwrap()
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
        metric in prop::sample::select(vec![Metric::Cosine, Metric::Dot, Metric::Euclidean, Metric::Manhattan]),
    ) {
        let options = SearchOptions { query_block, candidate_block, ..SearchOptions::default() };
        let forward = MetricScorer::new(&queries, &candidates, metric).unwrap();
        let backward = MetricScorer::new(&candidates, &queries, metric).unwrap();
        for hubness in [Hubness::DistanceMargin { k }, Hubness::Csls { k }] {
            let scorer = HubnessScorer::new(&forward, &backward, hubness, options).unwrap();
            prop_assert_eq!(bits(scorer.query_means()), bits(&means_by_search(&forward, k, options)));
            prop_assert_eq!(bits(scorer.candidate_means()), bits(&means_by_search(&backward, k, options)));
            // The second pass reads the first pass's scores, or scores again: the same bits.
            let again = SearchOptions { kept_scores_bytes: 0, ..options };
            let rescored = HubnessScorer::new(&forward, &backward, hubness, again).unwrap();
            let pool = candidates.len();
            prop_assert_eq!(ranked(&scorer, pool, options), ranked(&rescored, pool, options));
        }
    }
}

#[test]
fn one_pass_neighbourhoods_equal_two_searches_on_a_large_random_pool() {
    // Real-sized blocks (the defaults) and a dimension that spans GEMM tiles.
    let (nq, nc, dim) = (700, 1_300, 384);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let queries = random_rows(nq, dim, &mut state);
    let candidates = random_rows(nc, dim, &mut state);
    let options = SearchOptions::default();
    for metric in [
        Metric::Cosine,
        Metric::Dot,
        Metric::Euclidean,
        Metric::Manhattan,
    ] {
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

/// Every candidate of every query, best first, as indices and score bits.
fn ranked<S: BlockScorer>(scorer: &S, pool: usize, options: SearchOptions) -> Vec<(usize, u32)> {
    let neighbours = search(scorer, pool, options).unwrap();
    (0..neighbours.len())
        .flat_map(|q| {
            neighbours
                .get(q)
                .map(|n| (n.index, n.score.to_bits()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A scorer that keeps `BlockScorer`'s default `score_block_swapped` (its twin
/// scores each block itself), for scorers that cannot share one GEMM.
struct Plain<'a>(MetricScorer<'a>);

impl BlockScorer for Plain<'_> {
    fn num_queries(&self) -> usize {
        self.0.num_queries()
    }

    fn num_candidates(&self) -> usize {
        self.0.num_candidates()
    }

    fn score_block(&self, q: std::ops::Range<usize>, c: std::ops::Range<usize>, out: &mut [f32]) {
        self.0.score_block(q, c, out)
    }

    fn to_score(&self, query: usize, key: f32) -> f32 {
        self.0.to_score(query, key)
    }

    fn higher_is_better(&self) -> bool {
        self.0.higher_is_better()
    }
}

#[test]
fn the_default_twin_scoring_gives_the_same_neighbourhoods() {
    let rows = |n: usize, seed: u64| {
        let values = (0..n * 6)
            .map(|i| ((i as u64 * 7919 + seed) % 5) as f32 - 2.0)
            .collect();
        Embeddings::from_rows(6, values).unwrap()
    };
    let (queries, candidates) = (rows(23, 1), rows(31, 2));
    let options = SearchOptions {
        query_block: 5,
        candidate_block: 7,
        ..SearchOptions::default()
    };
    for metric in [Metric::Cosine, Metric::Euclidean] {
        let forward = MetricScorer::new(&queries, &candidates, metric).unwrap();
        let backward = MetricScorer::new(&candidates, &queries, metric).unwrap();
        let csls = Hubness::Csls { k: 3 };
        let shared = HubnessScorer::new(&forward, &backward, csls, options).unwrap();
        let (shared_q, shared_c) = (bits(shared.query_means()), bits(shared.candidate_means()));
        let (forward, backward) = (Plain(forward), Plain(backward));
        let apart = HubnessScorer::new(&forward, &backward, csls, options).unwrap();
        assert_eq!(shared_q, bits(apart.query_means()));
        assert_eq!(shared_c, bits(apart.candidate_means()));
        assert_eq!(
            bits(apart.candidate_means()),
            bits(&means_by_search(&backward, 3, options))
        );
    }
}

/// A score does not depend on the block its query falls in: every block
/// size, a single row included (a GEMM kernel sums a lone row in another
/// order), gives the bits of the whole block, for a small and a real width.
#[test]
fn a_score_does_not_depend_on_its_query_block() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for dim in [3, 384] {
        let queries = random_rows(150, dim, &mut state);
        let candidates = random_rows(90, dim, &mut state);
        let scorer = MetricScorer::new(&queries, &candidates, Metric::Cosine).unwrap();
        let mut whole = vec![0f32; 150 * 90];
        scorer.score_block(0..150, 0..90, &mut whole);
        for size in 1..=150 {
            for start in (0..150).step_by(size) {
                let end = (start + size).min(150);
                let mut part = vec![0f32; (end - start) * 90];
                scorer.score_block(start..end, 0..90, &mut part);
                assert_eq!(
                    bits(&part),
                    bits(&whole[start * 90..end * 90]),
                    "dim {dim}, rows {start}..{end}"
                );
            }
        }
    }
}
