//! Exact k-nearest-neighbour search.
//!
//! Scores are computed block by block — a slab of queries against a slab of
//! candidates, with one `faer` GEMM per block — and folded into a per-query
//! top-k buffer, so memory stays bounded by the block size whatever the pool
//! size. Query slabs run in parallel on the rayon pool. Candidates are visited
//! in index order and only a strictly better score displaces a kept one, so on
//! equal scores the lower candidate index wins, as the reference's stable sort
//! does.
//!
//! Anything that can fill a block of scores implements [`BlockScorer`]; the
//! single-model [`MetricScorer`] is one, and `miners-fusion` adds DistFuse.
//! [`HubnessScorer`] corrects any of them with a margin or CSLS.
//!
//! ```
//! use miners_core::{Embeddings, Metric};
//! use miners_index::ExactIndex;
//!
//! let pool = Embeddings::from_rows(2, vec![0.0, 0.0, 1.0, 0.0, 5.0, 5.0]).unwrap();
//! let queries = Embeddings::from_rows(2, vec![0.9, 0.1]).unwrap();
//! let index = ExactIndex::new(pool, Metric::Euclidean);
//! let hits = index.search(&queries, 2).unwrap();
//! assert_eq!(hits.indices(0).collect::<Vec<_>>(), vec![1, 0]);
//! ```

mod hubness;
mod scorer;
mod search;

pub use hubness::{Hubness, HubnessChoice, HubnessScorer};
pub use scorer::{BlockScorer, MetricScorer};
pub use search::{SearchOptions, search};

use miners_core::{Embeddings, Metric, Neighbours};

/// Errors of the search itself; each names the offending argument.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IndexError {
    /// `k` is zero or larger than the candidate pool.
    #[error("k = {k} is out of range for a pool of {pool} candidates (need 1 <= k <= pool)")]
    BadK {
        /// Requested neighbours per query.
        k: usize,
        /// Candidates available.
        pool: usize,
    },
    /// The ratio margin was asked of a distance; it needs a positive similarity.
    #[error(
        "the ratio margin needs a similarity (cosine or dot); use the distance margin or CSLS with a distance"
    )]
    NeedsSimilarity,
    /// The backward scorer of a hubness correction is not the forward one with its sides swapped.
    #[error(
        "the backward scorer must score candidates against queries (the forward sides swapped)"
    )]
    NotSwapped,
    /// Queries and candidates have different widths.
    #[error("query dimension {queries} differs from candidate dimension {candidates}")]
    DimensionMismatch {
        /// Query embedding width.
        queries: usize,
        /// Candidate embedding width.
        candidates: usize,
    },
}

/// A candidate pool that answers exact k-NN queries under one metric.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    candidates: Embeddings,
    metric: Metric,
}

impl ExactIndex {
    /// Indexes `candidates` for search under `metric`.
    pub fn new(candidates: Embeddings, metric: Metric) -> Self {
        Self { candidates, metric }
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The `k` best candidates of every query, best first.
    pub fn search(&self, queries: &Embeddings, k: usize) -> Result<Neighbours, IndexError> {
        let scorer = MetricScorer::new(queries, &self.candidates, self.metric)?;
        search(&scorer, k, SearchOptions::default())
    }
}
