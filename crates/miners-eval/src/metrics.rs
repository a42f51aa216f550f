//! Metrics with scikit-learn's semantics (`zero_division = 0`).

use std::collections::BTreeMap;

use miners_core::Neighbours;
use serde::{Deserialize, Serialize};

/// How per-label precision, recall and F1 are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Average {
    /// Unweighted mean over the labels seen in gold or predictions.
    Macro,
    /// Mean weighted by each label's gold support.
    Weighted,
}

/// Accuracy and averaged precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Fraction of exact matches.
    pub accuracy: f64,
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1.
    pub f1: f64,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    true_positives: usize,
    predicted: usize,
    support: usize,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// `accuracy_score` and `precision/recall/f1_score(average=…, zero_division=0)`.
///
/// Labels are the sorted union of gold and predicted labels, as sklearn's
/// `unique_labels`. An empty input scores zero everywhere.
///
/// # Panics
/// If `gold` and `predicted` differ in length.
pub fn classification_scores<T: Ord>(gold: &[T], predicted: &[T], average: Average) -> Scores {
    assert_eq!(gold.len(), predicted.len(), "one prediction per gold label");
    let mut counts: BTreeMap<&T, Counts> = BTreeMap::new();
    let mut correct = 0;
    for (g, p) in gold.iter().zip(predicted) {
        counts.entry(g).or_default().support += 1;
        counts.entry(p).or_default().predicted += 1;
        if g == p {
            counts.entry(g).or_default().true_positives += 1;
            correct += 1;
        }
    }
    let (mut precision, mut recall, mut f1, mut total_weight) = (0.0, 0.0, 0.0, 0.0);
    for c in counts.values() {
        let weight = match average {
            Average::Macro => 1.0,
            Average::Weighted => c.support as f64,
        };
        precision += weight * ratio(c.true_positives, c.predicted);
        recall += weight * ratio(c.true_positives, c.support);
        f1 += weight * ratio(2 * c.true_positives, c.predicted + c.support);
        total_weight += weight;
    }
    let mean = |sum: f64| {
        if total_weight == 0.0 {
            0.0
        } else {
            sum / total_weight
        }
    };
    Scores {
        accuracy: ratio(correct, gold.len()),
        precision: mean(precision),
        recall: mean(recall),
        f1: mean(f1),
    }
}

/// The reference's bitext hypothesis per query: the gold index (the query's
/// own row) if it is among the first `k` neighbours, else the top-1 neighbour.
pub fn bitext_hypotheses(neighbours: &Neighbours, k: usize) -> Vec<usize> {
    (0..neighbours.len())
        .map(|q| {
            let mut top = neighbours.indices(q).take(k);
            let first = neighbours.indices(q).next().expect("k >= 1");
            if top.any(|i| i == q) { q } else { first }
        })
        .collect()
}

/// Bitext scores at `k`: the reference's weighted scores over sentence
/// indices, and plain recall@k (the fraction of queries with gold in the top k).
pub fn bitext_scores(neighbours: &Neighbours, k: usize) -> (Scores, f64) {
    let hypotheses = bitext_hypotheses(neighbours, k);
    let gold: Vec<usize> = (0..hypotheses.len()).collect();
    let hits = (0..neighbours.len())
        .filter(|&q| neighbours.indices(q).take(k).any(|i| i == q))
        .count();
    (
        classification_scores(&gold, &hypotheses, Average::Weighted),
        ratio(hits, gold.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// 500 pairs, 9 wrong, each landing on a different otherwise-correct target.
    #[test]
    fn the_known_bitext_case() {
        let gold: Vec<usize> = (0..500).collect();
        let mut hyp = gold.clone();
        for (i, h) in hyp.iter_mut().take(9).enumerate() {
            *h = 100 + i;
        }
        let s = classification_scores(&gold, &hyp, Average::Weighted);
        assert!(close(s.accuracy, 0.982) && close(s.recall, 0.982));
        assert!(close(s.precision, 0.973), "{}", s.precision);
        assert!(close(s.f1, 488.0 / 500.0), "{}", s.f1);
        assert_eq!((s.f1 * 1000.0).round() / 1000.0, 0.976);
    }

    /// Hand-computed against sklearn 1.5:
    /// y_true = [a, a, b, c, c, c], y_pred = [a, b, b, c, c, a].
    #[test]
    fn macro_and_weighted_match_sklearn() {
        let gold = ["a", "a", "b", "c", "c", "c"];
        let pred = ["a", "b", "b", "c", "c", "a"];
        let m = classification_scores(&gold, &pred, Average::Macro);
        // precision: a 1/2, b 1/2, c 1 -> 2/3; recall: a 1/2, b 1, c 2/3 -> 13/18
        assert!(close(m.precision, 2.0 / 3.0));
        assert!(close(m.recall, 13.0 / 18.0));
        // f1: a 1/2, b 2/3, c 4/5
        assert!(close(m.f1, (0.5 + 2.0 / 3.0 + 0.8) / 3.0));
        let w = classification_scores(&gold, &pred, Average::Weighted);
        assert!(close(w.precision, (2.0 * 0.5 + 0.5 + 3.0) / 6.0));
        assert!(close(w.recall, 4.0 / 6.0));
        assert!(close(w.accuracy, 4.0 / 6.0));
    }

    /// A label only ever predicted counts in macro (precision 0), not in weighted.
    #[test]
    fn predicted_only_labels_follow_sklearn() {
        let gold = ["a", "a"];
        let pred = ["a", "z"];
        let m = classification_scores(&gold, &pred, Average::Macro);
        assert!(close(m.precision, 0.5) && close(m.recall, 0.25));
        let w = classification_scores(&gold, &pred, Average::Weighted);
        assert!(close(w.precision, 1.0) && close(w.recall, 0.5));
    }

    #[test]
    fn bitext_hits_beyond_top1_count_at_larger_k() {
        // Query 0: gold second; query 1: gold first.
        let n = Neighbours::from_flat(2, vec![1, 0, 1, 0], vec![0.0; 4], false);
        assert_eq!(bitext_hypotheses(&n, 1), vec![1, 1]);
        assert_eq!(bitext_hypotheses(&n, 2), vec![0, 1]);
        let (s, recall) = bitext_scores(&n, 1);
        assert!(close(s.accuracy, 0.5) && close(recall, 0.5));
    }

    proptest::proptest! {
        #[test]
        fn invariants(pairs in proptest::collection::vec((0u8..5, 0u8..5), 1..60)) {
            let (gold, pred): (Vec<u8>, Vec<u8>) = pairs.into_iter().unzip();
            let w = classification_scores(&gold, &pred, Average::Weighted);
            let m = classification_scores(&gold, &pred, Average::Macro);
            // Weighted recall is accuracy; every score is a fraction.
            proptest::prop_assert!((w.recall - w.accuracy).abs() < 1e-12);
            for v in [w.precision, w.recall, w.f1, m.precision, m.recall, m.f1, m.accuracy] {
                proptest::prop_assert!((0.0..=1.0).contains(&v));
            }
            // Perfect predictions score 1 everywhere.
            let perfect = classification_scores(&gold, &gold, Average::Macro);
            proptest::prop_assert_eq!((perfect.precision, perfect.recall, perfect.f1), (1.0, 1.0, 1.0));
        }
    }
}
