//! End to end on real NusaX data: miners' scores equal the reference
//! implementation's (fixtures/reference_scores.py: its distance loop, stable
//! sort, Counter vote and scikit-learn metrics) on the same static model.

use std::{path::PathBuf, sync::Arc};

use miners_core::{Lang, Metric};
use miners_datasets::{DataDir, Dataset, Pair};
use miners_eval::{
    ClassificationRun, Quiet, ResultRecord, Retriever, RunOptions, run_bitext, run_classification,
};

/// Metrics are ratios of identical counts, so they agree to rounding.
const TOLERANCE: f64 = 1e-12;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn setup() -> Option<(Dataset, Retriever)> {
    let model = workspace().join("models/static-tokenlearn");
    let data = DataDir::resolve(None)
        .or_else(|_| DataDir::resolve(Some(&workspace().join("../shared/data/miners"))));
    let (true, Ok(data)) = (model.is_dir(), data) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the data and the fetched model"
        );
        eprintln!("skipping: data or model absent");
        return None;
    };
    let encoder = miners_encoders::StaticEncoder::load(&model, "static-tokenlearn").unwrap();
    let retriever = Retriever::single(Arc::new(encoder), Metric::Euclidean);
    Some((Dataset::open(&data, "nusax").unwrap(), retriever))
}

#[derive(serde::Deserialize)]
struct Expected {
    cells: Vec<Cell>,
}

#[derive(serde::Deserialize)]
struct Cell {
    task: String,
    cell: String,
    k: usize,
    accuracy: f64,
    precision: f64,
    recall: f64,
    f1: f64,
}

fn expected() -> Vec<Cell> {
    let path = workspace().join("fixtures/static-tokenlearn/reference_scores.json");
    let parsed: Expected = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    parsed.cells
}

fn compare(task: &str, records: &[ResultRecord]) {
    let cells: Vec<Cell> = expected().into_iter().filter(|c| c.task == task).collect();
    let mut matched = 0;
    for want in &cells {
        let Some(got) = records
            .iter()
            .find(|r| r.cell() == want.cell && r.k == want.k)
        else {
            continue;
        };
        let m = &got.metrics;
        for (name, ours, theirs) in [
            ("accuracy", m.accuracy, want.accuracy),
            ("precision", m.precision, want.precision),
            ("recall", m.recall, want.recall),
            ("f1", m.f1, want.f1),
        ] {
            assert!(
                (ours - theirs).abs() <= TOLERANCE,
                "{} k={} {name}: {ours} vs reference {theirs}",
                want.cell,
                want.k
            );
        }
        matched += 1;
    }
    assert_eq!(matched, records.len(), "every record has a reference cell");
}

#[test]
fn bitext_equals_the_reference() {
    let Some((nusax, retriever)) = setup() else {
        return;
    };
    let pairs = ["ace", "ind"].map(|t| Pair {
        source: "eng".into(),
        target: t.into(),
    });
    let mut records = Vec::new();
    run_bitext(
        &nusax,
        &retriever,
        &pairs,
        &RunOptions::default(),
        &Quiet,
        &mut records,
    )
    .unwrap();
    assert_eq!(records.len(), 6);
    compare("bitext", &records);
}

#[test]
fn monolingual_classification_equals_the_reference() {
    let Some((nusax, retriever)) = setup() else {
        return;
    };
    let run = ClassificationRun {
        langs: vec![Lang::from("ace"), Lang::from("eng")],
        ..Default::default()
    };
    let mut records = Vec::new();
    let options = RunOptions::default();
    run_classification(&nusax, &retriever, &run, &options, &Quiet, &mut records).unwrap();
    compare("classification", &records);
}

#[test]
fn cross_lingual_classification_equals_the_reference() {
    let Some((nusax, retriever)) = setup() else {
        return;
    };
    let run = ClassificationRun {
        langs: vec![Lang::from("jav")],
        cross_source: Some(Lang::from("eng")),
        ..Default::default()
    };
    let mut records = Vec::new();
    let options = RunOptions::default();
    run_classification(&nusax, &retriever, &run, &options, &Quiet, &mut records).unwrap();
    assert_eq!(records[0].setting.name(), "cross");
    compare("classification", &records);
}

#[test]
fn records_round_trip_through_atomic_files() {
    let Some((nusax, retriever)) = setup() else {
        return;
    };
    let pairs = [Pair {
        source: "eng".into(),
        target: "sun".into(),
    }];
    let options = RunOptions {
        ks: vec![1],
        limit: Some(50),
        both_directions: false,
    };
    let mut records = Vec::new();
    run_bitext(&nusax, &retriever, &pairs, &options, &Quiet, &mut records).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = records[0].write(dir.path()).unwrap();
    assert!(path.ends_with("bitext/nusax/static-tokenlearn/cross/eng-sun.k1.json"));
    let back: ResultRecord =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(back, records[0]);
    assert_eq!((back.n, back.limit), (50, Some(50)));
    // Nothing but the record is left in the directory (no temporary files).
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn k_beyond_the_pool_is_a_clear_error() {
    let Some((nusax, retriever)) = setup() else {
        return;
    };
    let pairs = [Pair {
        source: "eng".into(),
        target: "sun".into(),
    }];
    let options = RunOptions {
        ks: vec![10],
        limit: Some(5),
        both_directions: false,
    };
    let err = run_bitext(
        &nusax,
        &retriever,
        &pairs,
        &options,
        &Quiet,
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("k = 10 is larger than the pool of 5 candidates for nusax eng-sun"),
        "{err}"
    );
}
