//! Mining with the ratio margin finds every planted pair and nothing else in
//! pools padded with unpaired sentences on both sides: F1 = 1.

use miners_core::{Embeddings, Metric};
use miners_eval::mining::{best_threshold, mutual_best, shuffled};
use miners_index::{Hubness, HubnessScorer, MetricScorer, SearchOptions, search};

/// Rows of xorshift noise in [-1, 1).
fn random(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..rows * dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

#[test]
fn planted_pairs_are_mined_with_f1_one() {
    let (dim, planted, extra) = (64, 60, 40);
    let shared = random(planted, dim, 1);
    // Sources: the planted rows, then unpaired ones; targets: the planted rows
    // slightly moved, in another order, with other unpaired ones among them.
    let mut sources = shared.clone();
    sources.extend(random(extra, dim, 2));
    let order = shuffled(planted + extra, 3);
    let mut targets = vec![0f32; (planted + extra) * dim];
    let noise = random(planted, dim, 4);
    let unpaired = random(extra, dim, 5);
    let mut gold = vec![None; planted + extra];
    for (row, &slot) in order.iter().enumerate() {
        let values: Vec<f32> = if row < planted {
            gold[row] = Some(slot);
            (0..dim)
                .map(|d| shared[row * dim + d] + 0.01 * noise[row * dim + d])
                .collect()
        } else {
            unpaired[(row - planted) * dim..(row - planted + 1) * dim].to_vec()
        };
        targets[slot * dim..(slot + 1) * dim].copy_from_slice(&values);
    }
    let sources = Embeddings::from_rows(dim, sources).unwrap();
    let targets = Embeddings::from_rows(dim, targets).unwrap();
    let options = SearchOptions::default();
    let margin = Hubness::RatioMargin { k: 4 };
    let forward = MetricScorer::new(&sources, &targets, Metric::Cosine).unwrap();
    let backward = MetricScorer::new(&targets, &sources, Metric::Cosine).unwrap();
    let there = HubnessScorer::new(&forward, &backward, margin, options).unwrap();
    let back = HubnessScorer::new(&backward, &forward, margin, options).unwrap();
    let mined = mutual_best(
        &search(&there, 1, options).unwrap(),
        &search(&back, 1, options).unwrap(),
    );
    assert!(
        mined.len() > planted,
        "unpaired sentences have mutual bests too"
    );
    let (threshold, scores) = best_threshold(&mined, &gold);
    assert_eq!(
        (scores.precision, scores.recall, scores.f1),
        (1.0, 1.0, 1.0),
        "{threshold}"
    );
}

#[test]
fn distances_are_negated_so_higher_is_better() {
    let a = Embeddings::from_rows(2, vec![0.0, 0.0, 10.0, 0.0]).unwrap();
    let b = Embeddings::from_rows(2, vec![0.1, 0.0, 10.0, 3.0]).unwrap();
    let options = SearchOptions::default();
    let there = MetricScorer::new(&a, &b, Metric::Euclidean).unwrap();
    let back = MetricScorer::new(&b, &a, Metric::Euclidean).unwrap();
    let mined = mutual_best(
        &search(&there, 1, options).unwrap(),
        &search(&back, 1, options).unwrap(),
    );
    assert_eq!(mined.len(), 2);
    assert!(mined[0].score > mined[1].score, "{mined:?}");
    let (threshold, _) = best_threshold(&mined, &[Some(0), None]);
    assert!((threshold + 0.1).abs() < 1e-6, "{threshold}");
}
