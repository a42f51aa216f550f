//! Merging shard result directories into one, all or nothing.
//!
//! The merge is built in a temporary sibling of the target: the target's
//! current files, then every source's, each record read back and checked
//! (schema, score ranges, one fingerprint per model id, equal metrics where a
//! cell exists twice). Only a merge that passes every check replaces the
//! target, by rename; on any error the target is left as it was.

use std::path::{Path, PathBuf};

use miners_eval::{
    FingerprintLedger, ResultRecord,
    mining::{MINING_DIR, MiningResult},
    packs::{RUN_FILE, read_packs},
};

use crate::{SweepError, marker::JobMarker};

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Files copied into the target.
    pub copied: usize,
    /// Files already present with the same metrics (or job markers).
    pub same: usize,
}

/// Copies the records (and job markers) of `sources` into `into`; a record
/// present in both must have the same metrics. A source may hold packs
/// ([`miners_eval::packs`], the committed records of record): their results
/// are written as the files they stand for, so a sweep resumes from them.
pub fn merge(into: &Path, sources: &[PathBuf]) -> Result<MergeSummary, SweepError> {
    let staging = Staging::next_to(into)?;
    let mut merged = Merged::default();
    if into.is_dir() {
        merged.keep_tree(into, &staging.dir)?;
    }
    let mut summary = MergeSummary::default();
    for source in sources {
        let before = merged.summary;
        merged.add_tree(source, &staging.dir)?;
        summary.copied += merged.summary.copied - before.copied;
        summary.same += merged.summary.same - before.same;
    }
    staging.replace(into)?;
    Ok(summary)
}

