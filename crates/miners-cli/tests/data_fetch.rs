//! `miners data fetch` through a local mirror: `../shared/sources` served on
//! 127.0.0.1 becomes a data directory equal to `../shared/data/miners`, a
//! rerun with `--if-missing` (what `cargo xtask bench-all` runs) fetches only
//! what is missing, and the fetched data runs. Skipped with a message where
//! the shared directories are absent; CI must have them.

#[path = "../../miners-datasets/tests/support/mirror.rs"]
mod mirror;
#[path = "../../miners-datasets/tests/support/shared.rs"]
mod shared;
use shared::shared;

use std::{
    path::Path,
    process::{Command, Output},
};

fn fetch(work: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(["data", "fetch", "--out", "data", "--originals", "originals"])
        .args(args)
        .current_dir(work)
        .env_remove("MINERS_DATA_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

fn files_of(manifest: &Path) -> Vec<String> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    manifest["files"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn fetching_through_a_local_mirror_reproduces_the_shared_data_directory() {
    let (Some(sources), Some(data)) = (shared("sources"), shared("data/miners")) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let url = mirror::serve(sources);
    let first = fetch(work.path(), &["--mirror", &url]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    let ours = work.path().join("data");
    let same = |file: &str| {
        std::fs::read(data.join(file)).unwrap() == std::fs::read(ours.join(file)).unwrap()
    };
    assert!(same("INDEX.json"), "INDEX.json differs");
    let mut compared = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let dataset = entry.unwrap().file_name().into_string().unwrap();
        let manifest = data.join(&dataset).join("manifest.json");
        if !manifest.is_file() {
            continue;
        }
        assert_eq!(
            files_of(&manifest),
            files_of(&ours.join(&dataset).join("manifest.json"))
        );
        for file in files_of(&manifest) {
            assert!(
                same(&format!("{dataset}/{file}")),
                "{dataset}/{file} differs"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 873);

    // What bench-all runs: with every dataset present, nothing happens, even offline.
    let offline = "http://127.0.0.1:9";
    let nothing = fetch(work.path(), &["--if-missing", "--mirror", offline]);
    assert!(
        nothing.status.success() && nothing.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&nothing.stderr)
    );

    // A dataset removed (or left half-converted, without its manifest) is
    // converted again from the verified originals already kept: no request.
    let manifest = ours.join("phinc/manifest.json");
    let written = std::fs::read(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    let again = fetch(work.path(), &["--if-missing", "--mirror", offline]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(
        stderr.contains("phinc: 1 files, 13738 rows") && !stderr.contains("fetched"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&manifest).unwrap(), written);
}

#[test]
fn a_wrong_checksum_on_the_mirror_fails_naming_the_file_and_writes_no_data() {
    let mirror_dir = tempfile::tempdir().unwrap();
    let file = miners_datasets_path("phinc");
    let served = mirror_dir.path().join(&file);
    std::fs::create_dir_all(served.parent().unwrap()).unwrap();
    std::fs::write(&served, b"not the PHINC corpus").unwrap();
    let work = tempfile::tempdir().unwrap();
    let output = fetch(
        work.path(),
        &[
            "--dataset",
            "phinc",
            "--mirror",
            &mirror::serve(mirror_dir.path().to_owned()),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&file) && stderr.contains("sha256") && stderr.contains("expected"),
        "{stderr}"
    );
    assert!(!work.path().join("data").exists(), "no data written");
}

#[test]
fn an_unknown_dataset_names_the_fetchable_ones() {
    let work = tempfile::tempdir().unwrap();
    let output = fetch(
        work.path(),
        &["--dataset", "nusa", "--mirror", "/nonexistent"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--dataset nusa") && stderr.contains("nusax"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("lince_sa").count(),
        1,
        "each dataset named once: {stderr}"
    );
}

/// The raw-file path of `dataset`'s first pinned original (from the committed table).
fn miners_datasets_path(dataset: &str) -> String {
    let table = include_str!("../../miners-datasets/sources.tsv");
    table
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0] == dataset).then(|| fields[3].to_owned())
        })
        .unwrap()
}
