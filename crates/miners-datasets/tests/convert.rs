//! Converting `../shared/sources` reproduces `../shared/data/miners`: every
//! TSV byte for byte, every manifest field the converter writes, and
//! `INDEX.json` byte for byte. (Skipped with a message where the shared
//! directories are absent; CI must have them.)

use std::path::Path;

use miners_datasets::{DatasetError, convert};
#[path = "support/shared.rs"]
mod shared;
use serde_json::{Map, Value};
use shared::shared;

fn manifest(path: &Path) -> Map<String, Value> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Fields the converter does not write: descriptive row-count summaries whose
/// numbers `files` carries too.
const NOT_WRITTEN: &[&str] = &[
    "pairs",
    "raw_label_counts",
    "rows_per_file",
    "rows_per_split",
    "rows_per_pair",
    "rows_per_split_per_language",
];

/// Asserts that `ours` equals the shared data directory `theirs` for `dataset`.
fn assert_same_dataset(theirs: &Path, ours: &Path, dataset: &str) {
    let (expected, actual) = (
        manifest(&theirs.join(dataset).join("manifest.json")),
        manifest(&ours.join(dataset).join("manifest.json")),
    );
    for (field, value) in &actual {
        assert_eq!(
            Some(value),
            expected.get(field),
            "{dataset}: manifest field `{field}`"
        );
    }
    for field in expected.keys() {
        assert!(
            actual.contains_key(field) || NOT_WRITTEN.contains(&field.as_str()),
            "{dataset}: manifest field `{field}` not written"
        );
    }
    for file in expected["files"].as_object().unwrap().keys() {
        let (a, b) = (
            theirs.join(dataset).join(file),
            ours.join(dataset).join(file),
        );
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{dataset}/{file} differs"
        );
    }
}

#[test]
fn converting_the_originals_reproduces_the_shared_data() {
    let (Some(sources), Some(data)) = (shared("sources"), shared("data/miners")) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let datasets: Vec<&str> = convert::convertible().collect();
    assert_eq!(datasets.len(), 11);
    for dataset in &datasets {
        convert::convert(dataset, &sources, out.path()).unwrap();
        assert_same_dataset(&data, out.path(), dataset);
    }
    convert::write_index(out.path()).unwrap();
    assert!(
        std::fs::read(data.join("INDEX.json")).unwrap()
            == std::fs::read(out.path().join("INDEX.json")).unwrap(),
        "INDEX.json differs"
    );
}

#[test]
fn a_missing_original_is_an_error_naming_it() {
    let empty = tempfile::tempdir().unwrap();
    let err = convert::convert("phinc", empty.path(), empty.path()).unwrap_err();
    let DatasetError::Io { path, .. } = &err else {
        panic!("{err}")
    };
    assert!(path.ends_with("datasets/phinc/train.tsv"), "{err}");
}

#[test]
fn a_malformed_original_is_an_error_naming_its_line() {
    let originals = tempfile::tempdir().unwrap();
    let phinc = miners_datasets::sources::of_dataset("phinc").remove(0);
    let path = originals.path().join(&phinc.path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "Sentence\tEnglish_Translation\na\tb\nonly one field\n",
    )
    .unwrap();
    let err = convert::convert("phinc", originals.path(), originals.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("train.tsv:3: 1 field(s), expected 2"),
        "{err}"
    );
}

#[test]
fn unknown_datasets_name_the_convertible_ones() {
    let err = convert::convert("mtop_intent", Path::new("."), Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("nusax"), "{err}");
}
