//! Property tests: blocked search equals a brute-force stable sort.

use miners_core::{Embeddings, Metric};
use miners_index::{BlockScorer, ExactIndex, IndexError, MetricScorer, SearchOptions, search};
use proptest::prelude::*;

/// Reference ranking: exact scores in f64, stable sort, lower index first on ties.
fn brute_force(
    queries: &Embeddings,
    pool: &Embeddings,
    metric: Metric,
    k: usize,
) -> Vec<Vec<usize>> {
    let score = |q: usize, c: usize| -> f64 {
        let (a, b) = (queries.row(q), pool.row(c));
        let dot: f64 = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let norm = |v: ndarray::ArrayView1<f32>| {
            v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
        };
        match metric {
            Metric::Dot => dot,
            Metric::Cosine => dot / (norm(a) * norm(b)).max(f64::MIN_POSITIVE),
            Metric::Euclidean => -a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum::<f64>(),
            Metric::Manhattan => -a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
                .sum::<f64>(),
        }
    };
    (0..queries.len())
        .map(|q| {
            let mut order: Vec<usize> = (0..pool.len()).collect();
            order.sort_by(|&a, &b| score(q, b).partial_cmp(&score(q, a)).unwrap());
            order.truncate(k);
            order
        })
        .collect()
}

/// Small integer-valued vectors: every score is exact in f32, ties are frequent.
fn matrix(rows: std::ops::Range<usize>, dim: usize) -> impl Strategy<Value = Embeddings> {
    rows.prop_flat_map(move |n| {
        prop::collection::vec(-3i8..=3, n * dim).prop_map(move |v| {
            Embeddings::from_rows(dim, v.into_iter().map(f32::from).collect()).unwrap()
        })
    })
}

proptest! {
    #[test]
    fn blocked_search_equals_stable_sort(
        pool in matrix(1..40, 3),
        queries in matrix(1..30, 3),
        k in 1usize..8,
        block in 1usize..9,
        metric in prop::sample::select(vec![Metric::Dot, Metric::Euclidean, Metric::Manhattan]),
    ) {
        let k = k.min(pool.len());
        let scorer = MetricScorer::new(&queries, &pool, metric).unwrap();
        let options = SearchOptions { query_block: block, candidate_block: block, ..SearchOptions::default() };
        let hits = search(&scorer, k, options).unwrap();
        let expected = brute_force(&queries, &pool, metric, k);
        for (q, want) in expected.iter().enumerate() {
            prop_assert_eq!(&hits.indices(q).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn block_scores_are_the_keys_converted_one_by_one(
        pool in matrix(1..20, 4),
        queries in matrix(1..9, 4),
        metric in prop::sample::select(vec![Metric::Cosine, Metric::Dot, Metric::Euclidean, Metric::Manhattan]),
    ) {
        let scorer = MetricScorer::new(&queries, &pool, metric).unwrap();
        let (nq, nc) = (queries.len(), pool.len());
        let (mut keys, mut scores) = (vec![0f32; nq * nc], vec![0f32; nq * nc]);
        scorer.score_block(0..nq, 0..nc, &mut keys);
        scorer.scores_block(0..nq, 0..nc, &mut scores);
        for (i, (key, score)) in keys.iter().zip(&scores).enumerate() {
            prop_assert_eq!(scorer.to_score(i / nc, *key).to_bits(), score.to_bits());
        }
        if metric == Metric::Manhattan {
            let l1: f32 = queries.row(0).iter().zip(pool.row(0).iter()).map(|(a, b)| (a - b).abs()).sum();
            prop_assert_eq!(scores[0], l1);
        }
    }

    #[test]
    fn euclidean_scores_are_distances(pool in matrix(1..20, 4), queries in matrix(1..5, 4)) {
        let hits = ExactIndex::new(pool.clone(), Metric::Euclidean).search(&queries, 1).unwrap();
        for q in 0..queries.len() {
            let best = hits.get(q).next().unwrap();
            let exact: f32 = queries.row(q).iter().zip(pool.row(best.index).iter())
                .map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
            prop_assert!((best.score - exact).abs() <= 1e-4 * (1.0 + exact));
        }
    }
}

#[test]
fn cosine_ignores_scale() {
    let pool = Embeddings::from_rows(2, vec![10.0, 0.0, 1.0, 1.0]).unwrap();
    let queries = Embeddings::from_rows(2, vec![0.1, 0.12]).unwrap();
    let hits = ExactIndex::new(pool, Metric::Cosine)
        .search(&queries, 2)
        .unwrap();
    assert_eq!(hits.indices(0).collect::<Vec<_>>(), vec![1, 0]);
}

#[test]
fn k_out_of_range_is_an_error() {
    let pool = Embeddings::from_rows(2, vec![1.0, 0.0]).unwrap();
    let index = ExactIndex::new(pool.clone(), Metric::Dot);
    assert_eq!(
        index.search(&pool, 2).unwrap_err(),
        IndexError::BadK { k: 2, pool: 1 }
    );
    assert_eq!(
        index.search(&pool, 0).unwrap_err(),
        IndexError::BadK { k: 0, pool: 1 }
    );
}

#[test]
fn mismatched_dimensions_are_an_error() {
    let pool = Embeddings::from_rows(2, vec![1.0, 0.0]).unwrap();
    let queries = Embeddings::from_rows(3, vec![1.0, 0.0, 0.0]).unwrap();
    let err = ExactIndex::new(pool, Metric::Dot)
        .search(&queries, 1)
        .unwrap_err();
    assert_eq!(
        err,
        IndexError::DimensionMismatch {
            queries: 3,
            candidates: 2
        }
    );
}
