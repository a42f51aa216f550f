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
    /// Fills `out` with this scorer's keys for the block and `swapped`, in
    /// the same layout (`swapped[i · width + j]`), with the keys `twin` —
    /// this scorer with its sides swapped — gives candidate `j` against query
    /// `i`. By default `twin` scores the block itself; a scorer that can read
    /// them off its own computation (one GEMM for both) overrides this, bit
    /// for bit.
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
        let mut transposed = vec![0f32; out.len()];
        twin.score_block(candidates.clone(), queries.clone(), &mut transposed);
        let (rows, width) = (queries.len(), candidates.len());
        for (j, column) in transposed.chunks(rows).enumerate() {
            for (i, &key) in column.iter().enumerate() {
                swapped[i * width + j] = key;
            }
        }
    }

    /// Fills `out` with reported scores (keys converted by [`BlockScorer::to_score`]).
    fn scores_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        self.score_block(queries.clone(), candidates, out);
        self.keys_to_scores(queries, out);
    }

    /// Converts a block of keys of `queries` (row-major, one row per query)
    /// into reported scores in place, as [`BlockScorer::to_score`] does each.
    fn keys_to_scores(&self, queries: Range<usize>, out: &mut [f32]) {
        let width = out.len().checked_div(queries.len()).unwrap_or(0).max(1);
        for (row, q) in out.chunks_mut(width).zip(queries) {
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

    /// `out = Q[queries] · C[candidates]ᵀ`, single-threaded GEMMs on whole
    /// [`TILE`] × [`TILE`] tiles (partial ones zero-padded, on both sides),
    /// so that a score does not depend on where its block starts or ends, on
    /// either side: GEMM kernels pick their summation order by shape (a
    /// single row takes another path), and every product here has one shape
    /// up to a whole number of tiles. Equal candidates score equal bits, ties
    /// stay ties, and a pair scores the same bits with the sides swapped.
    fn dot_block(&self, queries: &Range<usize>, candidates: &Range<usize>, out: &mut [f32]) {
        let dim = self.queries.dim();
        let whole = queries.len() / TILE * TILE;
        let q = &self.queries.as_slice()[queries.start * dim..queries.end * dim];
        let (q_whole, q_rest) = q.split_at(whole * dim);
        let rest = padded_rows(q_rest, dim);
        let width = candidates.len();
        let mut tile = vec![0f32; (whole + TILE) * TILE];
        for start in (candidates.start..candidates.end).step_by(TILE) {
            let end = (start + TILE).min(candidates.end);
            let c_padded;
            let mut c = &self.candidates.as_slice()[start * dim..end * dim];
            if end - start < TILE {
                c_padded = padded_rows(c, dim);
                c = &c_padded;
            }
            let rhs = MatRef::from_row_major_slice(c, TILE, dim).transpose();
            let (tile_whole, tile_rest) = tile.split_at_mut(whole * TILE);
            for (lhs, dst) in [(q_whole, tile_whole), (&rest[..], tile_rest)] {
                let rows = lhs.len() / dim.max(1);
                if rows > 0 {
                    let lhs = MatRef::from_row_major_slice(lhs, rows, dim);
                    let dst = MatMut::from_row_major_slice_mut(dst, rows, TILE);
                    faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, Par::Seq);
                }
            }
            let offset = start - candidates.start;
            for (row, scores) in out.chunks_mut(width).zip(tile.chunks(TILE)) {
                row[offset..offset + end - start].copy_from_slice(&scores[..end - start]);
            }
        }
    }
}

impl MetricScorer<'_> {
    /// `out = −‖q − c‖₁` for every pair of the block, each summed over the
    /// dimensions in order: the same bits wherever the block starts, and
    /// with the sides swapped.
    fn manhattan_block(&self, queries: &Range<usize>, candidates: &Range<usize>, out: &mut [f32]) {
        let dim = self.queries.dim();
        let rows =
            self.queries.as_slice()[queries.start * dim..queries.end * dim].chunks(dim.max(1));
        let columns = &self.candidates.as_slice()[candidates.start * dim..candidates.end * dim];
        for (query, keys) in rows.zip(out.chunks_mut(candidates.len().max(1))) {
            for (candidate, key) in columns.chunks(dim.max(1)).zip(keys) {
                *key = -query
                    .iter()
                    .zip(candidate)
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f32>();
            }
        }
    }
}

/// `rows` (row-major, `dim` wide) zero-padded to [`TILE`] rows; empty when
/// there are none.
fn padded_rows(rows: &[f32], dim: usize) -> Vec<f32> {
    if rows.is_empty() {
        return Vec::new();
    }
    let mut padded = rows.to_vec();
    padded.resize(TILE * dim, 0.0);
    padded
}

impl BlockScorer for MetricScorer<'_> {
    fn num_queries(&self) -> usize {
        self.queries.len()
    }

    fn num_candidates(&self) -> usize {
        self.candidates.len()
    }

    fn score_block(&self, queries: Range<usize>, candidates: Range<usize>, out: &mut [f32]) {
        if self.metric == Metric::Manhattan {
            return self.manhattan_block(&queries, &candidates, out);
        }
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

    /// One pass for both sides: a dot product (and an L1 distance) is the
    /// same bits either way round, and each side's Euclidean key subtracts
    /// its own candidates' norms.
    fn score_block_swapped(
        &self,
        twin: &Self,
        queries: Range<usize>,
        candidates: Range<usize>,
        out: &mut [f32],
        swapped: &mut [f32],
    ) {
        match self.metric {
            Metric::Manhattan => self.manhattan_block(&queries, &candidates, out),
            _ => self.dot_block(&queries, &candidates, out),
        }
        if self.metric != Metric::Euclidean {
            swapped.copy_from_slice(out);
            return;
        }
        let norms = &self.candidate_norms[candidates];
        let twin_norms = &twin.candidate_norms[queries];
        let rows = out
            .chunks_mut(norms.len())
            .zip(swapped.chunks_mut(norms.len()));
        for ((row, swapped), &twin_norm) in rows.zip(twin_norms) {
            for ((key, swapped), norm) in row.iter_mut().zip(swapped).zip(norms) {
                *swapped = 2.0 * *key - twin_norm;
                *key = 2.0 * *key - norm;
            }
        }
    }

    fn to_score(&self, query: usize, key: f32) -> f32 {
        match self.metric {
            Metric::Euclidean => (self.query_norms[query] - key).max(0.0).sqrt(),
            Metric::Cosine | Metric::Dot => key,
            Metric::Manhattan => -key,
        }
    }

    fn higher_is_better(&self) -> bool {
        self.metric.higher_is_better()
    }

    /// The metric's natural values: true L2 distances for Euclidean, L1
    /// distances for Manhattan.
    fn keys_to_scores(&self, queries: Range<usize>, out: &mut [f32]) {
        if self.metric == Metric::Manhattan {
            out.iter_mut().for_each(|key| *key = -*key);
        }
        if self.metric == Metric::Euclidean {
            // The same conversion as `to_score`, with the query's norm hoisted
            // so that the loop vectorises.
            let width = out.len().checked_div(queries.len()).unwrap_or(0).max(1);
            for (row, q) in out.chunks_mut(width).zip(queries) {
                let norm = self.query_norms[q];
                for key in row {
                    *key = (norm - *key).max(0.0).sqrt();
                }
            }
        }
    }
}
