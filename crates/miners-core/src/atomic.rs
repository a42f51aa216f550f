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

/// Creates `path` holding `bytes`, atomically and only if it does not exist
/// yet: written to a temporary sibling (`0666` less the umask, as
/// [`atomic_write`]), then hard-linked into place, which fails if another
/// writer got there first. Returns whether this call created it; an existing
/// file is left untouched.
pub fn atomic_create(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let temporary = temporary_sibling(path)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        match std::fs::hard_link(&temporary, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&temporary);
    result
}

/// `<dir>/.<name>.<host>-<pid>-<n>.tmp`: unique per machine, process and call.
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
        ".{}.{}-{}-{n}{TEMPORARY_SUFFIX}",
        name.to_string_lossy(),
        host(),
        std::process::id()
    );
    Ok(path.with_file_name(temporary))
}

/// This machine's name, file-name-safe (`.` and `/` become `_`).
fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        name.trim().replace(['.', '/'], "_")
    })
}

/// Temporaries of writers that died are left by a crash (`kill -9`, power
/// loss); this removes those under `dir`, recursively, and returns how many.
///
/// A temporary is stale when its writer ran on this machine and is no longer
/// running, or when it is older than a day (a writer on another machine
/// sharing the directory). Live writers' temporaries are left alone.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if is_stale(&path, &entry.metadata()?) {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(removed)
}

fn is_stale(path: &Path, metadata: &std::fs::Metadata) -> bool {
    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let Some(tag) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(TEMPORARY_SUFFIX))
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, tag)| tag)
    else {
        return false;
    };
    let mut parts = tag.rsplitn(3, '-');
    let (Some(n), Some(pid), Some(writer_host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(_), Ok(pid)) = (n.parse::<u64>(), pid.parse::<u32>()) else {
        return false;
    };
    let old = metadata
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age > DAY);
    old || (writer_host == host() && !is_running(pid))
}

/// Whether a process with this id runs on this machine.
fn is_running(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = std::env::temp_dir().join(format!("miners-stale-{}", std::process::id()));
        let nested = dir.join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let dead = format!(".r.k1.json.{}-{}-0{TEMPORARY_SUFFIX}", host(), u32::MAX - 1);
        let live = format!(
            ".r.k5.json.{}-{}-3{TEMPORARY_SUFFIX}",
            host(),
            std::process::id()
        );
        let elsewhere = format!(
            ".r.k10.json.other_host-{}-0{TEMPORARY_SUFFIX}",
            u32::MAX - 1
        );
        for name in [
            &dead,
            &live,
            &elsewhere,
            &"r.k1.json".to_owned(),
            &".hidden.tmp".to_owned(),
        ] {
            std::fs::write(nested.join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir).unwrap(), 1);
        assert!(!nested.join(&dead).exists());
        for kept in [
            &live,
            &elsewhere,
            &"r.k1.json".to_owned(),
            &".hidden.tmp".to_owned(),
        ] {
            assert!(nested.join(kept).exists(), "{kept}");
        }
        assert_eq!(remove_stale_temporaries(&dir.join("absent")).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
