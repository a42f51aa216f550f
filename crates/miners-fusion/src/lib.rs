//! DistFuse: several encoders vote through their distances.
//!
//! As in the paper's code, the fused distance of a query `x` and a candidate
//! `y` is `D(x, y) = Σ_m w_m · ‖f_m(x) − f_m(y)‖₂` with the raw weights, and
//! candidates are ranked by ascending `D`. The members' measure is a choice,
//! as the `distfuse` package's `dist_measure`: a Manhattan fusion ranks by
//! ascending `Σ_m w_m · ‖f_m(x) − f_m(y)‖₁`, a cosine (or dot) fusion by
//! descending `Σ_m w_m · cos(f_m(x), f_m(y))`. [`Normalization::ZScore`] (beyond
//! the paper) first rescales each model's distances to zero mean and unit
//! variance, so that models whose distances live on different scales weigh
//! what their weights say.
//!
//! [`DistFuse`] is a [`BlockScorer`], so the exact blocked search of
//! `miners-index` ranks it with bounded memory. [`score_pairs`] and
//! [`score_references`] are the `distfuse` package's API (its
//! [`DistMeasure`]s: Euclidean, cosine, Manhattan; its per-member
//! instructions through [`instructed`]), checked against the package itself.
//!
//! ```
//! use miners_core::{Embeddings, Metric};
//! use miners_fusion::{DistFuse, Member, Normalization};
//! use miners_index::{search, SearchOptions};
//!
//! let q1 = Embeddings::from_rows(1, vec![0.0]).unwrap();
//! let c1 = Embeddings::from_rows(1, vec![1.0, 3.0]).unwrap();
//! let q2 = Embeddings::from_rows(1, vec![0.0]).unwrap();
//! let c2 = Embeddings::from_rows(1, vec![5.0, 0.0]).unwrap();
//! let members = [Member::new(&q1, &c1, 1.0), Member::new(&q2, &c2, 1.0)];
//! let fused = DistFuse::new(&members, Metric::Euclidean, Normalization::None).unwrap();
//! let hits = search(&fused, 2, SearchOptions::default()).unwrap();
//! // D(0) = 1 + 5 = 6, D(1) = 3 + 0 = 3.
//! assert_eq!(hits.indices(0).collect::<Vec<_>>(), vec![1, 0]);
//! assert_eq!(hits.get(0).next().unwrap().score, 3.0);
//! ```

mod pairs;

use std::ops::Range;

pub use pairs::{DistMeasure, FirstWeight, instructed, score_pairs, score_references};

use miners_core::{Embeddings, Metric};
use miners_index::{BlockScorer, IndexError, MetricScorer};
use serde::{Deserialize, Serialize};

/// Errors of assembling a fusion.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FusionError {
    /// No member models.
    #[error("DistFuse needs at least one model")]
    Empty,
    /// A weight that is NaN, infinite or negative.
    #[error("weight {index} is {weight}; weights must be finite and at least 0")]
    BadWeight {
        /// Member position.
        index: usize,
        /// The weight.
        weight: f32,
    },
    /// Every weight is 0, so every candidate would tie.
    #[error("every weight is 0; at least one must be positive")]
    AllZero,
    /// Members disagree on how many queries or candidates there are.
    #[error(
        "model {index} has {queries} queries × {candidates} candidates, model 0 has {expected_queries} × {expected_candidates}"
    )]
    ShapeMismatch {
        /// Member position.
        index: usize,
        /// Its query count.
        queries: usize,
        /// Its candidate count.
        candidates: usize,
        /// Model 0's query count.
        expected_queries: usize,
        /// Model 0's candidate count.
        expected_candidates: usize,
    },
    /// Reference counts that do not split the references among the predictions.
    #[error(
        "{predictions} predictions and {references} references, split as {counts:?}: \
         each prediction needs one count of at least 1, and the counts sum to the references"
    )]
    References {
        /// Predictions given.
        predictions: usize,
        /// References given.
        references: usize,
        /// The counts given.
        counts: Vec<usize>,
    },
    /// A member's queries and candidates differ in width.
    #[error("model {index}: {source}")]
    Member {
        /// Member position.
        index: usize,
        /// The underlying error.
        source: IndexError,
    },
}

