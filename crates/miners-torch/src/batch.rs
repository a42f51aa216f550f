//! Batching: the token-budget batcher shared by the encoder and the
//! generator, and the decoder's batch of ids, positions and attention masks.

use std::ops::Range;

use tch::{Device, TchError, Tensor};

/// Splits items sorted longest first (`lengths`, in that order) into
/// consecutive batches whose padded size `items × longest` stays within
/// `budget` tokens; a batch has at least one and at most `max_items` items.
pub(crate) fn token_batches(
    lengths: &[usize],
    budget: usize,
    max_items: usize,
) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < lengths.len() {
        let longest = lengths[start].max(1);
        let size = (budget / longest)
            .clamp(1, max_items.max(1))
            .min(lengths.len() - start);
        batches.push(start..start + size);
        start += size;
    }
    batches
}

/// Token ids right-padded with `pad` to the longest row, and the 0/1 mask
/// (1 = token), both `[rows, longest]` on `device`.
pub(crate) fn padded_ids(
    rows: &[&[u32]],
    pad: i64,
    device: Device,
) -> Result<(Tensor, Tensor), TchError> {
    let length = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut ids = vec![pad; rows.len() * length];
    let mut mask = vec![0i64; rows.len() * length];
    for (row, tokens) in rows.iter().enumerate() {
        for (col, &id) in tokens.iter().enumerate() {
            ids[row * length + col] = i64::from(id);
            mask[row * length + col] = 1;
        }
    }
    let shape = [rows.len() as i64, length as i64];
    let ids = Tensor::from_slice(&ids)
        .f_view(shape)?
        .f_to_device(device)?;
    let mask = Tensor::from_slice(&mask)
        .f_view(shape)?
        .f_to_device(device)?;
    Ok((ids, mask))
}

/// Token ids, their positions and which keys each query may attend.
pub(crate) struct Batch {
    /// `[batch, length]` token ids.
    pub ids: Tensor,
    /// `[batch, length]` positions (rotary angles, ALiBi key offsets).
    pub positions: Tensor,
    /// `[batch, 1, length, length]` booleans: query row may attend key column.
    pub attend: Tensor,
    /// Like `attend`, restricted to sliding windows (only for models with sliding layers).
    pub attend_local: Option<Tensor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_padded_tokens_within_the_budget() {
        let lengths = [10, 8, 5, 5, 3, 1];
        assert_eq!(token_batches(&lengths, 20, 64), vec![0..2, 2..6]);
        // A single item longer than the budget still runs, alone.
        assert_eq!(token_batches(&[50, 2], 20, 64), vec![0..1, 1..2]);
        assert_eq!(token_batches(&[1; 5], 100, 2), vec![0..2, 2..4, 4..5]);
        assert!(token_batches(&[], 10, 4).is_empty());
    }
}
