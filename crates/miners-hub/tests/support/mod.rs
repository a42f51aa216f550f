//! Test support shared by this crate's integration tests.

pub mod hub_server;

/// Every file under `dir` (links followed), as sorted `/`-separated relative paths.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    hub_server::FixtureRepo::model_from_dir("files/under", dir)
        .files
        .into_keys()
        .collect()
}
