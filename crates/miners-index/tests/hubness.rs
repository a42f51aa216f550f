//! Ratio margin, distance margin and CSLS equal the plain numpy computation
//! of `fixtures/generate_hubness.py` (full float64 matrices, stable argsort):
//! scores to 1e-6 and rankings, ties to the lower index, over cosine, dot and
//! Euclidean bases; on real NusaX embeddings, top-5 rankings equal and scores
//! to 1e-6 (2e-6 over L2, whose f32 GEMM expansion limits precision).

use miners_core::{Embeddings, Metric};
use miners_index::{
    BlockScorer, Hubness, HubnessScorer, IndexError, MetricScorer, SearchOptions, search,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    queries: Vec<Vec<f32>>,
    candidates: Vec<Vec<f32>>,
    base: String,
    hubness: String,
    k: usize,
    scores: Vec<Vec<f64>>,
    top5: Vec<Vec<usize>>,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

fn embeddings(rows: &[Vec<f32>]) -> Embeddings {
    Embeddings::from_rows(rows[0].len(), rows.concat()).unwrap()
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/hubness/cases.json"
    );
    let cases: Cases = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    cases.cases
}

fn hubness(name: &str, k: usize) -> Hubness {
    match name {
        "margin_ratio" => Hubness::RatioMargin { k },
        "margin_distance" => Hubness::DistanceMargin { k },
        "csls" => Hubness::Csls { k },
        other => panic!("unknown {other}"),
    }
}

/// Small blocks, so that the searches cross block edges.
const BLOCKS: SearchOptions = SearchOptions {
    query_block: 3,
    candidate_block: 4,
    kept_scores_bytes: 1 << 20,
};

#[test]
fn hubness_scores_and_rankings_equal_numpy() {
    let cases = cases();
    assert_eq!(cases.len(), 16);
    for case in &cases {
        let (queries, candidates) = (embeddings(&case.queries), embeddings(&case.candidates));
        let metric = match case.base.as_str() {
            "cosine" => Metric::Cosine,
            "dot" => Metric::Dot,
            _ => Metric::Euclidean,
        };
        let forward = MetricScorer::new(&queries, &candidates, metric).unwrap();
        let backward = MetricScorer::new(&candidates, &queries, metric).unwrap();
        let kind = hubness(&case.hubness, case.k);
        let scorer = HubnessScorer::new(&forward, &backward, kind, BLOCKS).unwrap();
        let (n, m) = (queries.len(), candidates.len());
        let mut all = vec![0f32; n * m];
        scorer.score_block(0..n, 0..m, &mut all);
        let label = format!("{} over {} ({n}×{m})", case.hubness, case.base);
        for (q, row) in case.scores.iter().enumerate() {
            for (c, &want) in row.iter().enumerate() {
                let got = f64::from(all[q * m + c]);
                assert!(
                    (got - want).abs() <= 1e-6,
                    "{label} [{q}, {c}]: {got} vs {want}"
                );
            }
        }
        let ranked = search(&scorer, 5, BLOCKS).unwrap();
        for (q, want) in case.top5.iter().enumerate() {
            let got: Vec<usize> = ranked.indices(q).collect();
            assert_eq!(&got, want, "{label}: query {q}");
        }
    }
}

#[test]
fn the_ratio_margin_refuses_a_distance_and_sides_must_be_swapped() {
    let a = Embeddings::from_rows(2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
    let b = Embeddings::from_rows(2, vec![1.0, 0.5, 0.5, 1.0]).unwrap();
    let distance = MetricScorer::new(&a, &b, Metric::Euclidean).unwrap();
    let back = MetricScorer::new(&b, &a, Metric::Euclidean).unwrap();
    let ratio = Hubness::RatioMargin { k: 2 };
    let err = HubnessScorer::new(&distance, &back, ratio, BLOCKS).err();
    assert_eq!(err, Some(IndexError::NeedsSimilarity));
    let csls = Hubness::Csls { k: 2 };
    let err = HubnessScorer::new(&distance, &distance, csls, BLOCKS).err();
    assert_eq!(err, Some(IndexError::NotSwapped));
}

#[derive(Deserialize)]
struct RealCase {
    base: String,
    hubness: String,
    k: usize,
    top5: Vec<Vec<usize>>,
    top5_scores: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Real {
    rows: usize,
    dim: usize,
    cases: Vec<RealCase>,
}

#[test]
fn on_real_nusax_embeddings_too() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/hubness/");
    let real: Real =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}nusax_eng_ind.json")).unwrap())
            .unwrap();
    let bytes = std::fs::read(format!("{dir}nusax_eng_ind.f32")).unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let half = real.rows * real.dim;
    let source = Embeddings::from_rows(real.dim, values[..half].to_vec()).unwrap();
    let target = Embeddings::from_rows(real.dim, values[half..].to_vec()).unwrap();
    assert_eq!(real.cases.len(), 5);
    for case in &real.cases {
        let metric = match case.base.as_str() {
            "cosine" => Metric::Cosine,
            _ => Metric::Euclidean,
        };
        let forward = MetricScorer::new(&source, &target, metric).unwrap();
        let backward = MetricScorer::new(&target, &source, metric).unwrap();
        let kind = hubness(&case.hubness, case.k);
        let scorer =
            HubnessScorer::new(&forward, &backward, kind, SearchOptions::default()).unwrap();
        let ranked = search(&scorer, 5, SearchOptions::default()).unwrap();
        for (q, (want, scores)) in case.top5.iter().zip(&case.top5_scores).enumerate() {
            let got: Vec<usize> = ranked.indices(q).collect();
            assert_eq!(&got, want, "{} over {}: query {q}", case.hubness, case.base);
            // L2 in f32 through the GEMM expansion |q|² − 2q·c + |c|² (as
            // torch.cdist computes it) carries about 1e-6 of error, doubled by CSLS.
            let tolerance = if metric == Metric::Euclidean {
                2e-6
            } else {
                1e-6
            };
            for (n, want) in ranked.get(q).zip(scores) {
                let diff = (f64::from(n.score) - want).abs();
                assert!(
                    diff <= tolerance,
                    "{} over {}: query {q}: {diff}",
                    case.hubness,
                    case.base
                );
            }
        }
    }
}
