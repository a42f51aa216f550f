//! What the binary's run-on-real-data tests share: where the workspace and
//! the shared data are, and the files a run left. (Each test binary uses part
//! of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/data/miners` when it and the static model are there; CI must
/// have both, elsewhere the caller skips its test.
pub fn data_dir() -> Option<PathBuf> {
    let data = workspace().join("../shared/data/miners");
    let model = workspace().join("models/static-tokenlearn");
    if !data.is_dir() || !model.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI has the data and models"
        );
        eprintln!("skipping: data or model absent");
        return None;
    }
    Some(data)
}

/// Every file under `root`, recursively, sorted (none when it is absent).
pub fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