/// How each model's distances are rescaled before weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Normalization {
    /// Raw distances, as the paper.
    #[default]
    None,
    /// `(d − mean) / std` with statistics over a deterministic sample of pairs.
    ZScore,
}

/// One model's embeddings of the queries and the candidates, with its weight.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    queries: &'a Embeddings,
    candidates: &'a Embeddings,
    weight: f32,
}

impl<'a> Member<'a> {
    /// Pairs one model's query and candidate embeddings with its weight.
    pub fn new(queries: &'a Embeddings, candidates: &'a Embeddings, weight: f32) -> Self {
        Self {
            queries,
            candidates,
            weight,
        }
    }
}

/// The fused distance (or similarity) of several models, ready for
/// `miners_index::search`.
#[derive(Debug)]
pub struct DistFuse<'a> {
    scorers: Vec<MetricScorer<'a>>,
    /// +1 when the members' scores are similarities, −1 for distances: keys
    /// are `sign · Σ scaled scores`, so larger is closer.
    sign: f32,
    /// Per model: distance offset and multiplier (weight / std).
    affine: Vec<(f32, f32)>,
}

/// Queries sampled to estimate z-score statistics.
const ZSCORE_SAMPLE_QUERIES: usize = 256;

/// Checks DistFuse weights: each finite and at least 0, at least one positive.
///
/// ```
/// use miners_fusion::{FusionError, check_weights};
///
/// assert!(check_weights(&[1.0, 0.0]).is_ok());
/// assert_eq!(check_weights(&[0.0, 0.0]), Err(FusionError::AllZero));
/// assert!(check_weights(&[1.0, -0.5]).is_err());
/// ```
pub fn check_weights(weights: &[f32]) -> Result<(), FusionError> {
    if weights.is_empty() {
        return Err(FusionError::Empty);
    }
    for (index, &weight) in weights.iter().enumerate() {
        if !weight.is_finite() || weight < 0.0 {
            return Err(FusionError::BadWeight { index, weight });
        }
    }
    match weights.iter().any(|&w| w > 0.0) {
        true => Ok(()),
        false => Err(FusionError::AllZero),
    }
}

impl<'a> DistFuse<'a> {
    /// Checks the members and prepares their scorers, each scoring by
    /// `metric` (the paper: Euclidean).
    pub fn new(
        members: &[Member<'a>],
        metric: Metric,
        normalization: Normalization,
    ) -> Result<Self, FusionError> {
        let weights: Vec<f32> = members.iter().map(|m| m.weight).collect();
        check_weights(&weights)?;
        let first = &members[0];
        let (nq, nc) = (first.queries.len(), first.candidates.len());
        let mut scorers = Vec::with_capacity(members.len());
        let mut affine = Vec::with_capacity(members.len());
        for (index, m) in members.iter().enumerate() {
            if (m.queries.len(), m.candidates.len()) != (nq, nc) {
                return Err(FusionError::ShapeMismatch {
                    index,
                    queries: m.queries.len(),
                    candidates: m.candidates.len(),
                    expected_queries: nq,
                    expected_candidates: nc,
                });
            }
            let scorer = MetricScorer::new(m.queries, m.candidates, metric)
                .map_err(|source| FusionError::Member { index, source })?;
            affine.push(match normalization {
                Normalization::None => (0.0, m.weight),
                Normalization::ZScore => {
                    let (mean, std) = distance_stats(&scorer);
                    (mean, m.weight / std.max(f32::MIN_POSITIVE))
                }
            });
            scorers.push(scorer);
        }
        let sign = match metric.higher_is_better() {
            true => 1.0,
            false => -1.0,
        };
        Ok(Self {
            scorers,
            sign,
            affine,
        })
    }
}

impl BlockScorer for DistFuse<'_> {
    fn num_queries(&self) -> usize {
        self.scorers[0].num_queries()
    }

