//! Atomic file writes: readers see the old file or the whole new one, never a part.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

/// Suffix of the temporary siblings that [`atomic_write`] renames into place.
pub const TEMPORARY_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `path` atomically: into a fresh temporary sibling, then renamed.
///
/// The file gets the usual permissions (`0666` less the umask), so result
/// directories shared between users keep working. Several processes and
/// threads may write the same path at once; the last rename wins and no
/// temporary name is ever shared. On error the temporary file is removed and
/// `path` is untouched.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write_with(path, |file| file.write_all(bytes))
}

/// Like [`atomic_write`], with `fill` writing the contents.
pub fn atomic_write_with(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let temporary = temporary_sibling(path)?;
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        let mut writer = io::BufWriter::new(file);
        fill(&mut writer)?;
        writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// `<dir>/.<name>.<pid>-<n>.tmp`: unique per process and call.
fn temporary_sibling(path: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an atomic write needs a file name",
        )
    })?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let temporary = format!(
        ".{}.{}-{n}{TEMPORARY_SUFFIX}",
        name.to_string_lossy(),
        std::process::id()
    );
    Ok(path.with_file_name(temporary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("miners-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.json");
        atomic_write(&path, b"first").unwrap();
        atomic_write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let failed = atomic_write_with(&path, |_| Err(io::Error::other("disk full")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let path = Path::new("/nonexistent-miners-dir/x.json");
        assert!(atomic_write(path, b"x").is_err());
    }
}
