//! Merging shard result directories into one.

use std::path::{Path, PathBuf};

use crate::SweepError;

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Files copied into the target.
    pub copied: usize,
    /// Files already present with the same metrics (or job markers).
    pub same: usize,
}

/// Copies the records (and job markers) of `sources` into `into`; a record
/// present in both must have the same metrics.
pub fn merge(into: &Path, sources: &[PathBuf]) -> Result<MergeSummary, SweepError> {
    let mut summary = MergeSummary::default();
    for source in sources {
        for file in result_files(source)? {
            let relative = file.strip_prefix(source).expect("walked from source");
            let target = into.join(relative);
            let bytes = read(&file)?;
            if target.is_file() {
                let existing = read(&target)?;
                if relative.starts_with(".sweep") || same_metrics(&existing, &bytes) {
                    summary.same += 1;
                    continue;
                }
                return Err(SweepError::MergeConflict {
                    shard: file,
                    target,
                });
            }
            let dir = target.parent().expect("files have a parent");
            std::fs::create_dir_all(dir).map_err(|e| SweepError::io(dir, e))?;
            miners_core::atomic_write(&target, &bytes).map_err(|e| SweepError::io(&target, e))?;
            summary.copied += 1;
        }
    }
    Ok(summary)
}

fn read(path: &Path) -> Result<Vec<u8>, SweepError> {
    std::fs::read(path).map_err(|e| SweepError::io(path, e))
}

fn same_metrics(a: &[u8], b: &[u8]) -> bool {
    let parse = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a["metrics"] == b["metrics"])
}

/// Every record (`.json`) and job marker (`.done`) under `dir`, recursively, sorted.
pub fn result_files(dir: &Path) -> Result<Vec<PathBuf>, SweepError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| SweepError::io(&dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| SweepError::io(&dir, e))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json" || e == "done") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
