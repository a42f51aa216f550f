//! Walking a directory tree.

use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively, sorted. A directory that cannot be
/// read is an error naming it.
pub fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let named = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{}: {e}", current.display()))
        };
        for entry in std::fs::read_dir(&current).map_err(named)? {
            let path = entry.map_err(named)?.path();
            match path.is_dir() {
                true => pending.push(path),
                false => found.push(path),
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_sorted_from_every_level_and_a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        for file in ["b/c/z.json", "a.json", "b/y.json"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let found: Vec<String> = files_under(dir.path())
            .unwrap()
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(found, ["a.json", "b/c/z.json", "b/y.json"]);
        let missing = dir.path().join("nowhere");
        let error = files_under(&missing).unwrap_err();
        assert!(error.to_string().contains("nowhere"), "{error}");
    }
}
