//! Shards that share one result and cache directory: two at once, one killed
//! with SIGKILL mid-run, a damaged cache segment, then reruns, end with the
//! records of one unsharded run. A full disk (a small tmpfs) and a read-only
//! result directory give errors that name the path, and a rerun after the
//! space is freed loses nothing. The mount checks need root (CI runs as root).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

mod support;
use support::{data_dir, files, workspace};

/// Several seconds of work in a few dozen parts per shard.
const SPEC: &str = r#"
encoders = ["static-tokenlearn"]

[[ensembles]]
members = ["static-tokenlearn", "static-tokenlearn"]
weights = [1.0, 0.5]

[bitext]
datasets = ["nusax"]

[classification]
datasets = ["nusax", "sib200"]
settings = ["mono", "cross"]
"#;

/// `miners sweep` of SPEC into `out` with the cache in `cache`, as `shard`.
fn sweep(out: &Path, cache: &Path, shard: Option<&str>) -> Command {
    let spec = out.with_extension("toml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_miners"));
    command
        .args(["sweep", "--spec"])
        .arg(&spec)
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .arg("--data-dir")
        .arg(data_dir().unwrap())
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(shard) = shard {
        command.args(["--shard", shard]);
    }
    command
}

/// Every record's path and contents but wall time and memory; every `.json`
/// outside `.sweep/` must parse as a record.
fn records(results: &Path) -> Vec<(PathBuf, serde_json::Value)> {
    files(results)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .filter(|f| !f.parent().unwrap().ends_with(".sweep"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let mut value: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not a whole record: {e}", f.display()));
            let object = value.as_object_mut().unwrap();
            object.remove("seconds");
            object.remove("peak_rss_mib");
            object.remove("cpu_seconds");
            (f.strip_prefix(results).unwrap().to_owned(), value)
        })
        .collect()
}

fn temporaries(root: &Path) -> Vec<PathBuf> {
    files(root)
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(miners_core::TEMPORARY_SUFFIX))
        .collect()
}

/// Waits for `child` and returns its stderr, asserting success.
fn finish(child: Child) -> String {
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// The records of one unsharded run of SPEC.
fn unsharded(root: &Path) -> Vec<(PathBuf, serde_json::Value)> {
    let out = root.join("unsharded");
    finish(
        sweep(&out, &root.join("unsharded-cache"), None)
            .spawn()
            .unwrap(),
    );
    records(&out)
}

#[test]
fn two_shards_at_once_one_killed_and_a_damaged_segment_end_as_one_run() {
    if data_dir().is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let expected = unsharded(root.path());
    let (out, cache) = (root.path().join("results"), root.path().join("cache"));

    // Both shards at once; shard 1 is killed once it has finished one part.
    let first = sweep(&out, &cache, Some("0/2")).spawn().unwrap();
    let mut second = sweep(&out, &cache, Some("1/2")).spawn().unwrap();
    let mut lines = BufReader::new(second.stderr.take().unwrap()).lines();
    let finished_one = lines.any(|line| line.unwrap().contains(" done in "));
    assert!(finished_one, "shard 1 ended before finishing a part");
    second.kill().unwrap(); // SIGKILL
    second.wait().unwrap();
    finish(first);
    let partial = records(&out);
    assert!(
        partial.len() < expected.len(),
        "shard 1 was killed with {} of {} records written; nothing was cut short",
        partial.len(),
        expected.len()
    );

    // Damage the largest cache segment, as a torn write would.
    let segment = files(&cache)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "bin"))
        .max_by_key(|f| std::fs::metadata(f).unwrap().len())
        .expect("the shards wrote cache segments");
    let length = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(length / 2)
        .unwrap();

    // Both shards again, at once: shard 0 finds everything done, shard 1
    // finishes its parts, and whichever reads the damaged segment says so.
    let reruns = [
        sweep(&out, &cache, Some("0/2")).spawn().unwrap(),
        sweep(&out, &cache, Some("1/2")).spawn().unwrap(),
    ];
    let stderr: String = reruns.into_iter().map(finish).collect();
    assert_eq!(records(&out), expected);
    assert!(temporaries(root.path()).is_empty());
    assert!(
        stderr.contains("corrupt embedding cache segment"),
        "{stderr}"
    );
    assert!(segment.with_extension("corrupt").is_file());

    // The damaged segment's texts were encoded again: a fresh run on the same
    // cache encodes every text of the sweep from it and gives the same records.
    let fresh = root.path().join("fresh");
    let stderr = finish(sweep(&fresh, &cache, None).spawn().unwrap());
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(records(&fresh), expected);
}

/// A mount that is undone when dropped.
struct Mount(PathBuf);

impl Mount {
    /// `mount ARGS... DIR`, or `None` where mounting is not allowed (not root).
    fn new(dir: &Path, args: &[&str]) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(args)
            .arg(dir)
            .stderr(Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Some(Self(dir.to_owned()));
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and mounts"
        );
        eprintln!("skipping: cannot mount here (not root)");
        None
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_names_the_path_and_a_rerun_after_freeing_space_loses_nothing() {
    if data_dir().is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let expected = unsharded(root.path());
    let disk = root.path().join("disk");
    let Some(mount) = Mount::new(&disk, &["-t", "tmpfs", "-o", "size=400k", "tmpfs"]) else {
        return;
    };
    let (out, cache) = (disk.join("results"), disk.join("cache"));
    let output = sweep(&out, &cache, None).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains(&disk.display().to_string()), "{stderr}");
    let partial = records(&out);
    assert!(partial.len() < expected.len());

    mount.remount("size=2g");
    let stderr = finish(sweep(&out, &cache, None).spawn().unwrap());
    assert_eq!(records(&out), expected, "{stderr}");
    assert!(temporaries(&disk).is_empty());
}

#[test]
fn a_read_only_results_directory_is_refused_by_name_and_written_once_writable() {
    if data_dir().is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("results");
    std::fs::create_dir_all(&out).unwrap();
    let Some(mount) = Mount::new(&out, &["--bind", &out.display().to_string()]) else {
        return;
    };
    mount.remount("bind,ro");
    let cache = root.path().join("cache");
    let output = sweep(&out, &cache, None).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&out.display().to_string()), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");

    mount.remount("bind,rw");
    finish(sweep(&out, &cache, None).spawn().unwrap());
    drop(mount);
    assert_eq!(records(&out), unsharded(root.path()));
}