    fn num_candidates(&self) -> usize {
        self.scorers[0].num_candidates()
    }

    /// Keys are fused similarities, or negated fused distances: larger is closer.
    fn score_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        out.fill(0.0);
        let mut scores = vec![0f32; out.len()];
        for (scorer, &affine) in self.scorers.iter().zip(&self.affine) {
            let (offset, scale) = self.signed(affine);
            scorer.scores_block(queries.clone(), candidates.clone(), &mut scores);
            for (key, s) in out.iter_mut().zip(&scores) {
                *key += scale * (s - offset);
            }
        }
    }

    /// Each member scores the block once for both sides; each side fuses
    /// with its own normalisation, as its own `score_block` would.
    fn score_block_swapped(
        &self,
        twin: &Self,
        queries: Range<usize>,
        candidates: Range<usize>,
        out: &mut [f32],
        swapped: &mut [f32],
    ) {
        out.fill(0.0);
        swapped.fill(0.0);
        let (mut keys, mut twin_keys) = (vec![0f32; out.len()], vec![0f32; out.len()]);
        let sides = self.scorers.iter().zip(&self.affine);
        let twins = twin.scorers.iter().zip(&twin.affine);
        let width = candidates.len();
        for ((scorer, &affine), (twin_scorer, &twin_affine)) in sides.zip(twins) {
            let (q, c) = (queries.clone(), candidates.clone());
            scorer.score_block_swapped(twin_scorer, q, c, &mut keys, &mut twin_keys);
            let row = |i, _| queries.start + i;
            fuse(scorer, self.signed(affine), &keys, width, row, out);
            let column = |_, j| candidates.start + j;
            let twin_affine = twin.signed(twin_affine);
            fuse(twin_scorer, twin_affine, &twin_keys, width, column, swapped);
        }
    }

    fn to_score(&self, _query: usize, key: f32) -> f32 {
        self.sign * key
    }

    fn higher_is_better(&self) -> bool {
        self.sign > 0.0
    }
}

impl DistFuse<'_> {
    /// A member's offset and multiplier with the fusion's sign folded into
    /// the multiplier.
    fn signed(&self, (offset, scale): (f32, f32)) -> (f32, f32) {
        (offset, self.sign * scale)
    }
}

/// Adds one member's normalised, signed scores to the fused keys `out`:
/// `keys` in rows of `width`, each converted for the scorer's query that
/// `query(row, column)` names.
fn fuse(
    scorer: &MetricScorer<'_>,
    (offset, scale): (f32, f32),
    keys: &[f32],
    width: usize,
    query: impl Fn(usize, usize) -> usize,
    out: &mut [f32],
) {
    for (i, (row, fused)) in keys.chunks(width).zip(out.chunks_mut(width)).enumerate() {
        for (j, (key, value)) in row.iter().zip(fused).enumerate() {
            *value += scale * (scorer.to_score(query(i, j), *key) - offset);
        }
    }
}

/// Mean and standard deviation of one model's distances over evenly spaced queries.
fn distance_stats(scorer: &MetricScorer<'_>) -> (f32, f32) {
    let (nq, nc) = (scorer.num_queries(), scorer.num_candidates());
    let step = nq.div_ceil(ZSCORE_SAMPLE_QUERIES).max(1);
    let mut row = vec![0f32; nc];
    let (mut sum, mut sum_sq, mut count) = (0f64, 0f64, 0f64);
    for q in (0..nq).step_by(step) {
        scorer.scores_block(q..q + 1, 0..nc, &mut row);
        for &d in &row {
            sum += f64::from(d);
            sum_sq += f64::from(d) * f64::from(d);
            count += 1.0;
        }
    }
    if count == 0.0 {
        return (0.0, 1.0);
    }
    let mean = sum / count;
    let var = (sum_sq / count - mean * mean).max(0.0);
    (mean as f32, var.sqrt() as f32)
}
