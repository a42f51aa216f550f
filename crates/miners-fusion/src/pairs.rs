//! The `distfuse` package's API (0.1.4): fused scores of every pair of two
//! lists (`score_pairs`) and of each prediction against its references
//! (`score_references`), under its three `dist_measure`s, in `f64`.
//!
//! The fused score is `Σ_m w_m · s_m(x, y)` with `s_m` the member's distance
//! (Euclidean, Manhattan: lower is closer) or cosine similarity (higher is
//! closer). The package adds the first member's scores unweighted
//! (`final_scores = scores[0]`); that is [`FirstWeight::Ignored`], an explicit
//! option. The default weights every member, as the MINERS scripts do.

use miners_core::{Embeddings, Metric};
use serde::{Deserialize, Serialize};

use crate::{FusionError, Member, check_weights};

/// The package's `dist_measure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum DistMeasure {
    /// `‖x − y‖₂` (the package's default).
    #[default]
    Euclidean,
    /// `x·y / (‖x‖ ‖y‖)`, a similarity.
    Cosine,
    /// `Σ |x_i − y_i|`.
    Manhattan,
}

impl DistMeasure {
    /// The measure of two vectors, in `f64`.
    pub fn between(self, x: &[f32], y: &[f32]) -> f64 {
        let pairs = x.iter().zip(y).map(|(&a, &b)| (f64::from(a), f64::from(b)));
        match self {
            Self::Euclidean => pairs.map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt(),
            Self::Manhattan => pairs.map(|(a, b)| (a - b).abs()).sum(),
            Self::Cosine => {
                let (mut dot, mut xx, mut yy) = (0.0, 0.0, 0.0);
                for (a, b) in pairs {
                    dot += a * b;
                    xx += a * a;
                    yy += b * b;
                }
                // As scikit-learn: a zero vector has similarity 0 to anything.
                match xx > 0.0 && yy > 0.0 {
                    true => dot / (xx.sqrt() * yy.sqrt()),
                    false => 0.0,
                }
            }
        }
    }

    /// The [`Metric`] that ranks as this measure does (a DistFuse member's).
    pub fn metric(self) -> Metric {
        match self {
            Self::Euclidean => Metric::Euclidean,
            Self::Cosine => Metric::Cosine,
            Self::Manhattan => Metric::Manhattan,
        }
    }

    /// Whether higher scores are closer (cosine) rather than lower.
    pub fn higher_is_better(self) -> bool {
        self == Self::Cosine
    }

    /// The better of two scores under this measure.
    fn best(self, a: f64, b: f64) -> f64 {
        match self.higher_is_better() {
            true => a.max(b),
            false => a.min(b),
        }
    }
}

/// How the first member's weight counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstWeight {
    /// Every member times its weight (the MINERS scripts).
    #[default]
    Weighted,
    /// The first member's scores added unweighted, as the `distfuse` package
    /// does (`final_scores = scores[0]`).
    Ignored,
}

/// The package's instruction wrapper for a member with an instruction:
/// `Instruct: {task}\nQuery: {text}`, applied to the texts before encoding.
pub fn instructed(task: &str, text: &str) -> String {
    format!("Instruct: {task}\nQuery: {text}")
}

