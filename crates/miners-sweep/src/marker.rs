//! Job markers: `<out>/.sweep/<job>.done` when a job finishes, or
//! `<job>.<cells>.done` when a shard finishes its cells of the job.
//!
//! A marker lists the job, its cells (when not all), the retriever's
//! fingerprint and every record file with its size. A rerun skips the job
//! only if all of that still holds, which costs one `stat` per record;
//! otherwise the job runs again and its cells are checked one by one (a cell
//! is redone unless its records read back).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{CellRef, Job, SweepError, digest::short_digest};

/// What a finished job (or a shard's part of it) left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobMarker {
    /// The job, as planned.
    job: Job,
    /// The cells run, when not the whole job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cells: Option<Vec<CellRef>>,
    /// The retriever's fingerprint when the job ran.
    fingerprint: Option<String>,
    /// Record files, relative to the result directory.
    records: Vec<RecordFile>,
}

/// One record file and its size in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordFile {
    path: PathBuf,
    bytes: u64,
}

impl JobMarker {
    /// Where the marker of `job` (of `cells` of it, when given) lives under
    /// the result directory `out`.
    pub(crate) fn path(out: &Path, job: &Job, cells: Option<&[CellRef]>) -> PathBuf {
        let name = match cells {
            None => format!("{}.done", job.name()),
            Some(cells) => format!("{}.{}.done", job.name(), short_digest(&cells, 6)),
        };
        out.join(".sweep").join(name)
    }

    /// Whether the marker at `path` says `job` (`cells` of it) run with
    /// `fingerprint` finished, and its records are all still there at the
    /// sizes they were written with.
    pub(crate) fn is_current(
        path: &Path,
        job: &Job,
        cells: Option<&[CellRef]>,
        fingerprint: Option<&str>,
    ) -> bool {
        let Ok(text) = std::fs::read_to_string(path) else {
            return false;
        };
        let Ok(marker) = serde_json::from_str::<JobMarker>(&text) else {
            return false;
        };
        let out = path
            .parent()
            .and_then(Path::parent)
            .expect("markers live in <out>/.sweep");
        marker.job == *job
            && marker.cells.as_deref() == cells
            && marker.fingerprint.as_deref() == fingerprint
            && marker.records.iter().all(|record| {
                std::fs::metadata(out.join(&record.path)).is_ok_and(|m| m.len() == record.bytes)
            })
    }

    /// Writes the marker at `path`: `job` (`cells` of it) finished with
    /// `files` (paths under `out`).
    pub(crate) fn write(
        path: &Path,
        out: &Path,
        job: &Job,
        cells: Option<&[CellRef]>,
        fingerprint: Option<String>,
        files: &[PathBuf],
    ) -> Result<(), SweepError> {
        let records = files
            .iter()
            .map(|file| {
                let bytes = std::fs::metadata(file)
                    .map_err(|source| SweepError::io(file, source))?
                    .len();
                let path = file.strip_prefix(out).unwrap_or(file).to_owned();
                Ok(RecordFile { path, bytes })
            })
            .collect::<Result<Vec<_>, SweepError>>()?;
        let marker = JobMarker {
            job: job.clone(),
            cells: cells.map(<[CellRef]>::to_vec),
            fingerprint,
            records,
        };
        let text = serde_json::to_string_pretty(&marker).expect("markers serialize");
        miners_core::atomic_write(path, text.as_bytes())
            .map_err(|source| SweepError::io(path, source))
    }
}
