//! Scorings beyond the reference through the binary: both directions of
//! bitext, hubness-corrected ids, and mining; the reference's records stay
//! as they were.

use std::{path::Path, process::Command};

mod support;
use support::{data_dir, workspace};

/// Runs `miners ARGS --data-dir --catalog --out OUT` and returns its stdout.
fn miners(data: &Path, out: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8(output.stdout).unwrap()
}

fn record(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const NUSAX: [&str; 8] = [
    "bitext",
    "--dataset",
    "nusax",
    "--model",
    "static-tokenlearn",
    "--pair",
    "eng-ind",
    "--limit",
];

#[test]
fn both_directions_add_reversed_cells_and_keep_the_reference_ones() {
    let Some(data) = data_dir() else { return };
    let root = tempfile::tempdir().unwrap();
    let (one, both) = (root.path().join("one"), root.path().join("both"));
    miners(&data, &one, &[&NUSAX[..], &["60"]].concat());
    miners(
        &data,
        &both,
        &[&NUSAX[..], &["60", "--both-directions"]].concat(),
    );
    let cell = "bitext/nusax/static-tokenlearn/cross";
    for k in [1, 5, 10] {
        let forward = |dir: &Path| {
            let mut r = record(&dir.join(cell).join(format!("eng-ind.k{k}.json")));
            r["seconds"] = 0.into();
            r.as_object_mut().unwrap().remove("peak_rss_mib");
            r
        };
        assert_eq!(forward(&one), forward(&both));
        let reversed = record(&both.join(cell).join(format!("ind-eng.k{k}.json")));
        assert_eq!(reversed["reversed"], true);
        assert_eq!(
            (
                reversed["source_lang"].as_str(),
                reversed["target_lang"].as_str()
            ),
            (Some("ind"), Some("eng"))
        );
        assert!(
            forward(&one).get("reversed").is_none(),
            "the reference's records are unchanged"
        );
    }
    assert!(!one.join(cell).join("ind-eng.k1.json").exists());
}

#[test]
fn hubness_runs_are_their_own_systems_and_mining_uses_the_margin() {
    let Some(data) = data_dir() else { return };
    let root = tempfile::tempdir().unwrap();
    let out = root.path();
    miners(
        &data,
        out,
        &[&NUSAX[..], &["60", "--hubness", "csls"]].concat(),
    );
    let csls = record(&out.join("bitext/nusax/static-tokenlearn_csls10/cross/eng-ind.k1.json"));
    assert_eq!(csls["model"]["id"], "static-tokenlearn~csls10");
    assert_eq!(csls["model"]["hubness"]["type"], "csls");
    let mined = miners(
        &data,
        out,
        &[
            "mine",
            "--dataset",
            "nusax",
            "--model",
            "static-tokenlearn",
            "--pair",
            "eng-ind",
            "--limit",
            "200",
        ],
    );
    assert!(
        mined.contains("static-tokenlearn~cosine~margin_ratio4"),
        "{mined}"
    );
    let result =
        record(&out.join("mining/nusax/static-tokenlearn_cosine_margin_ratio4/eng-ind.json"));
    assert_eq!(result["sentences"], 200);
    let f1 = result["test"]["f1"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&f1) && result["mutual"].as_u64().unwrap() > 0,
        "{result}"
    );
}

#[test]
fn tuned_weights_are_recorded_with_where_they_were_learned() {
    let Some(data) = data_dir() else { return };
    let root = tempfile::tempdir().unwrap();
    let args = [
        "classify",
        "--dataset",
        "nusax",
        "--model",
        "static-tokenlearn",
        "--model",
        "static-tokenlearn",
        "--tune-weights",
        "--lang",
        "ind",
        "--k",
        "1,10",
    ];
    let stdout = miners(&data, root.path(), &args);
    assert!(
        stdout.contains("learned on the validation split"),
        "{stdout}"
    );
    // Two identical members score alike everywhere: the first weighting wins.
    let dir = root
        .path()
        .join("classification/nusax/distfuse_static-tokenlearn_1+static-tokenlearn_0_/mono");
    let tuned = record(&dir.join("ind.k10.json"));
    assert_eq!(tuned["model"]["members"][1]["weight"], 0.0);
    let note = tuned["model"]["tuned_on"].as_str().unwrap();
    assert!(note.contains("validation split of nusax"), "{note}");
    let refused = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args([
            "classify",
            "--dataset",
            "nusax",
            "--model",
            "static-tokenlearn",
            "--tune-weights",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .arg("--out")
        .arg(root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("two or more --model"),
        "{stderr}"
    );
}

#[test]
fn parallel_test_splits_get_a_scatter_by_sample() {
    let Some(data) = data_dir() else { return };
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("results");
    miners(&data, &results, &[&NUSAX[..], &["30"]].concat());
    for (dataset, parallel) in [("nusax", true), ("nollysenti", false)] {
        let report = root.path().join(dataset);
        let output = Command::new(env!("CARGO_BIN_EXE_miners"))
            .args(["report", "--tsne-points", "120", "--tsne"])
            .arg(format!("{dataset}:static-tokenlearn"))
            .arg("--results")
            .arg(&results)
            .arg("--out")
            .arg(&report)
            .arg("--data-dir")
            .arg(&data)
            .arg("--catalog")
            .arg(workspace().join("models.toml"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let plot = report.join(format!("plots/tsne-{dataset}-static-tokenlearn-sample.svg"));
        assert_eq!(plot.is_file(), parallel, "{}", plot.display());
        if parallel {
            let svg = std::fs::read_to_string(&plot).unwrap();
            assert!(svg.contains("sample 0") && svg.contains("other samples"));
        }
    }
}
