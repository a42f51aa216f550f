//! Short, stable names for plans and parts of jobs.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The first `bytes` bytes, in hex, of SHA-256 over `value` as JSON: a short,
/// stable name for a plan or a part of a job.
pub(crate) fn short_digest(value: &impl Serialize, bytes: usize) -> String {
    let text = serde_json::to_string(value).expect("plan values serialize");
    let digest = Sha256::digest(text.as_bytes());
    miners_core::hex(&digest[..bytes])
}
