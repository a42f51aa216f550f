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

/// Whether `path`, a `/`-separated name from a server or a file (a Hub
/// listing entry), stays inside the folder it is joined to: not empty, not
/// absolute, no `.`, `..` or empty segment, no backslash or NUL.
///
/// ```
/// assert!(miners_core::is_inside_path("default/test/0000.parquet"));
/// assert!(!miners_core::is_inside_path("default/test/../../x.parquet"));
/// assert!(!miners_core::is_inside_path("/etc/passwd"));
/// ```
pub fn is_inside_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\\', '\0'])
        && path.split('/').all(|s| !matches!(s, "" | "." | ".."))
}
