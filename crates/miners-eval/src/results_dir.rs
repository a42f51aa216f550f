//! A result directory as a [`RecordSink`]: each cell's records are written
//! atomically as they come, and a resumed run skips cells already there.

use std::{
    cell::{Cell, RefCell},
    path::{Path, PathBuf},
};

use crate::{CellKey, EvalError, RecordSink, ResultRecord, SCHEMA_VERSION, mining::MiningResult};

/// Writes records under `<out>/<task>/…` ([`CellKey::path`]).
#[derive(Debug)]
pub struct ResultsDir {
    out: PathBuf,
    resume: bool,
    skipped: Cell<usize>,
    files: RefCell<Vec<PathBuf>>,
}

impl ResultsDir {
    /// A sink into the result directory `out`; nothing is skipped.
    pub fn new(out: &Path) -> Self {
        Self {
            out: out.to_owned(),
            resume: false,
            skipped: Cell::new(0),
            files: RefCell::new(Vec::new()),
        }
    }

    /// With `resume`, cells whose records all exist and read back (this schema,
    /// the same item limit, the same model fingerprint) are reported done, so
    /// runners skip them; anything else is redone.
    pub fn resuming(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Fails now, before any work, if records cannot be written under the
    /// directory (which is made if absent).
    pub fn check_writable(&self) -> Result<(), EvalError> {
        // One probe per process: shards start side by side on one directory.
        let probe = self
            .out
            .join(format!(".miners-write-probe.{}", std::process::id()));
        std::fs::create_dir_all(&self.out)
            .and_then(|()| miners_core::atomic_write(&probe, b""))
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|source| EvalError::Io {
                path: self.out.clone(),
                source,
            })
    }

    /// The result directory.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Cells skipped because their records existed.
    pub fn skipped(&self) -> usize {
        self.skipped.get()
    }

    /// Every record file this sink wrote or found done, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.borrow().clone()
    }
}

impl RecordSink for ResultsDir {
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError> {
        for record in records {
            let path = record.write(&self.out)?;
            self.files.borrow_mut().push(path);
        }
        Ok(())
    }

    /// Writes a mining result under the result directory ([`MiningResult::path`]).
    fn accept_mining(&mut self, result: &MiningResult) -> Result<(), EvalError> {
        let path = result.write(&self.out)?;
        self.files.borrow_mut().push(path);
        Ok(())
    }

    fn is_done(
        &self,
        cell: &CellKey,
        ks: &[usize],
        limit: Option<usize>,
        fingerprint: Option<&str>,
    ) -> bool {
        let same_run = |path: &Path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            serde_json::from_str::<ResultRecord>(&text).is_ok_and(|r| {
                r.schema == SCHEMA_VERSION
                    && r.limit == limit
                    && r.model.fingerprint.as_deref() == fingerprint
            })
        };
        let paths: Vec<PathBuf> = ks.iter().map(|&k| cell.path(&self.out, k)).collect();
        let done = self.resume && paths.iter().all(|p| same_run(p));
        if done {
            self.skipped.set(self.skipped.get() + 1);
            self.files.borrow_mut().extend(paths);
        }
        done
    }
}
