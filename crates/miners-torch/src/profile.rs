//! Where encoding time goes, stage by stage, for the stage profile bench
//! (`benches/encode_stages.py`). Off unless switched on; then each stage
//! costs two clock reads. On the CPU only: CUDA kernels run asynchronously,
//! so a stage's clock would stop before its work does.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Instant,
};

/// A stage of encoding (in [`Stage::ALL`]'s order, which indexes its clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Texts into token ids.
    Tokenize,
    /// Sorting by length, packing batches and building their tensors.
    Batch,
    /// Token, position and type embeddings, and their LayerNorm.
    Embed,
    /// Self-attention: projections, attention, output projection and norm.
    Attention,
    /// The feed-forward block: both projections, activation and norm.
    FeedForward,
    /// Pooling, Dense layers, normalisation and the copy out.
    Pool,
}

impl Stage {
    /// Every stage, in the order encoding runs them.
    pub const ALL: [Stage; 6] = [
        Stage::Tokenize,
        Stage::Batch,
        Stage::Embed,
        Stage::Attention,
        Stage::FeedForward,
        Stage::Pool,
    ];

    /// The stage's name in the bench's tables.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Tokenize => "tokenize",
            Stage::Batch => "batch",
            Stage::Embed => "embed",
            Stage::Attention => "attention",
            Stage::FeedForward => "ffn",
            Stage::Pool => "pool",
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; Stage::ALL.len()] = [const { AtomicU64::new(0) }; Stage::ALL.len()];

/// Starts (or stops) timing stages, from zero.
pub fn enable(on: bool) {
    take();
    ENABLED.store(on, Ordering::Relaxed);
}

/// Seconds spent in each stage since timing started or was last taken,
/// in [`Stage::ALL`]'s order; the clocks restart from zero.
pub fn take() -> Vec<(Stage, f64)> {
    Stage::ALL
        .iter()
        .zip(&NANOS)
        .map(|(&stage, nanos)| (stage, nanos.swap(0, Ordering::Relaxed) as f64 * 1e-9))
        .collect()
}

/// Runs `work`, its time counted to `stage` when timing is on.
pub(crate) fn time<T>(stage: Stage, work: impl FnOnce() -> T) -> T {
    if !ENABLED.load(Ordering::Relaxed) {
        return work();
    }
    let start = Instant::now();
    let result = work();
    NANOS[stage as usize].fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    result
}
