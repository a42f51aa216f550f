//! DistFuse against a direct computation of the paper's formula.

use miners_core::{Embeddings, Metric};
use miners_fusion::{DistFuse, FusionError, Member, Normalization};
use miners_index::{ExactIndex, SearchOptions, search};
use proptest::prelude::*;

fn matrix(n: usize, dim: usize) -> impl Strategy<Value = Embeddings> {
    prop::collection::vec(-4i8..=4, n * dim).prop_map(move |v| {
        Embeddings::from_rows(dim, v.into_iter().map(f32::from).collect()).unwrap()
    })
}

fn l2(a: &Embeddings, i: usize, b: &Embeddings, j: usize) -> f64 {
    a.row(i)
        .iter()
        .zip(b.row(j).iter())
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

proptest! {
    #[test]
    fn one_model_ranks_as_that_model(q in matrix(7, 3), c in matrix(11, 3), w in 0.1f32..5.0, k in 1usize..11) {
        let fused = DistFuse::new(&[Member::new(&q, &c, w)], Metric::Euclidean, Normalization::None).unwrap();
        let hits = search(&fused, k, SearchOptions::default()).unwrap();
        let alone = ExactIndex::new(c.clone(), Metric::Euclidean).search(&q, k).unwrap();
        for i in 0..q.len() {
            prop_assert_eq!(hits.indices(i).collect::<Vec<_>>(), alone.indices(i).collect::<Vec<_>>());
        }
    }

    #[test]
    fn two_models_follow_the_weighted_sum(
        (q1, c1, q2, c2) in (matrix(5, 2), matrix(9, 2), matrix(5, 4), matrix(9, 4)),
        w1 in 0.1f32..3.0, w2 in 0.1f32..3.0,
    ) {
        let members = [Member::new(&q1, &c1, w1), Member::new(&q2, &c2, w2)];
        let fused = DistFuse::new(&members, Metric::Euclidean, Normalization::None).unwrap();
        let hits = search(&fused, 1, SearchOptions::default()).unwrap();
        for i in 0..5 {
            let d = |j| f64::from(w1) * l2(&q1, i, &c1, j) + f64::from(w2) * l2(&q2, i, &c2, j);
            let best = (0..9).map(d).fold(f64::INFINITY, f64::min);
            let got = hits.get(i).next().unwrap();
            // The retrieved candidate is optimal up to f32 rounding of the distances.
            prop_assert!(d(got.index) <= best + 1e-4 * (1.0 + best));
            prop_assert!((f64::from(got.score) - d(got.index)).abs() <= 1e-3 * (1.0 + best));
        }
    }
}

#[test]
fn zscore_makes_scale_irrelevant() {
    let q = Embeddings::from_rows(1, vec![0.0, 1.0]).unwrap();
    let c = Embeddings::from_rows(1, vec![1.0, 2.0, 4.0]).unwrap();
    let big_q = Embeddings::from_rows(1, vec![0.0, 1000.0]).unwrap();
    let big_c = Embeddings::from_rows(1, vec![4000.0, 2000.0, 1000.0]).unwrap();
    let members = [Member::new(&q, &c, 1.0), Member::new(&big_q, &big_c, 1.0)];
    let raw = search(
        &DistFuse::new(&members, Metric::Euclidean, Normalization::None).unwrap(),
        1,
        SearchOptions::default(),
    )
    .unwrap();
    let z = search(
        &DistFuse::new(&members, Metric::Euclidean, Normalization::ZScore).unwrap(),
        1,
        SearchOptions::default(),
    )
    .unwrap();
    // Raw: the large-scale model dominates; z-scored, both count.
    assert_eq!(raw.indices(0).next(), Some(2));
    assert_eq!(raw.indices(1).next(), Some(2));
    assert_ne!(
        z.indices(0).collect::<Vec<_>>(),
        raw.indices(0).collect::<Vec<_>>()
    );
}

#[test]
fn bad_members_are_errors() {
    let a = Embeddings::from_rows(2, vec![0.0; 4]).unwrap();
    let b = Embeddings::from_rows(2, vec![0.0; 6]).unwrap();
    let wide = Embeddings::from_rows(3, vec![0.0; 6]).unwrap();
    assert_eq!(
        DistFuse::new(&[], Metric::Euclidean, Normalization::None).unwrap_err(),
        FusionError::Empty
    );
    let err = DistFuse::new(
        &[Member::new(&a, &a, 1.0), Member::new(&a, &b, 1.0)],
        Metric::Euclidean,
        Normalization::None,
    )
    .unwrap_err();
    assert!(matches!(err, FusionError::ShapeMismatch { index: 1, .. }));
    let err = DistFuse::new(
        &[Member::new(&a, &wide, 1.0)],
        Metric::Euclidean,
        Normalization::None,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("model 0: query dimension 2"),
        "{err}"
    );
    let err = DistFuse::new(
        &[Member::new(&a, &a, f32::NAN)],
        Metric::Euclidean,
        Normalization::None,
    )
    .unwrap_err();
    assert!(matches!(err, FusionError::BadWeight { index: 0, .. }));
}

/// DistFuse's hubness neighbourhoods come from one pass over the blocks, each
/// member scoring a block once for both sides and each side fusing with its
/// own z-scores: bit for bit the means over two exact searches.
#[test]
fn one_pass_neighbourhoods_equal_two_searches_bit_for_bit() {
    use miners_index::{BlockScorer, Hubness, HubnessScorer, SearchOptions, search};
    let mut state = 0x2545_f491_4f6c_dd1du64;
    // Few distinct values, so that fused distances tie too.
    let mut rows = |n, dim| xorshift_rows(&mut state, n, dim, |x| (x % 5) as f32 - 2.0);
    let (q1, c1, q2, c2) = (rows(57, 8), rows(91, 8), rows(57, 5), rows(91, 5));
    let means = |scorer: &DistFuse<'_>, k: usize, options: SearchOptions| -> Vec<u32> {
        let neighbours = search(scorer, k, options).unwrap();
        (0..neighbours.len())
            .map(|q| {
                let sum: f64 = neighbours.get(q).map(|n| f64::from(n.score)).sum();
                ((-sum / k as f64) as f32).to_bits()
            })
            .collect()
    };
    for normalization in [Normalization::None, Normalization::ZScore] {
        let forward = [Member::new(&q1, &c1, 0.3), Member::new(&q2, &c2, 0.7)];
        let backward = [Member::new(&c1, &q1, 0.3), Member::new(&c2, &q2, 0.7)];
        let forward = DistFuse::new(&forward, Metric::Euclidean, normalization).unwrap();
        let backward = DistFuse::new(&backward, Metric::Euclidean, normalization).unwrap();
        let options = SearchOptions {
            query_block: 7,
            candidate_block: 13,
            ..SearchOptions::default()
        };
        let csls = Hubness::Csls { k: 6 };
        let scorer = HubnessScorer::new(&forward, &backward, csls, options).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(scorer.query_means()), means(&forward, 6, options));
        assert_eq!(bits(scorer.candidate_means()), means(&backward, 6, options));
        // Kept first-pass scores rank as scores computed again, bit for bit.
        let again = SearchOptions {
            kept_scores_bytes: 0,
            ..options
        };
        let rescored = HubnessScorer::new(&forward, &backward, csls, again).unwrap();
        let (kept, fresh) = (search(&scorer, 10, options), search(&rescored, 10, options));
        let (kept, fresh) = (kept.unwrap(), fresh.unwrap());
        for q in 0..kept.len() {
            let kept: Vec<_> = kept.get(q).map(|n| (n.index, n.score.to_bits())).collect();
            let fresh: Vec<_> = fresh.get(q).map(|n| (n.index, n.score.to_bits())).collect();
            assert_eq!(kept, fresh);
        }
        assert_eq!(forward.num_queries(), 57);
    }
}

