//! Picking the label from its scores, with the reference's tie rule.

use sha2::{Digest, Sha256};

/// The index of the best score, as the reference's `argmax(normalize(scores))`.
///
/// Scores are normalized with a softmax in `f64`; among the indices that
/// share the maximum, the reference takes the one at position
/// `sha256(normalized scores as little-endian f64 bytes) mod count`. The
/// rule is deterministic and only matters for exact ties.
pub fn decide(scores: &[f64]) -> usize {
    let normalized = softmax(scores);
    let max = normalized.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let best: Vec<usize> = (0..normalized.len())
        .filter(|&i| normalized[i] == max)
        .collect();
    match best.len() {
        0 => 0,
        1 => best[0],
        n => {
            let bytes: Vec<u8> = normalized.iter().flat_map(|v| v.to_le_bytes()).collect();
            best[digest_mod(&Sha256::digest(&bytes), n)]
        }
    }
}

/// `exp(x - logsumexp(x))`, in the reference's order of operations.
fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + scores.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
    scores.iter().map(|x| (x - lse).exp()).collect()
}

/// A big-endian 256-bit number modulo `n`.
fn digest_mod(digest: &[u8], n: usize) -> usize {
    digest
        .iter()
        .fold(0u128, |acc, &b| (acc * 256 + b as u128) % n as u128) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_unique_maximum() {
        assert_eq!(decide(&[-3.0, -1.0, -2.0]), 1);
    }

    #[test]
    fn ties_follow_the_reference_sha256_rule() {
        // Expected indices computed with the reference's numpy `argmax(normalize(x))`.
        assert_eq!(decide(&[-1.0, -1.0, -5.0]), 1);
        assert_eq!(decide(&[-0.25, -3.0, -0.25, -0.25]), 0);
    }

    #[test]
    fn digest_mod_matches_big_integer_arithmetic() {
        // 0x0102 = 258; 258 mod 7 = 6.
        assert_eq!(digest_mod(&[1, 2], 7), 6);
    }
}
