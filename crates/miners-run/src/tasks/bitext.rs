//! Bitext retrieval, and the pair selection it shares with mining.

use miners_datasets::{Dataset, Pair};
use miners_eval::{RunOptions, Task, run_bitext};

use crate::{CellRef, CellTexts, Context, RunError, TaskRun};

/// Which language pairs of a bitext dataset run.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct PairSelection {
    /// Only pairs whose source language is this.
    #[cfg_attr(feature = "clap", arg(long = "src-lang"))]
    pub source: Option<String>,
    /// Only these pairs, as `SOURCE-TARGET` (repeatable; default all).
    #[cfg_attr(feature = "clap", arg(long = "pair"))]
    pub listed: Vec<String>,
}

/// Bitext retrieval: each source sentence retrieves its translation.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct BitextSpec {
    /// The pairs.
    #[cfg_attr(feature = "clap", command(flatten))]
    pub pairs: PairSelection,
    /// Also score each pair the other way round (targets retrieve sources;
    /// records marked `reversed`), as LASER's xsim does.
    #[cfg_attr(feature = "clap", arg(long))]
    pub both_directions: bool,
}

impl TaskRun for BitextSpec {
    fn task(&self) -> Task {
        Task::Bitext
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
        let pairs = selected_pairs(cx.dataset, &self.pairs)?;
        let options = RunOptions {
            both_directions: self.both_directions,
            ..cx.options.clone()
        };
        run_bitext(
            cx.dataset,
            cx.retriever,
            &pairs,
            &options,
            cx.progress,
            cx.sink,
        )?;
        Ok(())
    }
}

/// The pairs of `dataset` a selection asks for (all when it names none); an
/// unknown pair is an error listing the dataset's pairs.
pub fn selected_pairs(dataset: &Dataset, selection: &PairSelection) -> Result<Vec<Pair>, RunError> {
    let available = dataset.bitext_pairs()?;
    let source = selection.source.as_deref();
    let listed = &selection.listed;
    let pairs: Vec<Pair> = available
        .iter()
        .filter(|p| source.is_none_or(|s| p.source.as_str() == s))
        .filter(|p| listed.is_empty() || listed.contains(&p.to_string()))
        .cloned()
        .collect();
    let unknown: Vec<&str> = listed
        .iter()
        .filter(|w| !available.iter().any(|p| &p.to_string() == *w))
        .map(String::as_str)
        .collect();
    if !pairs.is_empty() && unknown.is_empty() {
        return Ok(pairs);
    }
    let asked = match (source, unknown.is_empty()) {
        (Some(s), true) => format!("source language {s}"),
        _ => format!("pair {}", unknown.join(", ")),
    };
    let names: Vec<String> = available.iter().map(Pair::to_string).collect();
    Err(RunError::Config(format!(
        "{asked}: {} has no such pair; its pairs are {}",
        dataset.spec().name,
        names.join(", ")
    )))
}

/// The cells of a selection of pairs: one per pair.
pub(crate) fn pair_cells(
    dataset: &Dataset,
    selection: &PairSelection,
) -> Result<Vec<CellRef>, RunError> {
    Ok(selected_pairs(dataset, selection)?
        .into_iter()
        .map(|pair| CellRef::Pair {
            source: pair.source.to_string(),
            target: pair.target.to_string(),
        })
        .collect())
}

/// A pair cell's texts: its first `limit` sources and targets.
pub(crate) fn pair_texts(
    dataset: &Dataset,
    cell: &CellRef,
    limit: Option<usize>,
) -> Result<CellTexts, RunError> {
    let pair = cell
        .pair()
        .ok_or_else(|| RunError::Config(format!("cell {cell}: not a language pair")))?;
    let bitext = dataset.load_bitext(&pair, limit)?;
    Ok((bitext.source, bitext.target))
}
