//! BUCC-style bitext mining: both sides of a parallel set become shuffled
//! monolingual pools, every candidate pair is scored (by the retriever's
//! scoring, the ratio margin for LASER-style mining), mutual best pairs are
//! kept, and the score threshold that maximises F1 on one half of the source
//! sentences is applied to the other half.

use std::path::{Path, PathBuf};

use miners_core::Neighbours;
use miners_datasets::{Dataset, Pair};
use miners_encoders::Role;
use serde::{Deserialize, Serialize};

use crate::{EvalError, Progress, Retriever};

/// A pair kept by mining: source and target positions in their pools, and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinedPair {
    /// Position in the source pool.
    pub source: usize,
    /// Position in the target pool.
    pub target: usize,
    /// The retriever's score of the pair, higher is better (a distance is negated).
    pub score: f32,
}

/// Precision, recall and F1 of mined pairs against gold pairs.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PrF1 {
    /// Mined pairs that are gold, over mined pairs.
    pub precision: f64,
    /// Gold pairs mined, over gold pairs.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
}

impl PrF1 {
    fn of(true_positives: usize, mined: usize, gold: usize) -> Self {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(true_positives, mined), ratio(true_positives, gold));
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Self {
            precision,
            recall,
            f1,
        }
    }
}

/// What one mining run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiningResult {
    /// Dataset name.
    pub dataset: String,
    /// The language pair mined.
    pub pair: String,
    /// The retriever's id (with its scoring).
    pub model: String,
    /// Sentences per side.
    pub sentences: usize,
    /// Seed of the shuffles and of the split into halves.
    pub seed: u64,
    /// Mutual best pairs found in the whole pool.
    pub mutual: usize,
    /// The threshold chosen on the tuning half.
    pub threshold: f32,
    /// Scores on the tuning half at that threshold.
    pub tune: PrF1,
    /// Scores on the held-out half at that threshold: the result.
    pub test: PrF1,
}

/// The folder of mining results under a result directory.
pub const MINING_DIR: &str = "mining";

impl MiningResult {
    /// `<out>/mining/<dataset>/<model>/<source>-<target>.json`.
    pub fn path(&self, out: &Path) -> PathBuf {
        out.join(MINING_DIR)
            .join(&self.dataset)
            .join(crate::slug(&self.model))
            .join(format!("{}.json", crate::slug(&self.pair)))
    }

    /// Checks that `path` is where this result belongs under the result
    /// directory `root` ([`MiningResult::path`]).
    pub fn check_path(&self, root: &Path, path: &Path) -> Result<(), String> {
        crate::record::agree(root, path, &self.path(root))
    }

    /// Writes the result to [`MiningResult::path`] under `out`, atomically;
    /// refuses to replace the result of another retriever or pair whose ids
    /// share this one's folder names.
    pub fn write(&self, out: &Path) -> Result<PathBuf, EvalError> {
        let path = self.path(out);
        let identity = |r: &MiningResult| (r.dataset.clone(), r.model.clone(), r.pair.clone());
        let there = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<MiningResult>(&bytes).ok());
        if let Some(there) = there.filter(|there| identity(there) != identity(self)) {
            return Err(EvalError::Config(format!(
                "{}: holds the mining result of `{}` on {}, and `{}` on {} maps to the same \
                 file; give one of them another id",
                path.display(),
                there.model,
                there.pair,
                self.model,
                self.pair
            )));
        }
        let io = |source| EvalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(path.parent().unwrap_or(out)).map_err(io)?;
        miners_core::atomic_write(&path, &self.file_bytes()).map_err(io)?;
        Ok(path)
    }

    /// What parsing cannot check: at least one sentence, plain names for the
    /// dataset and pair (file names are built from them), every score in
    /// [0, 1].
    pub fn check(&self) -> Result<(), String> {
        if self.sentences == 0 {
            return Err("sentences = 0: a pool needs at least one".into());
        }
        for (field, value) in [("dataset", &self.dataset), ("pair", &self.pair)] {
            if !miners_core::is_plain_name(value) {
                return Err(format!(
                    "{field} `{value}` is not a plain name; reports build file names from it"
                ));
            }
        }
        for (half, scores) in [("tune", self.tune), ("test", self.test)] {
            let fields = [
                ("precision", scores.precision),
                ("recall", scores.recall),
                ("f1", scores.f1),
            ];
            if let Some((name, value)) = fields.iter().find(|(_, x)| !(0.0..=1.0).contains(x)) {
                return Err(format!("{half}.{name} = {value} is outside [0, 1]"));
            }
        }
        Ok(())
    }

    /// The result as its file holds it: pretty JSON.
    pub fn file_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("mining results serialise")
    }
}

