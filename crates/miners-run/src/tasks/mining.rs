//! BUCC-style bitext mining, one result per pair.

use miners_eval::{Task, mining::run_mining};

use crate::{
    Context, RunError, TaskRun,
    tasks::{PairSelection, selected_pairs},
};

/// BUCC-style mining: both sides of each pair as shuffled pools, mutual best
/// pairs, the F1-best threshold tuned on one half of the sources and scored
/// on the other.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct MiningSpec {
    /// The pairs.
    #[cfg_attr(feature = "clap", command(flatten))]
    pub pairs: PairSelection,
    /// Seed of the shuffles and of the split into halves.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 0))]
    pub seed: u64,
}

impl TaskRun for MiningSpec {
    fn task(&self) -> Task {
        Task::Mining
    }

    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError> {
        for pair in selected_pairs(cx.dataset, &self.pairs)? {
            let mined = run_mining(
                cx.dataset,
                cx.retriever,
                &pair,
                self.seed,
                cx.options.limit,
                cx.progress,
            )?;
            cx.sink.accept_mining(&mined)?;
        }
        Ok(())
    }
}
