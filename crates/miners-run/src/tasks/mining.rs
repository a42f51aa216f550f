//! BUCC-style bitext mining, one result per pair.

use miners_eval::{Task, mining::run_mining};

use crate::{Context, MiningSpec, RunError, TaskRun, tasks::selected_pairs};

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
