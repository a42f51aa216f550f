//! Job markers: `<out>/.sweep/<job>.done`, written when a job finishes.
//!
//! A marker lists the job, the retriever's fingerprint and every record file
//! with its size. A rerun skips the job only if all of that still holds, which
//! costs one `stat` per record; otherwise the job runs again and its cells are
//! checked one by one (a cell is redone unless its records read back).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Job, SweepError};

/// What a finished job left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobMarker {
    /// The job, as planned.
    job: Job,
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
    /// Where the marker of `job` lives under the result directory `out`.
    pub(crate) fn path(out: &Path, job: &Job) -> PathBuf {
        out.join(".sweep").join(format!("{}.done", job.name()))
    }

    /// Whether `job` run with `fingerprint` finished and its records are all
    /// still there at the sizes they were written with.
    pub(crate) fn is_current(out: &Path, job: &Job, fingerprint: Option<&str>) -> bool {
        let Ok(text) = std::fs::read_to_string(Self::path(out, job)) else {
            return false;
        };
        let Ok(marker) = serde_json::from_str::<JobMarker>(&text) else {
            return false;
        };
        marker.job == *job
            && marker.fingerprint.as_deref() == fingerprint
            && marker.records.iter().all(|record| {
                std::fs::metadata(out.join(&record.path)).is_ok_and(|m| m.len() == record.bytes)
            })
    }

    /// Records that `job` finished with `files` (paths under `out`).
    pub(crate) fn write(
        out: &Path,
        job: &Job,
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
            fingerprint,
            records,
        };
        let path = Self::path(out, job);
        let text = serde_json::to_string_pretty(&marker).expect("markers serialize");
        miners_core::atomic_write(&path, text.as_bytes())
            .map_err(|source| SweepError::io(&path, source))
    }
}