/// The pairs whose target is the source's best and whose source is the
/// target's best, from `forward` (sources → targets) and `backward` top-1 lists.
pub fn mutual_best(forward: &Neighbours, backward: &Neighbours) -> Vec<MinedPair> {
    let sign = if forward.higher_is_better() {
        1.0
    } else {
        -1.0
    };
    (0..forward.len())
        .filter_map(|source| {
            let best = forward.get(source).next()?;
            let back = backward.get(best.index).next()?;
            (back.index == source).then_some(MinedPair {
                source,
                target: best.index,
                score: sign * best.score,
            })
        })
        .collect()
}

/// The threshold that maximises F1 of the pairs at or above it against
/// `gold` (the true target of each source, `None` when it has none), among
/// the mined pairs' scores, highest first; with it, the F1 it reaches.
/// Where no threshold keeps a true pair, `f32::MAX`: nothing is kept.
pub fn best_threshold(mined: &[MinedPair], gold: &[Option<usize>]) -> (f32, PrF1) {
    let gold_pairs = gold.iter().flatten().count();
    let mut sorted = mined.to_vec();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    // No pair kept: a finite threshold above every score, so the record stays JSON.
    let mut best = (f32::MAX, PrF1::default());
    let mut true_positives = 0;
    for (i, pair) in sorted.iter().enumerate() {
        true_positives += usize::from(gold[pair.source] == Some(pair.target));
        // Only where the next score is lower: a threshold keeps all its ties.
        if sorted
            .get(i + 1)
            .is_some_and(|next| next.score == pair.score)
        {
            continue;
        }
        let scores = PrF1::of(true_positives, i + 1, gold_pairs);
        if scores.f1 > best.1.f1 {
            best = (pair.score, scores);
        }
    }
    best
}

/// The scores at `threshold` of the mined pairs against `gold`.
pub fn scores_at(mined: &[MinedPair], gold: &[Option<usize>], threshold: f32) -> PrF1 {
    let kept: Vec<&MinedPair> = mined.iter().filter(|p| p.score >= threshold).collect();
    let true_positives = kept
        .iter()
        .filter(|p| gold[p.source] == Some(p.target))
        .count();
    PrF1::of(true_positives, kept.len(), gold.iter().flatten().count())
}

