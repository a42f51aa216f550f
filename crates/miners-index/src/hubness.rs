//! Hubness-corrected scores over any base scorer: the ratio and distance
//! margins of Artetxe & Schwenk (2019) and CSLS (Conneau et al., 2018).
//!
//! Both correct a base similarity `sim(x, y)` by how close each side is to
//! its own neighbourhood: `r_x` is the mean similarity of query `x` to its `k`
//! nearest candidates, `r_y` the mean similarity of candidate `y` to its `k`
//! nearest queries. With `m = (r_x + r_y) / 2`:
//!
//! - ratio margin: `sim / m`;
//! - distance margin: `sim − m`;
//! - CSLS: `2·sim − r_x − r_y` (twice the distance margin, so it ranks alike).
//!
//! The base similarity is the base scorer's score when higher is better
//! (cosine, dot), and the negated distance otherwise (Euclidean, a DistFuse of
//! distances): the fused similarity of DistFuse is minus its fused distance.
//! The ratio margin needs a positive similarity and refuses distances.
//!
//! The neighbourhoods cost one exact search each way, the corrected scores a
//! third: three searches, with memory bounded by their blocks.

use std::ops::Range;

use crate::{BlockScorer, IndexError, SearchOptions, search};

/// How the base similarity is corrected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Hubness {
    /// Ratio margin, `sim / mean(r_x, r_y)`.
    RatioMargin {
        /// Neighbourhood size (LASER: 4).
        k: usize,
    },
    /// Distance margin, `sim − mean(r_x, r_y)`.
    DistanceMargin {
        /// Neighbourhood size (LASER: 4).
        k: usize,
    },
    /// CSLS, `2·sim − r_x − r_y`.
    Csls {
        /// Neighbourhood size (Conneau et al.: 10).
        k: usize,
    },
}

/// A hubness correction by name, as a command line chooses it; `None`
/// keeps the metric's own scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum HubnessChoice {
    /// The metric's own scores.
    None,
    /// Ratio margin (Artetxe & Schwenk, 2019).
    MarginRatio,
    /// Distance margin (Artetxe & Schwenk, 2019).
    MarginDistance,
    /// CSLS (Conneau et al., 2018).
    Csls,
}

impl HubnessChoice {
    /// The correction with neighbourhood size `k` (default: 4 for the
    /// margins, as LASER; 10 for CSLS, as Conneau et al.).
    pub fn with_k(self, k: Option<usize>) -> Option<Hubness> {
        match self {
            Self::None => None,
            Self::MarginRatio => Some(Hubness::RatioMargin { k: k.unwrap_or(4) }),
            Self::MarginDistance => Some(Hubness::DistanceMargin { k: k.unwrap_or(4) }),
            Self::Csls => Some(Hubness::Csls { k: k.unwrap_or(10) }),
        }
    }
}

impl Hubness {
    /// The correction's name, without its neighbourhood size.
    pub fn choice(self) -> HubnessChoice {
        match self {
            Self::RatioMargin { .. } => HubnessChoice::MarginRatio,
            Self::DistanceMargin { .. } => HubnessChoice::MarginDistance,
            Self::Csls { .. } => HubnessChoice::Csls,
        }
    }

    /// The neighbourhood size.
    pub fn k(self) -> usize {
        match self {
            Self::RatioMargin { k } | Self::DistanceMargin { k } | Self::Csls { k } => k,
        }
    }

    /// The name used in specs and records: `margin_ratio`, `margin_distance`, `csls`.
    pub fn name(self) -> &'static str {
        match self {
            Self::RatioMargin { .. } => "margin_ratio",
            Self::DistanceMargin { .. } => "margin_distance",
            Self::Csls { .. } => "csls",
        }
    }
}

/// A base scorer corrected for hubness; higher is better.
pub struct HubnessScorer<'a, S> {
    base: &'a S,
    hubness: Hubness,
    query_means: Vec<f32>,
    candidate_means: Vec<f32>,
}

impl<'a, S: BlockScorer> HubnessScorer<'a, S> {
    /// Corrects `base` (queries × candidates) with the neighbourhoods from
    /// `base` and `backward`, the same scorer with the two sides swapped.
    pub fn new<B: BlockScorer>(
        base: &'a S,
        backward: &B,
        hubness: Hubness,
        options: SearchOptions,
    ) -> Result<Self, IndexError> {
        if matches!(hubness, Hubness::RatioMargin { .. }) && !base.higher_is_better() {
            return Err(IndexError::NeedsSimilarity);
        }
        if backward.num_queries() != base.num_candidates()
            || backward.num_candidates() != base.num_queries()
        {
            return Err(IndexError::NotSwapped);
        }
        Ok(Self {
            base,
            hubness,
            query_means: neighbourhood_means(base, hubness.k(), options)?,
            candidate_means: neighbourhood_means(backward, hubness.k(), options)?,
        })
    }

    /// Mean similarity of each query to its nearest candidates (`r_x`).
    pub fn query_means(&self) -> &[f32] {
        &self.query_means
    }

    /// Mean similarity of each candidate to its nearest queries (`r_y`).
    pub fn candidate_means(&self) -> &[f32] {
        &self.candidate_means
    }
}

/// Mean base similarity of every query of `scorer` to its `k` best candidates.
fn neighbourhood_means<S: BlockScorer>(
    scorer: &S,
    k: usize,
    options: SearchOptions,
) -> Result<Vec<f32>, IndexError> {
    let k = k.min(scorer.num_candidates()).max(1);
    let neighbours = search(scorer, k, options)?;
    let sign = if scorer.higher_is_better() { 1.0 } else { -1.0 };
    Ok((0..neighbours.len())
        .map(|q| {
            let sum: f64 = neighbours.get(q).map(|n| f64::from(n.score)).sum();
            (sign * sum / k as f64) as f32
        })
        .collect())
}

impl<S: BlockScorer> BlockScorer for HubnessScorer<'_, S> {
    fn num_queries(&self) -> usize {
        self.base.num_queries()
    }

    fn num_candidates(&self) -> usize {
        self.base.num_candidates()
    }

    fn score_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        self.base
            .scores_block(queries.clone(), candidates.clone(), out);
        let sign = if self.base.higher_is_better() {
            1.0
        } else {
            -1.0
        };
        let r_candidates = &self.candidate_means[candidates];
        for (row, q) in out.chunks_mut(r_candidates.len()).zip(queries) {
            let r_query = self.query_means[q];
            // One loop per correction, so that each vectorises.
            match self.hubness {
                Hubness::RatioMargin { .. } => {
                    for (value, &r_candidate) in row.iter_mut().zip(r_candidates) {
                        *value = sign * *value / (0.5 * (r_query + r_candidate));
                    }
                }
                Hubness::DistanceMargin { .. } => {
                    for (value, &r_candidate) in row.iter_mut().zip(r_candidates) {
                        *value = sign * *value - 0.5 * (r_query + r_candidate);
                    }
                }
                Hubness::Csls { .. } => {
                    for (value, &r_candidate) in row.iter_mut().zip(r_candidates) {
                        *value = 2.0 * sign * *value - r_query - r_candidate;
                    }
                }
            }
        }
    }

    fn to_score(&self, _query: usize, key: f32) -> f32 {
        key
    }

    fn higher_is_better(&self) -> bool {
        true
    }
}