/// Fused scores of every query against every candidate of the members
/// (`Member::new(left, right, weight)`), row-major `left × right`.
pub fn score_pairs(
    members: &[Member<'_>],
    measure: DistMeasure,
    first: FirstWeight,
) -> Result<Vec<Vec<f64>>, FusionError> {
    let (rows, columns) = shape(members)?;
    let mut scores = vec![vec![0.0; columns]; rows];
    for (index, member) in members.iter().enumerate() {
        let weight = member_weight(member, index, first);
        for (i, scores) in scores.iter_mut().enumerate() {
            let x = row(member.queries, i);
            for (j, score) in scores.iter_mut().enumerate() {
                *score += weight * measure.between(x, row(member.candidates, j));
            }
        }
    }
    Ok(scores)
}

/// Each prediction's fused score against its references: the members hold
/// the predictions as queries and every reference as candidates, those of
/// prediction `i` next in line, `counts[i]` of them (at least one). Each
/// member scores a prediction by its best reference (the lowest distance, the
/// highest similarity), then the members' scores are weighted and summed.
pub fn score_references(
    members: &[Member<'_>],
    counts: &[usize],
    measure: DistMeasure,
    first: FirstWeight,
) -> Result<Vec<f64>, FusionError> {
    let (predictions, references) = shape(members)?;
    if counts.len() != predictions
        || counts.contains(&0)
        || counts.iter().sum::<usize>() != references
    {
        return Err(FusionError::References {
            predictions,
            references,
            counts: counts.to_vec(),
        });
    }
    let mut scores = vec![0.0; predictions];
    for (index, member) in members.iter().enumerate() {
        let weight = member_weight(member, index, first);
        let mut start = 0;
        for (i, &count) in counts.iter().enumerate() {
            let x = row(member.queries, i);
            let best = (start..start + count)
                .map(|j| measure.between(x, row(member.candidates, j)))
                .reduce(|a, b| measure.best(a, b))
                .expect("at least one reference");
            scores[i] += weight * best;
            start += count;
        }
    }
    Ok(scores)
}

/// Row `i` of `embeddings` as a slice.
fn row(embeddings: &Embeddings, i: usize) -> &[f32] {
    let dim = embeddings.dim();
    &embeddings.as_slice()[i * dim..(i + 1) * dim]
}

/// The weight a member's scores are added with.
fn member_weight(member: &Member<'_>, index: usize, first: FirstWeight) -> f64 {
    match (index, first) {
        (0, FirstWeight::Ignored) => 1.0,
        _ => f64::from(member.weight),
    }
}

/// The shared shape of the members (rows × columns), checked: weights as
/// [`check_weights`] wants them, equal shapes, equal widths within a member.
fn shape(members: &[Member<'_>]) -> Result<(usize, usize), FusionError> {
    let weights: Vec<f32> = members.iter().map(|m| m.weight).collect();
    check_weights(&weights)?;
    let first = &members[0];
    let expected = (first.queries.len(), first.candidates.len());
    for (index, member) in members.iter().enumerate() {
        let (queries, candidates) = (member.queries.len(), member.candidates.len());
        if (queries, candidates) != expected {
            return Err(FusionError::ShapeMismatch {
                index,
                queries,
                candidates,
                expected_queries: expected.0,
                expected_candidates: expected.1,
            });
        }
        width(member.queries, member.candidates, index)?;
    }
    Ok(expected)
}

/// Both sides of a member are one width.
fn width(queries: &Embeddings, candidates: &Embeddings, index: usize) -> Result<(), FusionError> {
    match queries.dim() == candidates.dim() {
        true => Ok(()),
        false => Err(FusionError::Member {
            index,
            source: miners_index::IndexError::DimensionMismatch {
                queries: queries.dim(),
                candidates: candidates.dim(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[&[f32]]) -> Embeddings {
        Embeddings::from_rows(values[0].len(), values.concat()).unwrap()
    }

    #[test]
    fn pairs_sum_the_weighted_measures_and_the_package_option_drops_the_first_weight() {
        let (a1, b1) = (rows(&[&[0.0, 0.0], &[1.0, 1.0]]), rows(&[&[3.0, 4.0]]));
        let (a2, b2) = (rows(&[&[1.0], &[2.0]]), rows(&[&[-1.0]]));
        let members = [Member::new(&a1, &b1, 0.5), Member::new(&a2, &b2, 2.0)];
        let weighted = score_pairs(&members, DistMeasure::Euclidean, FirstWeight::Weighted);
        assert_eq!(
            weighted.unwrap(),
            [[0.5 * 5.0 + 2.0 * 2.0], [0.5 * 13f64.sqrt() + 2.0 * 3.0]]
        );
        let package = score_pairs(&members, DistMeasure::Manhattan, FirstWeight::Ignored);
        assert_eq!(package.unwrap(), [[7.0 + 2.0 * 2.0], [5.0 + 2.0 * 3.0]]);
        let cosine = score_pairs(&members, DistMeasure::Cosine, FirstWeight::Weighted).unwrap();
        assert_eq!(
            cosine[0][0], -2.0,
            "a zero vector scores 0, as scikit-learn"
        );
    }

    #[test]
    fn each_prediction_takes_its_best_reference() {
        let predictions = rows(&[&[0.0, 0.0], &[1.0, 0.0]]);
        let references = rows(&[&[3.0, 4.0], &[1.0, 0.0], &[0.0, 2.0]]);
        let members = [Member::new(&predictions, &references, 1.0)];
        let lowest = score_references(
            &members,
            &[2, 1],
            DistMeasure::Euclidean,
            FirstWeight::Weighted,
        );
        assert_eq!(lowest.unwrap(), [1.0, 5f64.sqrt()]);
        let highest = score_references(
            &members,
            &[1, 2],
            DistMeasure::Cosine,
            FirstWeight::Weighted,
        );
        assert_eq!(highest.unwrap(), [0.0, 1.0]);
        for counts in [&[3, 0][..], &[1, 1], &[1, 1, 1]] {
            let err =
                score_references(&members, counts, DistMeasure::Cosine, FirstWeight::Weighted);
            assert!(
                matches!(err, Err(FusionError::References { .. })),
                "{counts:?}"
            );
        }
    }
}
