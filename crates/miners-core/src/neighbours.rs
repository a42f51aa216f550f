/// One retrieved candidate: its row in the candidate pool and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Row of the candidate in the pool it was retrieved from.
    pub index: usize,
    /// Similarity or distance, in the units of the metric that produced it.
    pub score: f32,
}

/// The `k` best candidates of each query, best first; ties go to the lower index.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    k: usize,
    indices: Vec<u32>,
    scores: Vec<f32>,
    higher_is_better: bool,
}

impl Neighbours {
    /// Builds lists from flat buffers of `k` entries per query.
    ///
    /// # Panics
    /// If the buffers differ in length or are not a multiple of `k`.
    pub fn from_flat(
        k: usize,
        indices: Vec<u32>,
        scores: Vec<f32>,
        higher_is_better: bool,
    ) -> Self {
        assert_eq!(indices.len(), scores.len(), "one score per index");
        assert!(
            k > 0 && indices.len().is_multiple_of(k),
            "k entries per query"
        );
        Self {
            k,
            indices,
            scores,
            higher_is_better,
        }
    }

    /// Neighbours kept per query.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.indices.len() / self.k
    }

    /// Whether there are no queries.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Whether scores are similarities (true) or distances (false).
    pub fn higher_is_better(&self) -> bool {
        self.higher_is_better
    }

    /// Candidate rows of one query, best first.
    pub fn indices(&self, query: usize) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.indices[query * self.k..(query + 1) * self.k]
            .iter()
            .map(|&i| i as usize)
    }

    /// Candidates of one query with their scores, best first.
    pub fn get(&self, query: usize) -> impl ExactSizeIterator<Item = Neighbour> + '_ {
        let range = query * self.k..(query + 1) * self.k;
        self.indices[range.clone()]
            .iter()
            .zip(&self.scores[range])
            .map(|(&index, &score)| Neighbour {
                index: index as usize,
                score,
            })
    }

    /// The same lists cut to the first `k` entries per query.
    ///
    /// # Panics
    /// If `k` is zero or larger than the current `k`.
    pub fn truncate(&self, k: usize) -> Self {
        assert!(k > 0 && k <= self.k, "truncate to 1..={}", self.k);
        Self {
            k,
            indices: first_k_per_chunk(&self.indices, self.k, k),
            scores: first_k_per_chunk(&self.scores, self.k, k),
            higher_is_better: self.higher_is_better,
        }
    }
}

/// The first `k` items of every chunk of `width` items.
fn first_k_per_chunk<T: Copy>(values: &[T], width: usize, k: usize) -> Vec<T> {
    values
        .chunks(width)
        .flat_map(|c| &c[..k])
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_the_best() {
        let n = Neighbours::from_flat(
            3,
            vec![4, 2, 9, 1, 0, 3],
            vec![0.1, 0.2, 0.3, 0.0, 0.5, 0.6],
            false,
        );
        let t = n.truncate(1);
        assert_eq!(t.len(), 2);
        assert_eq!(t.indices(1).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            n.get(0).nth(2).unwrap(),
            Neighbour {
                index: 9,
                score: 0.3
            }
        );
    }
}
