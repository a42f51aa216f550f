//! Test support shared by this crate's integration tests.

pub mod hub_server;

/// Every file under `dir` (links followed), as sorted `/`-separated relative paths.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push(name);
            }
        }
    }
    files.sort();
    files
}
