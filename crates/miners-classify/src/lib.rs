//! Retrieval-based classification: the k nearest labelled examples vote;
//! and the fine-tuned baseline's recipe and [`FineTune`] trait, which a
//! backend (libtorch: `miners_torch::SequenceClassifier`) implements.
//!
//! [`Vote::Majority`] is the reference's rule: the most frequent label among
//! the k nearest wins and, on a tie, the tied label whose first occurrence is
//! nearest (Python's `Counter.most_common` over the distance-sorted list).
//! [`Vote::DistanceWeighted`] weighs each neighbour by its closeness, with
//! the same tie rule: `1 / (ε + distance)` for distances, and
//! `exp(score − best score)` for scores where higher is better (cosine, dot,
//! and the margins and CSLS, which can be negative). Either way a weight is
//! positive and never smaller for a nearer neighbour, so a label that holds
//! most of the votes and the nearest places wins.
//!
//! ```
//! use miners_classify::{KnnClassifier, Vote};
//! use miners_core::{Label, Neighbours};
//!
//! let pool_labels: Vec<Label> = ["pos", "neg", "neg", "pos"].map(Label::from).to_vec();
//! let classifier = KnnClassifier::new(pool_labels, Vote::Majority);
//! // One query whose nearest pool rows are 0, 3, 1 (pos, pos, neg).
//! let hits = Neighbours::from_flat(3, vec![0, 3, 1], vec![0.1, 0.2, 0.3], false);
//! assert_eq!(classifier.predict(&hits, 3).unwrap(), vec![Label::from("pos")]);
//! ```

mod finetune;

pub use finetune::{
    EpochLog, FineTune, FineTuneError, FineTuning, Labelled, TrainingLog, accuracy,
};
use miners_core::{Label, Neighbour, Neighbours};
use serde::{Deserialize, Serialize};

/// Errors of classifying with retrieved neighbours.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClassifyError {
    /// More voters asked for than neighbours retrieved.
    #[error("k = {k} voters asked for, but only {retrieved} neighbours were retrieved per query")]
    BadK {
        /// Requested voters.
        k: usize,
        /// Neighbours available per query.
        retrieved: usize,
    },
    /// A neighbour index outside the labelled pool.
    #[error("neighbour index {index} is outside the labelled pool of {pool}")]
    OutOfPool {
        /// The index.
        index: usize,
        /// Pool size.
        pool: usize,
    },
}

/// How neighbours' labels are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Vote {
    /// One vote per neighbour, as the reference.
    #[default]
    Majority,
    /// Votes weighted by closeness.
    DistanceWeighted,
}

/// A labelled pool and a voting rule.
#[derive(Debug, Clone)]
pub struct KnnClassifier {
    labels: Vec<Label>,
    vote: Vote,
}

impl KnnClassifier {
    /// Labels of the pool rows, in pool order.
    pub fn new(labels: Vec<Label>, vote: Vote) -> Self {
        Self { labels, vote }
    }

    /// One predicted label per query, from its `k` nearest neighbours.
    pub fn predict(&self, neighbours: &Neighbours, k: usize) -> Result<Vec<Label>, ClassifyError> {
        if k == 0 || k > neighbours.k() {
            return Err(ClassifyError::BadK {
                k,
                retrieved: neighbours.k(),
            });
        }
        (0..neighbours.len())
            .map(|q| {
                let voters: Vec<Neighbour> = neighbours.get(q).take(k).collect();
                self.vote_one(&voters, neighbours.higher_is_better())
            })
            .collect()
    }

    fn vote_one(
        &self,
        voters: &[Neighbour],
        higher_is_better: bool,
    ) -> Result<Label, ClassifyError> {
        let best = voters.first().map_or(0.0, |v| v.score);
        // Tallies in order of first occurrence, so a stable max keeps the nearest.
        let mut tally: Vec<(&Label, f64)> = Vec::new();
        for voter in voters {
            let label = self
                .labels
                .get(voter.index)
                .ok_or(ClassifyError::OutOfPool {
                    index: voter.index,
                    pool: self.labels.len(),
                })?;
            let weight = self.weight(voter.score, best, higher_is_better);
            match tally.iter_mut().find(|(l, _)| *l == label) {
                Some((_, total)) => *total += weight,
                None => tally.push((label, weight)),
            }
        }
        let mut best = tally[0];
        for &entry in &tally[1..] {
            if entry.1 > best.1 {
                best = entry;
            }
        }
        Ok(best.0.clone())
    }

