use std::{borrow::Cow, ops::Range};

use faer::{Accum, MatMut, MatRef, Par};
use miners_core::{Embeddings, Metric};

use crate::IndexError;

/// A source of query × candidate scores, computed one block at a time.
///
/// Blocks hold *keys*: values where larger means closer. [`BlockScorer::to_score`]
/// turns a key back into the natural unit reported to users (a distance for
/// Euclidean, for example), so ranking never pays for that conversion.
pub trait BlockScorer: Sync {
    /// Number of queries.
    fn num_queries(&self) -> usize;
    /// Number of candidates.
    fn num_candidates(&self) -> usize;
    /// Fills `out` (row-major, `queries.len() × candidates.len()`) with keys.
    fn score_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]);
    /// Converts the key of `query` into the reported score.
    fn to_score(&self, query: usize, key: f32) -> f32;
    /// Whether reported scores are similarities (true) or distances (false).
    fn higher_is_better(&self) -> bool;
    /// Fills `out` with this scorer's keys for the block and `swapped`
    /// (candidates × queries, row-major) with the keys `twin` — this scorer
    /// with its sides swapped — gives the same pairs. By default `twin`
    /// scores them itself; a scorer that can read them off its own
    /// computation (one GEMM for both) overrides this, bit for bit.
    fn score_block_swapped(
        &self,
        twin: &Self,
        queries: Range<usize>,
        candidates: Range<usize>,
        out: &mut [f32],
        swapped: &mut [f32],
    ) where
        Self: Sized,
    {
        self.score_block(queries.clone(), candidates.clone(), out);
        twin.score_block(candidates, queries, swapped);
    }

    /// Fills `out` with reported scores (keys converted by [`BlockScorer::to_score`]).
    fn scores_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        self.score_block(queries.clone(), candidates.clone(), out);
        for (row, q) in out.chunks_mut(candidates.len()).zip(queries) {
            for key in row {
                *key = self.to_score(q, *key);
            }
        }
    }
}

/// Candidates per GEMM: every product has this width, whatever the block.
const TILE: usize = 64;

/// Scores of one embedding model under one [`Metric`].
#[derive(Debug)]
pub struct MetricScorer<'a> {
    queries: Cow<'a, Embeddings>,
    candidates: Cow<'a, Embeddings>,
    metric: Metric,
    query_norms: Vec<f32>,
    candidate_norms: Vec<f32>,
}

impl<'a> MetricScorer<'a> {
    /// Prepares scoring of `queries` against `candidates` (cosine normalises copies).
    pub fn new(
        queries: &'a Embeddings,
        candidates: &'a Embeddings,
        metric: Metric,
    ) -> Result<Self, IndexError> {
        if queries.dim() != candidates.dim() {
            return Err(IndexError::DimensionMismatch {
                queries: queries.dim(),
                candidates: candidates.dim(),
            });
        }
        let (queries, candidates) = match metric {
            Metric::Cosine => (
                Cow::Owned(queries.l2_normalized()),
                Cow::Owned(candidates.l2_normalized()),
            ),
            _ => (Cow::Borrowed(queries), Cow::Borrowed(candidates)),
        };
        let (query_norms, candidate_norms) = match metric {
            Metric::Euclidean => (queries.squared_norms(), candidates.squared_norms()),
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Self {
            queries,
            candidates,
            metric,
            query_norms,
            candidate_norms,
        })
    }

    /// The metric in use.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// `out = Q[queries] · C[candidates]ᵀ`, single-threaded GEMMs of
    /// [`TILE`] candidates each (the last one zero-padded), so that a
    /// candidate's score does not depend on where its block starts or ends:
    /// equal candidates score equal bits, and ties stay ties.
    fn dot_block(&self, queries: &Range<usize>, candidates: &Range<usize>, out: &mut [f32]) {
        let dim = self.queries.dim();
        let q = &self.queries.as_slice()[queries.start * dim..queries.end * dim];
        let lhs = MatRef::from_row_major_slice(q, queries.len(), dim);
        let width = candidates.len();
        let mut tile = vec![0f32; queries.len() * TILE];
        let mut padded = Vec::new();
        for start in (candidates.start..candidates.end).step_by(TILE) {
            let end = (start + TILE).min(candidates.end);
            let mut c = &self.candidates.as_slice()[start * dim..end * dim];
            if end - start < TILE {
                padded.clear();
                padded.extend_from_slice(c);
                padded.resize(TILE * dim, 0.0);
                c = &padded;
            }
            let rhs = MatRef::from_row_major_slice(c, TILE, dim).transpose();
            let dst = MatMut::from_row_major_slice_mut(&mut tile, queries.len(), TILE);
            faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, Par::Seq);
            let offset = start - candidates.start;
            for (row, scores) in out.chunks_mut(width).zip(tile.chunks(TILE)) {
                row[offset..offset + end - start].copy_from_slice(&scores[..end - start]);
            }
        }
    }
}

impl BlockScorer for MetricScorer<'_> {
    fn num_queries(&self) -> usize {
        self.queries.len()
    }

    fn num_candidates(&self) -> usize {
        self.candidates.len()
    }

    fn score_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        self.dot_block(&queries, &candidates, out);
        if self.metric == Metric::Euclidean {
            // key = 2 q·c − |c|² = |q|² − d²: ranks exactly as the distance does.
            let norms = &self.candidate_norms[candidates];
            for row in out.chunks_mut(norms.len()) {
                for (key, norm) in row.iter_mut().zip(norms) {
                    *key = 2.0 * *key - norm;
                }
            }
        }
    }

    /// One GEMM for both sides: a dot product is the same bits either way
    /// round, and each side's Euclidean key subtracts its own candidates' norms.
    fn score_block_swapped(
        &self,
        twin: &Self,
        queries: Range<usize>,
        candidates: Range<usize>,
        out: &mut [f32],
        swapped: &mut [f32],
    ) {
        self.dot_block(&queries, &candidates, out);
        let width = candidates.len();
        for (i, row) in out.chunks(width).enumerate() {
            for (j, &dot) in row.iter().enumerate() {
                swapped[j * queries.len() + i] = dot;
            }
        }
        if self.metric == Metric::Euclidean {
            let norms = &self.candidate_norms[candidates];
            for row in out.chunks_mut(width) {
                for (key, norm) in row.iter_mut().zip(norms) {
                    *key = 2.0 * *key - norm;
                }
            }
            let norms = &twin.candidate_norms[queries];
            for row in swapped.chunks_mut(norms.len()) {
                for (key, norm) in row.iter_mut().zip(norms) {
                    *key = 2.0 * *key - norm;
                }
            }
        }
    }

    fn to_score(&self, query: usize, key: f32) -> f32 {
        match self.metric {
            Metric::Euclidean => (self.query_norms[query] - key).max(0.0).sqrt(),
            Metric::Cosine | Metric::Dot => key,
        }
    }

    fn higher_is_better(&self) -> bool {
        self.metric.higher_is_better()
    }

    /// The metric's natural values: true L2 distances for Euclidean.
    fn scores_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        self.score_block(queries.clone(), candidates.clone(), out);
        if self.metric == Metric::Euclidean {
            // The same conversion as `to_score`, with the query's norm hoisted
            // so that the loop vectorises.
            let width = candidates.len();
            for (row, q) in out.chunks_mut(width).zip(queries) {
                let norm = self.query_norms[q];
                for key in row {
                    *key = (norm - *key).max(0.0).sqrt();
                }
            }
        }
    }
}
