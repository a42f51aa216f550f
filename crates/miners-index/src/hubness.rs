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
//! Both neighbourhoods come from one pass over the score blocks (each block
//! scored once for both sides where the scorer can: one GEMM), the corrected
//! scores from a second: two passes, with memory bounded by their blocks plus
//! `k` entries per candidate and thread.

use std::ops::Range;

use rayon::prelude::*;

use crate::{BlockScorer, IndexError, SearchOptions, search::TopK};

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
    /// The first pass's keys of `base`, row-major, when they fit
    /// [`SearchOptions::kept_scores_bytes`].
    kept: Option<Vec<f32>>,
}

impl<'a, S: BlockScorer> HubnessScorer<'a, S> {
    /// Corrects `base` (queries × candidates) with the neighbourhoods from
    /// `base` and `backward`, the same scorer with the two sides swapped.
    pub fn new(
        base: &'a S,
        backward: &S,
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
        let cells = base.num_queries().saturating_mul(base.num_candidates());
        let keep = cells.saturating_mul(size_of::<f32>()) <= options.kept_scores_bytes;
        let mut kept = keep.then(|| vec![0f32; cells]);
        let (query_means, candidate_means) =
            neighbourhood_means(base, backward, hubness.k(), options, kept.as_deref_mut())?;
        Ok(Self {
            base,
            hubness,
            query_means,
            candidate_means,
            kept,
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

/// Mean base similarity of every query of `base` to its `k` best
/// candidates (`r_x`), and of every candidate to its `k` best queries under
/// `twin`, the sides swapped (`r_y`): both from one pass over the blocks,
/// each block scored once for both sides. Equal to two exact searches bit
/// for bit, ties included: the column lists of the query slabs merge in
/// query order, as one search over all queries would have kept them. With
/// `kept`, every block's keys of `base` are copied there, row-major.
fn neighbourhood_means<S: BlockScorer>(
    base: &S,
    twin: &S,
    k: usize,
    options: SearchOptions,
    kept: Option<&mut [f32]>,
) -> Result<(Vec<f32>, Vec<f32>), IndexError> {
    let (num_queries, num_candidates) = (base.num_queries(), base.num_candidates());
    if num_queries == 0 || num_candidates == 0 {
        return Err(IndexError::BadK {
            k,
            pool: num_candidates.min(num_queries),
        });
    }
    let (row_k, column_k) = (k.min(num_candidates).max(1), k.min(num_queries).max(1));
    // One slab of queries per thread: a candidate's list restarts in each
    // slab, so fewer slabs insert less; blocks within a slab stay small.
    let slab = num_queries.div_ceil(rayon::current_num_threads().max(1));
    let query_block = options.query_block.clamp(1, slab);
    let candidate_block = options.candidate_block.max(1);
    let starts: Vec<usize> = (0..num_queries).step_by(slab).collect();
    let kept_slabs: Vec<Option<&mut [f32]>> = match kept {
        Some(kept) => kept.chunks_mut(slab * num_candidates).map(Some).collect(),
        None => starts.iter().map(|_| None).collect(),
    };
    let slabs: Vec<(Vec<TopK>, Vec<TopK>)> = starts
        .into_par_iter()
        .zip(kept_slabs)
        .map(|(start, mut kept)| {
            let slab = start..(start + slab).min(num_queries);
            let mut rows: Vec<TopK> = slab.clone().map(|_| TopK::new(row_k)).collect();
            let mut columns = Columns::new(num_candidates, column_k);
            let size = query_block * candidate_block.min(num_candidates);
            let (mut out, mut swapped) = (vec![0f32; size], vec![0f32; size]);
            for q0 in slab.clone().step_by(query_block) {
                let queries = q0..(q0 + query_block).min(slab.end);
                let rows = &mut rows[q0 - start..queries.end - start];
                for c0 in (0..num_candidates).step_by(candidate_block) {
                    let candidates = c0..(c0 + candidate_block).min(num_candidates);
                    let size = queries.len() * candidates.len();
                    let (out, swapped) = (&mut out[..size], &mut swapped[..size]);
                    base.score_block_swapped(twin, queries.clone(), candidates, out, swapped);
                    let width = size / queries.len();
                    for (top, row) in rows.iter_mut().zip(out.chunks(width)) {
                        top.push_row(c0, row);
                    }
                    if let Some(kept) = kept.as_deref_mut() {
                        let kept_rows =
                            kept[(q0 - start) * num_candidates..].chunks_mut(num_candidates);
                        for (kept_row, row) in kept_rows.zip(out.chunks(width)) {
                            kept_row[c0..c0 + width].copy_from_slice(row);
                        }
                    }
                    for (i, row) in swapped.chunks(width).enumerate() {
                        columns.push_row(q0 + i, c0, row);
                    }
                }
            }
            (rows, columns.tops)
        })
        .collect();
    let mut query_means = Vec::with_capacity(num_queries);
    let mut columns: Option<Vec<TopK>> = None;
    for (index, (rows, slab_columns)) in slabs.into_iter().enumerate() {
        let start = index * slab;
        query_means.extend(
            rows.iter()
                .enumerate()
                .map(|(i, top)| mean(base, start + i, top, row_k)),
        );
        columns = Some(match columns {
            None => slab_columns,
            Some(mut columns) => {
                columns
                    .iter_mut()
                    .zip(slab_columns)
                    .for_each(|(kept, later)| kept.merge(later));
                columns
            }
        });
    }
    let columns = columns.expect("at least one query slab");
    let candidate_means = columns
        .iter()
        .enumerate()
        .map(|(c, top)| mean(twin, c, top, column_k))
        .collect();
    Ok((query_means, candidate_means))
}

/// Every candidate's best queries so far, offered one query (a row of the
/// block) at a time, with each list's threshold at hand so that a row costs
/// one comparison per candidate.
struct Columns {
    tops: Vec<TopK>,
    thresholds: Vec<f32>,
}

impl Columns {
    fn new(candidates: usize, k: usize) -> Self {
        Self {
            tops: (0..candidates).map(|_| TopK::new(k)).collect(),
            thresholds: vec![f32::NEG_INFINITY; candidates],
        }
    }

    /// Offers `query`'s keys for the candidates from `offset` on.
    fn push_row(&mut self, query: usize, offset: usize, keys: &[f32]) {
        let thresholds = &mut self.thresholds[offset..offset + keys.len()];
        for (j, (&key, threshold)) in keys.iter().zip(thresholds).enumerate() {
            if key > *threshold {
                let top = &mut self.tops[offset + j];
                top.push_row(query, &[key]);
                *threshold = top.threshold();
            }
        }
    }
}

/// The mean similarity of `query`'s kept neighbours under `scorer`: scores
/// summed best first in `f64`, negated for distances, as over a search's lists.
fn mean<S: BlockScorer>(scorer: &S, query: usize, top: &TopK, k: usize) -> f32 {
    let sign = if scorer.higher_is_better() { 1.0 } else { -1.0 };
    let sum: f64 = top
        .entries
        .iter()
        .map(|&(_, key)| f64::from(scorer.to_score(query, key)))
        .sum();
    (sign * sum / k as f64) as f32
}

impl<S: BlockScorer> BlockScorer for HubnessScorer<'_, S> {
    fn num_queries(&self) -> usize {
        self.base.num_queries()
    }

    fn num_candidates(&self) -> usize {
        self.base.num_candidates()
    }

    /// The base's scores (kept from the first pass, or scored again),
    /// corrected.
    fn score_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        match &self.kept {
            Some(kept) => {
                let width = candidates.len();
                let num_candidates = self.base.num_candidates();
                for (row, q) in out.chunks_mut(width).zip(queries.clone()) {
                    let start = q * num_candidates + candidates.start;
                    row.copy_from_slice(&kept[start..start + width]);
                }
                self.base.keys_to_scores(queries.clone(), out);
            }
            None => self
                .base
                .scores_block(queries.clone(), candidates.clone(), out),
        }
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
