use miners_core::Neighbours;
use rayon::prelude::*;

use crate::{BlockScorer, IndexError};

/// Block sizes of the search; the defaults suit a few cores and L2-sized slabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// Largest number of queries scored together (and handed to one thread).
    pub query_block: usize,
    /// Number of candidates scored together.
    pub candidate_block: usize,
    /// A hubness correction keeps the scores of its first pass for its
    /// second when they take at most this many bytes (4 per query and
    /// candidate); beyond, the second pass scores them again. The results
    /// are the same bits either way.
    pub kept_scores_bytes: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            query_block: 1024,
            candidate_block: 512,
            kept_scores_bytes: 1 << 30,
        }
    }
}

/// The `k` best candidates of every query of `scorer`, best first.
///
/// Memory beyond the result is one `query_block × candidate_block` buffer per
/// thread. Ties keep the lower candidate index.
pub fn search<S: BlockScorer>(
    scorer: &S,
    k: usize,
    options: SearchOptions,
) -> Result<Neighbours, IndexError> {
    let (num_queries, pool) = (scorer.num_queries(), scorer.num_candidates());
    if k == 0 || k > pool {
        return Err(IndexError::BadK { k, pool });
    }
    let query_block = balanced_block(num_queries, options.query_block);
    let candidate_block = options.candidate_block.max(1);
    let mut indices = vec![0u32; num_queries * k];
    let mut keys = vec![0f32; num_queries * k];
    indices
        .par_chunks_mut(query_block * k)
        .zip(keys.par_chunks_mut(query_block * k))
        .enumerate()
        .for_each(|(block, (indices, keys))| {
            let start = block * query_block;
            let queries = start..start + indices.len() / k;
            let mut tops: Vec<TopK> = queries.clone().map(|_| TopK::new(k)).collect();
            let mut scratch = vec![0f32; queries.len() * candidate_block.min(pool)];
            for c0 in (0..pool).step_by(candidate_block) {
                let candidates = c0..(c0 + candidate_block).min(pool);
                let out = &mut scratch[..queries.len() * candidates.len()];
                scorer.score_block(queries.clone(), candidates.clone(), out);
                for (top, row) in tops.iter_mut().zip(out.chunks(candidates.len())) {
                    top.push_row(c0, row);
                }
            }
            for (q, top) in queries.zip(tops) {
                let offset = (q - start) * k;
                for (slot, (index, key)) in top.entries.into_iter().enumerate() {
                    indices[offset + slot] = index;
                    keys[offset + slot] = scorer.to_score(q, key);
                }
            }
        });
    Ok(Neighbours::from_flat(
        k,
        indices,
        keys,
        scorer.higher_is_better(),
    ))
}

/// Splits the queries into a multiple of the thread count of blocks of at
/// most `max_block` rows, so every thread gets the same share of work.
fn balanced_block(num_queries: usize, max_block: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let rounds = num_queries.div_ceil(threads * max_block.max(1)).max(1);
    num_queries.div_ceil(threads * rounds).max(16)
}

/// The best `k` (candidate, key) pairs seen so far, best first.
pub(crate) struct TopK {
    k: usize,
    pub(crate) entries: Vec<(u32, f32)>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            k,
            entries: Vec::with_capacity(k + 1),
        }
    }

    /// Offers one row of keys whose first candidate index is `offset`.
    pub(crate) fn push_row(&mut self, offset: usize, keys: &[f32]) {
        let mut threshold = self.threshold();
        for (j, &key) in keys.iter().enumerate() {
            if key > threshold {
                self.insert((offset + j) as u32, key);
                threshold = self.threshold();
            }
        }
    }

    /// Offers the entries of `later`, whose candidates all come after this
    /// buffer's: the same buffer as if one had seen them all in order.
    pub(crate) fn merge(&mut self, later: TopK) {
        for (index, key) in later.entries {
            self.push_row(index as usize, &[key]);
        }
    }

    /// Keys at or below this cannot enter the buffer.
    pub(crate) fn threshold(&self) -> f32 {
        if self.entries.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.entries[self.k - 1].1
        }
    }

    /// Inserts after every kept entry whose key is at least as good.
    fn insert(&mut self, index: u32, key: f32) {
        let at = self.entries.partition_point(|&(_, kept)| kept >= key);
        self.entries.insert(at, (index, key));
        self.entries.truncate(self.k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_keep_the_lower_index() {
        let mut top = TopK::new(2);
        top.push_row(0, &[1.0, 3.0, 3.0, 3.0]);
        assert_eq!(top.entries, vec![(1, 3.0), (2, 3.0)]);
        top.push_row(4, &[3.0, 4.0]);
        assert_eq!(top.entries, vec![(5, 4.0), (1, 3.0)]);
    }

    #[test]
    fn small_query_sets_still_split() {
        assert_eq!(balanced_block(10, 256), 16);
        assert_eq!(balanced_block(100_000, 256), 256);
        let threads = rayon::current_num_threads();
        // 1,000 queries over the threads: equal blocks, not 1,000 + 0.
        assert_eq!(balanced_block(1_000, 1_024), 1_000usize.div_ceil(threads));
    }
}