/// A fusion of cosine or Manhattan members ranks by what the `distfuse`
/// package's `score_pairs` computes under that `dist_measure`: the best
/// candidate of each query and its fused score (f32 against f64).
#[test]
fn member_metrics_rank_as_score_pairs_measures() {
    use miners_fusion::{DistMeasure, FirstWeight, score_pairs};
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rows =
        |n, dim| xorshift_rows(&mut state, n, dim, |x| (x % 10_007) as f32 / 5_000.0 - 1.0);
    let (q1, c1, q2, c2) = (rows(23, 16), rows(41, 16), rows(23, 9), rows(41, 9));
    let members = [Member::new(&q1, &c1, 0.4), Member::new(&q2, &c2, 1.5)];
    for measure in [
        DistMeasure::Euclidean,
        DistMeasure::Cosine,
        DistMeasure::Manhattan,
    ] {
        let fused = DistFuse::new(&members, measure.metric(), Normalization::None).unwrap();
        let hits = search(&fused, 1, SearchOptions::default()).unwrap();
        let want = score_pairs(&members, measure, FirstWeight::Weighted).unwrap();
        for (q, row) in want.iter().enumerate() {
            let best = (0..row.len())
                .reduce(|a, b| match measure.higher_is_better() {
                    true if row[b] > row[a] => b,
                    false if row[b] < row[a] => b,
                    _ => a,
                })
                .unwrap();
            let hit = hits.get(q).next().unwrap();
            assert_eq!(hit.index, best, "{measure:?}, query {q}");
            assert!((f64::from(hit.score) - row[best]).abs() < 1e-4 * row[best].abs().max(1.0));
        }
    }
}

/// `n × dim` values from a xorshift stream at `state`, each drawn by `value`.
fn xorshift_rows(state: &mut u64, n: usize, dim: usize, value: impl Fn(u64) -> f32) -> Embeddings {
    let values = (0..n * dim)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            value(*state)
        })
        .collect();
    Embeddings::from_rows(dim, values).unwrap()
}
