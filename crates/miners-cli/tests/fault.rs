//! Fault injection: a sweep killed with SIGKILL at 20 points in a row, then
//! rerun, ends with the records of an uninterrupted run, no temporary files,
//! and a cache that verifies; files follow the umask.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

mod support;
use support::{data_dir, files, workspace};

const SPEC: &str = r#"
encoders = ["static-tokenlearn"]
limit = 200

[[ensembles]]
members = ["static-tokenlearn", "static-tokenlearn"]
weights = [1.0, 0.5]

[bitext]
datasets = ["nusax", "nollysenti"]
ks = [1, 5, 10]

[classification]
datasets = ["nusax", "nollysenti"]
settings = ["mono", "cross"]
ks = [1, 5, 10]
"#;

/// `miners sweep` on SPEC into `root/results` with the cache in `root/cache`,
/// under umask 002 (a results directory shared by a group).
fn sweep(root: &Path, data: &Path) -> Command {
    let spec = root.join("sweep.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("umask 002 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_miners"))
        .args(["sweep", "--spec"])
        .arg(&spec)
        .arg("--out")
        .arg(root.join("results"))
        .arg("--cache")
        .arg(root.join("cache"))
        .arg("--data-dir")
        .arg(data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Every record's path and metrics (wall times and memory differ between runs).
fn metrics(results: &Path) -> Vec<(PathBuf, serde_json::Value)> {
    files(results)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .map(|f| {
            let value: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            let keep = serde_json::json!([value["metrics"], value["n"], value["model"]]);
            (f.strip_prefix(results).unwrap().to_owned(), keep)
        })
        .collect()
}

/// xorshift: the kill points are the same on every run of the test.
fn kill_points(count: usize, span: Duration) -> Vec<Duration> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            span.mul_f64((state % 1000) as f64 / 1000.0)
        })
        .collect()
}

#[test]
fn twenty_kills_then_a_rerun_equal_an_uninterrupted_sweep() {
    let Some(data) = data_dir() else { return };
    let clean = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = sweep(clean.path(), &data).output().unwrap();
    let span = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let killed = tempfile::tempdir().unwrap();
    let mut finished_early = 0;
    for point in kill_points(20, span) {
        let mut child = sweep(killed.path(), &data).spawn().unwrap();
        std::thread::sleep(point);
        if child.try_wait().unwrap().is_some() {
            finished_early += 1;
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
    }
    eprintln!("20 kills over {span:?} ({finished_early} runs had already finished)");

    let rerun = sweep(killed.path(), &data).output().unwrap();
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(
        metrics(&killed.path().join("results")),
        metrics(&clean.path().join("results"))
    );

    let all = files(killed.path());
    let temporaries: Vec<&PathBuf> = all
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(miners_core::TEMPORARY_SUFFIX))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
    let corrupt: Vec<&PathBuf> = all
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "corrupt"))
        .collect();
    assert!(corrupt.is_empty(), "{corrupt:?}");
    // The cache verifies: a third run reads every segment back without a warning.
    let third = sweep(killed.path(), &data).output().unwrap();
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(
        third.status.success() && !stderr.contains("warning"),
        "{stderr}"
    );

    // Records, markers and cache segments follow the umask (002: group-writable).
    for file in all.iter().filter(|f| !f.ends_with("sweep.toml")) {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o664, "{}", file.display());
    }
}
