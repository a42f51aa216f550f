//! Scorings beyond the reference through the binary: both directions of
//! bitext, hubness-corrected ids, and mining; the reference's records stay
//! as they were.

use std::{
    path::Path,
    process::{Command, Output},
};

mod support;
use support::{data_dir, workspace};

/// Runs `miners ARGS --data-dir --catalog --out OUT` and returns its stdout.
/// What `miners ARGS --data-dir DATA --catalog models.toml --out OUT` did.
fn run(data: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// The standard output of a run that must succeed.
fn miners(data: &Path, out: &Path, args: &[&str]) -> String {
    let output = run(data, out, args);
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
            r.as_object_mut().unwrap().remove("cpu_seconds");
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
    let mined = miners(&data, out, &[&["mine"], &NUSAX[1..], &["200"]].concat());
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
    let tuned_id = "distfuse_static-tokenlearn_1+static-tokenlearn_0_tuned-per-";
    let mono = root.path().join("classification/nusax");
    let tuned = record(&mono.join(format!("{tuned_id}dataset_/mono/ind.k10.json")));
    assert_eq!(tuned["model"]["members"][1]["weight"], 0.0);
    assert_eq!(tuned["model"]["tuned_by"], "dataset");
    let note = tuned["model"]["tuned_on"].as_str().unwrap();
    assert!(
        note.contains("validation split of nusax (all languages: ind)"),
        "{note}"
    );
    // Per family: English and Javanese learn apart, each in its own family.
    let by_family = [
        &args[..8],
        &["family", "--lang", "eng", "--lang", "jav", "--k", "10"],
    ]
    .concat();
    let stdout = miners(&data, root.path(), &by_family);
    assert!(
        stdout.contains("nusax (Indo-European): weights")
            && stdout.contains("nusax (Austronesian): weights"),
        "{stdout}"
    );
    for (lang, family) in [("eng", "Indo-European"), ("jav", "Austronesian")] {
        let tuned = record(&mono.join(format!("{tuned_id}family_/mono/{lang}.k10.json")));
        assert_eq!(tuned["model"]["tuned_by"], "family");
        let note = tuned["model"]["tuned_on"].as_str().unwrap();
        assert!(note.contains(&format!("({family}: {lang})")), "{note}");
    }
    let refused = run(&data, root.path(), &[&args[..5], &args[7..8]].concat());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr
                .contains("--tune-weights: learning DistFuse weights needs two or more encoders"),
        "{stderr}"
    );
}

/// `miners report --tsne REQUEST` of `results` into `report`, `points` texts.
fn tsne_report(data: &Path, results: &Path, report: &Path, request: &str, points: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(["report", "--tsne-points", points, "--tsne", request])
        .arg("--results")
        .arg(results)
        .arg("--out")
        .arg(report)
        .arg("--data-dir")
        .arg(data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        // Its own cache, not the default `.cache/embeddings` under the crate.
        .arg("--cache")
        .arg(report.with_extension("cache"))
        .output()
        .unwrap()
}

#[test]
fn scatters_by_sample_for_parallel_splits_and_by_family_across_families() {
    let Some(data) = data_dir() else { return };
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("results");
    miners(&data, &results, &[&NUSAX[..], &["30"]].concat());
    for (dataset, parallel) in [("nusax", true), ("nollysenti", false)] {
        let report = root.path().join(dataset);
        let request = format!("{dataset}:static-tokenlearn");
        let output = tsne_report(&data, &results, &report, &request, "120");
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
        // Both span several language families (NollySenti: Hausa is
        // Afro-Asiatic, Igbo and Yoruba Atlantic-Congo, English and Pidgin
        // Indo-European).
        let plot = report.join(format!("plots/tsne-{dataset}-static-tokenlearn-family.svg"));
        let svg = std::fs::read_to_string(&plot).unwrap();
        assert!(svg.contains("Indo-European"), "{}", plot.display());
        if dataset == "nollysenti" {
            assert!(svg.contains("Afro-Asiatic") && svg.contains("Atlantic-Congo"));
        }
    }
}

/// `--hubness-k 0` is refused (it once ran as k = 1 and was recorded as `~csls0`).
#[test]
fn a_hubness_neighbourhood_of_zero_is_refused() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let output = run(
        &data,
        out.path(),
        &[&NUSAX[..], &["60", "--hubness", "csls", "--hubness-k", "0"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--hubness-k"), "{stderr}");
    assert!(!out.path().join("bitext").exists(), "nothing is written");
}

/// `--tune-weights` with `--weights` is refused (the given weights were ignored silently).
#[test]
fn tuning_weights_that_are_also_given_is_refused() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let args = [
        "classify",
        "--dataset",
        "nusax",
        "--model",
        "static-tokenlearn",
        "--model",
        "static-tokenlearn",
        "--weights",
        "0.75,0.25",
        "--tune-weights",
        "--lang",
        "ind",
    ];
    let output = run(&data, out.path(), &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--tune-weights") && stderr.contains("replace the weights given"),
        "{stderr}"
    );
}

/// `--tsne DATASET:DIRECTORY` (a model directory, which the docs allow) once
/// wrote to `plots/tsne-nusax-<the path>` and failed; an id with `/` or `..`
/// now names one file inside `plots/` (issue 24, #6).
#[test]
fn tsne_of_a_model_directory_stays_inside_plots() {
    let Some(data) = data_dir() else { return };
    let root = tempfile::tempdir().unwrap();
    let results = root.path().join("results");
    miners(&data, &results, &[&NUSAX[..], &["30"]].concat());
    let report = root.path().join("report");
    let model = workspace().join("models/static-tokenlearn");
    let request = format!("nusax:{}", model.display());
    let output = tsne_report(&data, &results, &report, &request, "60");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plots: Vec<String> = std::fs::read_dir(report.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("tsne-"))
        .collect();
    assert!(plots.len() >= 2, "{plots:?}");
    assert!(report.join("REPORT.md").is_file());
}
