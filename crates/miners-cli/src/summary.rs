//! Writing records as they come, and the stdout summary: one row per cell
//! and k, then the average per k.

use std::{
    fmt::Write,
    path::{Path, PathBuf},
};

use miners_eval::{CellKey, EvalError, RecordSink, ResultRecord};

/// Writes each cell's records atomically under `out` and keeps them for the summary.
pub struct Writer {
    out: PathBuf,
    records: Vec<ResultRecord>,
    resume: bool,
    skipped: std::cell::Cell<usize>,
}

impl Writer {
    /// A writer into the result directory `out`.
    pub fn new(out: &Path) -> Self {
        Self {
            out: out.to_owned(),
            records: Vec::new(),
            resume: false,
            skipped: std::cell::Cell::new(0),
        }
    }

    /// Cells whose records all exist are reported done, so runners skip them.
    pub fn resuming(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Cells skipped because their records existed.
    pub fn skipped(&self) -> usize {
        self.skipped.get()
    }

    /// Prints the summary table of everything written.
    pub fn finish(self) {
        print!("{}", table(&self.records));
    }
}

impl RecordSink for Writer {
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError> {
        for record in records {
            record.write(&self.out)?;
        }
        self.records.extend_from_slice(records);
        Ok(())
    }

    fn is_done(&self, cell: &CellKey, ks: &[usize], limit: Option<usize>) -> bool {
        let same_run = |k: usize| {
            let text = std::fs::read_to_string(cell.path(&self.out, k)).unwrap_or_default();
            serde_json::from_str::<ResultRecord>(&text).is_ok_and(|r| r.limit == limit)
        };
        let done = self.resume && ks.iter().all(|&k| same_run(k));
        self.skipped.set(self.skipped.get() + usize::from(done));
        done
    }
}

/// Renders records of one dataset as a fixed-width table.
pub fn table(records: &[ResultRecord]) -> String {
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
        task_name(first),
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

fn task_name(record: &ResultRecord) -> &'static str {
    match record.task {
        miners_eval::Task::Bitext => "bitext",
        miners_eval::Task::Classification => "classification",
        miners_eval::Task::Icl => "icl",
    }
}