/// A temporary directory beside the target, removed unless it replaced it.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn next_to(into: &Path) -> Result<Self, SweepError> {
        let name = into.file_name().unwrap_or_default().to_string_lossy();
        let parent = into.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| SweepError::io(parent, e))?;
        let dir = parent.join(format!(
            ".{name}.merge-{}{}",
            std::process::id(),
            miners_core::TEMPORARY_SUFFIX
        ));
        std::fs::create_dir(&dir).map_err(|e| SweepError::io(&dir, e))?;
        Ok(Self { dir })
    }

    /// Puts the staged tree where `into` was: the old tree is renamed aside
    /// first and removed once the new one is in place.
    fn replace(self, into: &Path) -> Result<(), SweepError> {
        let aside = self.dir.with_extension("old");
        if into.exists() {
            std::fs::rename(into, &aside).map_err(|e| SweepError::io(into, e))?;
        }
        if let Err(e) = std::fs::rename(&self.dir, into) {
            let _ = std::fs::rename(&aside, into);
            return Err(SweepError::io(into, e));
        }
        let _ = std::fs::remove_dir_all(&aside);
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The merged tree so far: fingerprints by model id, and counts.
#[derive(Default)]
struct Merged {
    fingerprints: FingerprintLedger<PathBuf>,
    summary: MergeSummary,
}

impl Merged {
    /// Checks the target's records and links all its files (reports and
    /// anything else included) into `staging`.
    fn keep_tree(&mut self, into: &Path, staging: &Path) -> Result<(), SweepError> {
        let results: std::collections::BTreeSet<PathBuf> =
            result_files(into)?.into_iter().collect();
        for file in miners_core::files_under(into).map_err(|e| SweepError::io(into, e))? {
            let relative = file.strip_prefix(into).expect("walked from into");
            if results.contains(&file) {
                let bytes = std::fs::read(&file).map_err(|e| SweepError::io(&file, e))?;
                self.check(into, &file, &bytes)?;
            }
            let target = staging.join(relative);
            let dir = target.parent().expect("files have a parent");
            std::fs::create_dir_all(dir).map_err(|e| SweepError::io(dir, e))?;
            std::fs::hard_link(&file, &target)
                .or_else(|_| std::fs::copy(&file, &target).map(drop))
                .map_err(|e| SweepError::io(&target, e))?;
        }
        Ok(())
    }

    /// Reads a result file of the result directory `root` back: a job
    /// marker, a mining result or a checked record, each at the path its
    /// content names.
    fn check(&mut self, root: &Path, file: &Path, bytes: &[u8]) -> Result<(), SweepError> {
        if file.extension().is_some_and(|e| e == "done") {
            serde_json::from_slice::<JobMarker>(bytes).map_err(|e| invalid(file, e))?;
            return Ok(());
        }
        if file.starts_with(root.join(MINING_DIR)) {
            let mined: MiningResult =
                serde_json::from_slice(bytes).map_err(|e| invalid(file, e))?;
            mined.check().map_err(|e| invalid(file, e))?;
            return mined.check_path(root, file).map_err(|e| invalid(file, e));
        }
        let record = ResultRecord::parse(bytes).map_err(|e| invalid(file, e))?;
        record
            .check_path(root, file)
            .map_err(|e| invalid(file, e))?;
        self.check_fingerprint(&record, file)
    }

    /// Checks and copies every result of `source` into `staging`: its
    /// files, and the results of its packs as the files they stand for.
    fn add_tree(&mut self, source: &Path, staging: &Path) -> Result<(), SweepError> {
        for file in result_files(source)? {
            let relative = file.strip_prefix(source).expect("walked from source");
            let bytes = std::fs::read(&file).map_err(|e| SweepError::io(&file, e))?;
            self.add_file(source, &file, &bytes, &staging.join(relative))?;
        }
        for packed in read_packs(source)? {
            let file = packed.path(source);
            let relative = file.strip_prefix(source).expect("under source");
            let target = staging.join(relative);
            self.add_file(source, &file, &packed.file_bytes(), &target)?;
        }
        Ok(())
    }

    fn add_file(
        &mut self,
        root: &Path,
        file: &Path,
        bytes: &[u8],
        target: &Path,
    ) -> Result<(), SweepError> {
        self.check(root, file, bytes)?;
        let is_marker = file.extension().is_some_and(|e| e == "done");
        if target.is_file() {
            let existing = std::fs::read(target).map_err(|e| SweepError::io(target, e))?;
            if is_marker || same_metrics(&existing, bytes) {
                self.summary.same += 1;
                return Ok(());
            }
            return Err(SweepError::MergeConflict {
                shard: file.to_owned(),
                target: target.to_owned(),
            });
        }
        let dir = target.parent().expect("files have a parent");
        std::fs::create_dir_all(dir).map_err(|e| SweepError::io(dir, e))?;
        miners_core::atomic_write(target, bytes).map_err(|e| SweepError::io(target, e))?;
        self.summary.copied += 1;
        Ok(())
    }

    /// One fingerprint per task and model id across everything merged.
    fn check_fingerprint(&mut self, record: &ResultRecord, file: &Path) -> Result<(), SweepError> {
        self.fingerprints
            .admit(record, file.to_owned())
            .map_err(|origin| SweepError::Spec {
                origin: file.display().to_string(),
                message: format!(
                    "`{}` was made by another model (fingerprint) than in {}; not merging",
                    record.model.id,
                    origin.display()
                ),
            })
    }
}

fn invalid(file: &Path, error: impl std::fmt::Display) -> SweepError {
    SweepError::Spec {
        origin: file.display().to_string(),
        message: format!("not a valid result file: {error}"),
    }
}

/// Whether two results of one path agree: a record's metrics (its time may
/// differ), or a mining result as a whole.
fn same_metrics(a: &[u8], b: &[u8]) -> bool {
    let parse = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
    let scores = |v: &serde_json::Value| v.get("metrics").cloned().unwrap_or_else(|| v.clone());
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if scores(&a) == scores(&b))
}

/// Every record (`.json`) and job marker (`.done`) under `dir`, recursively,
/// sorted, leaving out the report's own directory, temporary files and the
/// run description beside packs ([`RUN_FILE`]).
pub fn result_files(dir: &Path) -> Result<Vec<PathBuf>, SweepError> {
    let mut found = miners_core::files_under(dir).map_err(|e| SweepError::io(dir, e))?;
    found.retain(|path| {
        let relative = path.strip_prefix(dir).unwrap_or(path);
        is_result_file(path) && !relative.starts_with("report") && relative != Path::new(RUN_FILE)
    });
    Ok(found)
}

/// A record (`.json` outside `.sweep/`) or a job marker (`.done`); shard
/// plans in `.sweep/` belong to the run that made them.
fn is_result_file(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let in_markers = path.parent().is_some_and(|p| p.ends_with(".sweep"));
    let wanted = if in_markers { "done" } else { "json" };
    !name.ends_with(miners_core::TEMPORARY_SUFFIX) && path.extension().is_some_and(|e| e == wanted)
}
