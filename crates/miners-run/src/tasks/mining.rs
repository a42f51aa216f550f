//! BUCC-style bitext mining, one result per pair.

use miners_core::Metric;
use miners_datasets::Dataset;
use miners_eval::{Task, mining::run_mining};
use miners_index::HubnessChoice;

use crate::{
    CellRef, CellTexts, Context, RetrieverSpec, RunError, TaskRun,
    tasks::{
        PairSelection,
        bitext::{pair_cells, pair_texts},
        selected_pairs,
    },
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

    fn cells(&self, dataset: &Dataset) -> Result<Vec<CellRef>, RunError> {
        pair_cells(dataset, &self.pairs)
    }

    fn cell_texts(
        &self,
        dataset: &Dataset,
        cell: &CellRef,
        limit: Option<usize>,
    ) -> Result<CellTexts, RunError> {
        pair_texts(dataset, cell, limit)
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
            cx.progress.note(&mined.to_string());
        }
        Ok(())
    }
}

/// LASER's ranking for mining unless `retriever` names a hubness correction:
/// the ratio margin, over cosine where the metric is the reference's
/// Euclidean (`miners mine`'s default).
pub fn laser_ranking(retriever: &mut RetrieverSpec) {
    if retriever.hubness.is_none() {
        retriever.hubness = Some(HubnessChoice::MarginRatio);
        if retriever.metric == Metric::Euclidean {
            retriever.metric = Metric::Cosine;
        }
    }
}
