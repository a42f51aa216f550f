//! What the tests on the real static model share.

use std::path::PathBuf;

/// The fetched static model's directory, or `None` (the test skips) where it
/// has not been fetched; CI always fetches it.
pub fn static_model_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/static-tokenlearn");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must fetch models first"
        );
        eprintln!("skipping: the static model is not fetched");
        return None;
    }
    Some(dir)
}
