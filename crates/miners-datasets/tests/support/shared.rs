//! The shared directory beside the checkout (`../shared`): data and the
//! original files it was converted from. (The `miners` CLI tests include this
//! file too.)

use std::path::PathBuf;

/// `../shared/<dir>` when it is there; CI must have it, elsewhere the caller
/// skips its test.
pub fn shared(dir: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(dir);
    if path.is_dir() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have ../shared/{dir}"
    );
    eprintln!("skipping: ../shared/{dir} absent");
    None
}