    /// A voter's weight: 1 for a majority vote; for a distance-weighted one,
    /// positive and monotone in closeness whatever the score's sign (`best`
    /// is the nearest voter's score).
    fn weight(&self, score: f32, best: f32, higher_is_better: bool) -> f64 {
        match (self.vote, higher_is_better) {
            (Vote::Majority, _) => 1.0,
            (Vote::DistanceWeighted, true) => (f64::from(score) - f64::from(best)).exp(),
            (Vote::DistanceWeighted, false) => 1.0 / (1e-6 + f64::from(score).max(0.0)),
        }
    }

    /// The voting rule.
    pub fn vote(&self) -> Vote {
        self.vote
    }
}

impl Vote {
    /// What a record's model id gains for this rule: nothing for the
    /// reference's majority vote, `~distance_weighted` otherwise, so that
    /// records of the two never share a cell.
    pub fn id_suffix(self) -> &'static str {
        match self {
            Vote::Majority => "",
            Vote::DistanceWeighted => "~distance_weighted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn classify(labels: &[&str], order: &[u32], k: usize, vote: Vote) -> String {
        let classifier = KnnClassifier::new(labels.iter().map(|&l| Label::from(l)).collect(), vote);
        let scores = (1..=order.len()).map(|i| i as f32).collect();
        let hits = Neighbours::from_flat(order.len(), order.to_vec(), scores, false);
        classifier.predict(&hits, k).unwrap()[0].0.clone()
    }

    #[test]
    fn ties_go_to_the_label_seen_first() {
        // Nearest first: b, a, a, b -> 2 vs 2, b occurs first.
        assert_eq!(classify(&["a", "b"], &[1, 0, 0, 1], 4, Vote::Majority), "b");
        assert_eq!(
            classify(&["a", "b", "c"], &[2, 1, 0], 3, Vote::Majority),
            "c"
        );
    }

    #[test]
    fn weighted_vote_prefers_the_close_neighbour() {
        // Distances 1, 2, 3: b(1) vs a(1/2 + 1/3).
        assert_eq!(
            classify(&["a", "b"], &[1, 0, 0], 3, Vote::DistanceWeighted),
            "b"
        );
        assert_eq!(classify(&["a", "b"], &[1, 0, 0], 3, Vote::Majority), "a");
    }

    #[test]
    fn k_beyond_retrieval_is_an_error() {
        let classifier = KnnClassifier::new(vec![Label::from("a")], Vote::Majority);
        let hits = Neighbours::from_flat(1, vec![0], vec![0.0], false);
        assert_eq!(
            classifier.predict(&hits, 2).unwrap_err(),
            ClassifyError::BadK { k: 2, retrieved: 1 }
        );
    }

    proptest! {
        #[test]
        fn majority_winner_has_the_top_count(labels in prop::collection::vec(0u8..4, 1..20)) {
            let names: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let order: Vec<u32> = (0..labels.len() as u32).collect();
            let winner = classify(&refs, &order, labels.len(), Vote::Majority);
            let count = |n: &str| refs.iter().filter(|&&r| r == n).count();
            let top = refs.iter().map(|r| count(r)).max().unwrap();
            prop_assert_eq!(count(&winner), top);
            // Among the labels with the top count, the winner appears first.
            let first_top = refs.iter().find(|r| count(r) == top).unwrap();
            prop_assert_eq!(winner.as_str(), *first_top);
            // k = 1 is the nearest label.
            prop_assert_eq!(classify(&refs, &order, 1, Vote::Majority), names[0].clone());
        }
    }
}
