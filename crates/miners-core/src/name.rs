//! Names that become file and folder names as they are.

/// Whether `name` can be one file or folder name as it is, on every system:
/// not empty, not starting with `.` (so neither `.` nor `..`), at most 200
/// bytes, and only ASCII letters, digits, `-`, `_`, `.` and `+`. Dataset
/// names and language codes from records must be such names before a report
/// builds a path from them.
///
/// ```
/// assert!(miners_core::is_plain_name("nusax"));
/// assert!(miners_core::is_plain_name("zho_Hans"));
/// assert!(!miners_core::is_plain_name("../../tmp/x"));
/// assert!(!miners_core::is_plain_name(".."));
/// assert!(!miners_core::is_plain_name(""));
/// ```
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}
