//! Writing records as they come, and the stdout summary: one row per cell
//! and k, then the average per k.

use std::{fmt::Write, path::Path};

use miners_eval::{EvalError, RecordSink, ResultRecord, ResultsDir, mining::MiningResult};

/// Writes each cell's records into a [`ResultsDir`] and keeps them for the summary.
pub struct Writer {
    dir: ResultsDir,
    records: Vec<ResultRecord>,
}

impl Writer {
    /// A writer into the result directory `out`.
    pub fn new(out: &Path) -> Self {
        Self {
            dir: ResultsDir::new(out),
            records: Vec::new(),
        }
    }

    /// Prints the summary table of everything written.
    pub fn finish(self) -> std::io::Result<()> {
        use std::io::Write as _;
        write!(std::io::stdout().lock(), "{}", table(&self.records))
    }
}

impl RecordSink for Writer {
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError> {
        self.dir.accept(records)?;
        self.records.extend_from_slice(records);
        Ok(())
    }

    /// Writes the result and prints its line.
    fn accept_mining(&mut self, mined: &MiningResult) -> Result<(), EvalError> {
        self.dir.accept_mining(mined)?;
        use std::io::Write as _;
        writeln!(
            std::io::stdout().lock(),
            "{} {} {}: {} sentences, {} mutual, threshold {:.4}, test P {:.2} R {:.2} F1 {:.2}",
            mined.dataset,
            mined.pair,
            mined.model,
            mined.sentences,
            mined.mutual,
            mined.threshold,
            100.0 * mined.test.precision,
            100.0 * mined.test.recall,
            100.0 * mined.test.f1
        )
        .map_err(|source| EvalError::Io {
            path: "standard output".into(),
            source,
        })
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
