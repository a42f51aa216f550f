//! The terminal summary of a run.

use std::fmt::Write;

use miners_eval::{CellKey, EvalError, RecordSink, ResultRecord, mining::MiningResult};

/// The records of one run as a fixed-width table for a terminal: a row per
/// cell and k, then the average of each k.
pub fn summary_table(records: &[ResultRecord]) -> String {
    let Some(first) = records.first() else {
        return String::new();
    };
    let mut out = String::new();
    let substitute = first
        .substitute_for
        .as_ref()
        .map(|s| format!(" (substitute for {s})"))
        .unwrap_or_default();
    let generator = first
        .generator
        .as_ref()
        .map(|g| format!(" · generator {}", g.id))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n{} {}{substitute} · {} · {} · {}{generator}",
        first.task.name(),
        first.dataset,
        first.setting.name(),
        first.model.id,
        first.metric
    );
    let _ = writeln!(
        out,
        "{:<24} {:>6} {:>3} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "cell", "n", "k", "acc", "prec", "rec", "f1", "R@k"
    );
    for r in records {
        let m = &r.metrics;
        let recall_at_k = m
            .recall_at_k
            .map_or("-".to_owned(), |v| format!("{:.4}", v));
        let _ = writeln!(
            out,
            "{:<24} {:>6} {:>3} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8}",
            r.cell(),
            r.n,
            r.k,
            m.accuracy,
            m.precision,
            m.recall,
            m.f1,
            recall_at_k
        );
    }
    let mut ks: Vec<usize> = records.iter().map(|r| r.k).collect();
    ks.sort_unstable();
    ks.dedup();
    for k in ks {
        let cells: Vec<_> = records.iter().filter(|r| r.k == k).collect();
        let mean = |f: fn(&ResultRecord) -> f64| {
            cells.iter().map(|r| f(r)).sum::<f64>() / cells.len() as f64
        };
        let _ = writeln!(
            out,
            "{:<24} {:>6} {:>3} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
            format!("average ({} cells)", cells.len()),
            "",
            k,
            mean(|r| r.metrics.accuracy),
            mean(|r| r.metrics.precision),
            mean(|r| r.metrics.recall),
            mean(|r| r.metrics.f1)
        );
    }
    out
}

/// A record sink that hands everything on to `inner` and keeps the records
/// for the run's [`summary_table`].
#[derive(Debug)]
pub struct Summarised<S> {
    inner: S,
    records: Vec<ResultRecord>,
}

impl<S: RecordSink> Summarised<S> {
    /// Records go on to `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            records: Vec::new(),
        }
    }

    /// The summary table of every record handed on so far.
    pub fn table(&self) -> String {
        summary_table(&self.records)
    }
}

impl<S: RecordSink> RecordSink for Summarised<S> {
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError> {
        self.inner.accept(records)?;
        self.records.extend_from_slice(records);
        Ok(())
    }

    fn accept_mining(&mut self, result: &MiningResult) -> Result<(), EvalError> {
        self.inner.accept_mining(result)
    }

    fn is_done(
        &self,
        cell: &CellKey,
        ks: &[usize],
        limit: Option<usize>,
        fingerprint: Option<&str>,
    ) -> bool {
        self.inner.is_done(cell, ks, limit, fingerprint)
    }
}
