//! Writing records as they come, and the stdout summary: one row per cell
//! and k, then the average per k.

use std::path::Path;

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
        write!(
            std::io::stdout().lock(),
            "{}",
            miners_report::summary_table(&self.records)
        )
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
