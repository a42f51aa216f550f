//! A result directory as a [`RecordSink`]: each cell's records are written
//! atomically as they come, and a resumed run skips cells already there.

use std::{
    cell::Cell,
    path::{Path, PathBuf},
};

use crate::{CellKey, EvalError, RecordSink, ResultRecord};

/// Writes records under `<out>/<task>/…` ([`CellKey::path`]).
#[derive(Debug)]
pub struct ResultsDir {
    out: PathBuf,
    resume: bool,
    skipped: Cell<usize>,
}

impl ResultsDir {
    /// A sink into the result directory `out`; nothing is skipped.
    pub fn new(out: &Path) -> Self {
        Self {
            out: out.to_owned(),
            resume: false,
            skipped: Cell::new(0),
        }
    }

    /// With `resume`, cells whose records all exist (made with the same item
    /// limit) are reported done, so runners skip them.
    pub fn resuming(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The result directory.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Cells skipped because their records existed.
    pub fn skipped(&self) -> usize {
        self.skipped.get()
    }
}

impl RecordSink for ResultsDir {
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError> {
        for record in records {
            record.write(&self.out)?;
        }
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