/// A permutation of `0..n` from `seed` (Fisher–Yates on SplitMix64).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Mines `pair` of `dataset`: both sides shuffled with `seed`, mutual best
/// pairs by `retriever`, the threshold tuned on the first half of the
/// shuffled sources and applied to the second.
pub fn run_mining(
    dataset: &Dataset,
    retriever: &Retriever,
    pair: &Pair,
    seed: u64,
    limit: Option<usize>,
    progress: &dyn Progress,
) -> Result<MiningResult, EvalError> {
    let bitext = dataset.load_bitext(pair, limit)?;
    let n = bitext.len();
    if n < 2 {
        return Err(EvalError::Config(format!(
            "{} {pair}: {n} sentence pair{}; mining needs at least 2 (one half tunes the \
             threshold, the other is scored)",
            dataset.name(),
            if n == 1 { "" } else { "s" }
        )));
    }
    let source_order = shuffled(n, seed);
    let target_order = shuffled(n, seed ^ 0x5851_f42d_4c95_7f2d);
    let sources: Vec<String> = source_order
        .iter()
        .map(|&i| bitext.source[i].clone())
        .collect();
    let targets: Vec<String> = target_order
        .iter()
        .map(|&i| bitext.target[i].clone())
        .collect();
    // The gold target position of each source position; the scorer never sees it.
    let mut target_position = vec![0; n];
    for (position, &original) in target_order.iter().enumerate() {
        target_position[original] = position;
    }
    let gold: Vec<Option<usize>> = source_order
        .iter()
        .map(|&original| Some(target_position[original]))
        .collect();
    let source_embeddings = retriever.encode(
        &sources,
        Role::Query,
        &format!("{pair} source pool"),
        progress,
    )?;
    let target_embeddings = retriever.encode(
        &targets,
        Role::Passage,
        &format!("{pair} target pool"),
        progress,
    )?;
    let forward = retriever.search(&source_embeddings, &target_embeddings, 1)?;
    let backward = retriever.search(&target_embeddings, &source_embeddings, 1)?;
    let mined = mutual_best(&forward, &backward);
    let half = n / 2;
    let in_half = |tune: bool| {
        let pairs: Vec<MinedPair> = mined
            .iter()
            .copied()
            .filter(|p| (p.source < half) == tune)
            .collect();
        let gold: Vec<Option<usize>> = gold
            .iter()
            .enumerate()
            .map(|(s, g)| if (s < half) == tune { *g } else { None })
            .collect();
        (pairs, gold)
    };
    let (tune_pairs, tune_gold) = in_half(true);
    let (test_pairs, test_gold) = in_half(false);
    let (threshold, tune) = best_threshold(&tune_pairs, &tune_gold);
    Ok(MiningResult {
        dataset: dataset.name(),
        pair: pair.to_string(),
        model: retriever.record().id,
        sentences: n,
        seed,
        mutual: mined.len(),
        threshold,
        tune,
        test: scores_at(&test_pairs, &test_gold, threshold),
    })
}

/// One line for a terminal: the pair, the model, how many sentences and
/// mutual pairs, the threshold and the test half's scores.
impl std::fmt::Display for MiningResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: {} sentences, {} mutual, threshold {:.4}, test P {:.2} R {:.2} F1 {:.2}",
            self.dataset,
            self.pair,
            self.model,
            self.sentences,
            self.mutual,
            self.threshold,
            100.0 * self.test.precision,
            100.0 * self.test.recall,
            100.0 * self.test.f1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(source: usize, target: usize, score: f32) -> MinedPair {
        MinedPair {
            source,
            target,
            score,
        }
    }

    #[test]
    fn the_threshold_keeps_the_pairs_that_maximise_f1() {
        let gold = vec![Some(0), Some(1), Some(2), None];
        let mined = [
            pair(0, 0, 0.9),
            pair(1, 1, 0.8),
            pair(3, 2, 0.7),
            pair(2, 1, 0.1),
        ];
        let (threshold, scores) = best_threshold(&mined, &gold);
        assert_eq!(threshold, 0.8);
        assert!((scores.precision - 1.0).abs() < 1e-12);
        assert!((scores.recall - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores_at(&mined, &gold, threshold), scores);
    }

    #[test]
    fn no_true_pair_keeps_nothing_with_a_finite_threshold() {
        // Once the threshold was +inf, written as JSON `null`, which no reader took.
        let gold = vec![Some(0), Some(1)];
        let (threshold, scores) = best_threshold(&[pair(0, 1, 0.9)], &gold);
        assert_eq!((threshold, scores), (f32::MAX, PrF1::default()));
        assert_eq!(best_threshold(&[], &gold).0, f32::MAX);
        let text = serde_json::to_string(&threshold).unwrap();
        assert_eq!(serde_json::from_str::<f32>(&text).unwrap(), f32::MAX);
    }

    #[test]
    fn shuffles_are_permutations_fixed_by_their_seed() {
        let a = shuffled(100, 7);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, shuffled(100, 7));
        assert_ne!(a, shuffled(100, 8));
    }
}
