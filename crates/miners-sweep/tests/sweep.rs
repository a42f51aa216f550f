//! A sweep built in code runs through the library API, resumes, and shards.

use std::path::PathBuf;

use miners_datasets::DataDir;
use miners_eval::{Quiet, Setting, Task, tune::TuneBy};
use miners_models::Models;
use miners_sweep::{Shard, SweepOptions, SweepSpec, TaskSpec, jobs, merge, result_files, run};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn setup() -> Option<(Models, DataDir)> {
    let data = DataDir::resolve(None)
        .or_else(|_| DataDir::resolve(Some(&workspace().join("../shared/data/miners"))));
    let model = workspace().join("models/static-tokenlearn");
    let (true, Ok(data)) = (model.is_dir(), data) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI has the data and models"
        );
        eprintln!("skipping: data or model absent");
        return None;
    };
    Some((
        Models::from_file(&workspace().join("models.toml")).unwrap(),
        data,
    ))
}

fn spec() -> SweepSpec {
    let nusax = TaskSpec {
        datasets: vec!["nusax".into()],
        ks: vec![1, 5],
        ..TaskSpec::default()
    };
    SweepSpec {
        encoders: vec!["static-tokenlearn".into()],
        bitext: Some(nusax.clone()),
        classification: Some(nusax),
        limit: Some(30),
        ..SweepSpec::default()
    }
}

#[test]
fn jobs_are_typed_and_named_as_before() {
    let Some((_, data)) = setup() else { return };
    let jobs = jobs(&spec(), &data).unwrap();
    let names: Vec<String> = jobs.iter().map(|j| j.name()).collect();
    assert_eq!(
        names,
        [
            "bitext.nusax.static-tokenlearn.cross",
            "classification.nusax.static-tokenlearn.mono",
            "classification.nusax.static-tokenlearn.cross",
        ]
    );
    assert_eq!(jobs[1].task, Task::Classification);
    assert_eq!(jobs[1].setting, Setting::Monolingual);
    // The marker signature keeps its JSON shape.
    let json = serde_json::to_string(&jobs[0]).unwrap();
    assert!(
        json.starts_with(r#"{"task":"bitext","dataset":"nusax","#),
        "{json}"
    );
    assert!(json.contains(r#""setting":"cross""#), "{json}");
}

#[test]
fn a_spec_naming_a_code_switched_setting_is_refused() {
    let Some((_, data)) = setup() else { return };
    let mut spec = spec();
    spec.classification.as_mut().unwrap().settings = vec![Setting::CodeSwitched];
    let err = jobs(&spec, &data).unwrap_err().to_string();
    assert!(err.contains("setting `cs`"), "{err}");
}

#[test]
fn runs_resumes_and_merges_shards() {
    let Some((models, data)) = setup() else {
        return;
    };
    let whole = tempfile::tempdir().unwrap();
    let options = SweepOptions::new(whole.path(), data.clone());
    let first = run(&spec(), &models, &options, &Quiet).unwrap();
    assert_eq!((first.run, first.skipped, first.failed.len()), (3, 0, 0));
    let again = run(&spec(), &models, &options, &Quiet).unwrap();
    assert_eq!((again.run, again.skipped), (0, 3));

    let shards = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for index in 0..2 {
        let dir = shards.path().join(index.to_string());
        let options = SweepOptions {
            shard: Some(Shard { index, count: 2 }),
            ..SweepOptions::new(&dir, data.clone())
        };
        run(&spec(), &models, &options, &Quiet).unwrap();
        dirs.push(dir);
    }
    let merged = shards.path().join("merged");
    merge(&merged, &dirs).unwrap();
    assert_eq!(metrics(&merged), metrics(whole.path()));
    // Each shard ran some cells of a job: the plan splits jobs, not only lists them.
    let parts = |dir: &std::path::Path| metrics(dir).len();
    assert!(parts(&dirs[0]) > 0 && parts(&dirs[1]) > 0);
    let markers = std::fs::read_dir(merged.join(".sweep")).unwrap().count();
    assert!(markers > 3, "shards mark their parts of jobs: {markers}");
    // A rerun of a shard skips all its parts.
    let options = SweepOptions {
        shard: Some(Shard { index: 0, count: 2 }),
        ..SweepOptions::new(&dirs[0], data.clone())
    };
    let again = run(&spec(), &models, &options, &Quiet).unwrap();
    assert_eq!(again.run, 0);
}

/// Records of record packed from a sweep (with the run description beside
/// them) merge into an empty directory as the same record files, byte for
/// byte, and a sweep resumes there without running a cell again.
#[test]
fn a_sweep_resumes_from_its_packed_records() {
    let Some((models, data)) = setup() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let (results, packs) = (root.path().join("results"), root.path().join("packs"));
    run(
        &spec(),
        &models,
        &SweepOptions::new(&results, data.clone()),
        &Quiet,
    )
    .unwrap();
    miners_eval::packs::pack(&results, &packs).unwrap();
    let description = packs.join(miners_eval::packs::RUN_FILE);
    std::fs::write(&description, "{\"spec\": \"sweep.toml\"}\n").unwrap();
    let resumed = root.path().join("resumed");
    let merged = merge(&resumed, &[packs]).unwrap();
    let records = |dir: &std::path::Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = snapshot(dir);
        files.retain(|(path, _)| !path.starts_with(".sweep"));
        files
    };
    assert_eq!(records(&resumed), records(&results));
    assert_eq!(merged.copied, records(&results).len());
    let again = run(&spec(), &models, &SweepOptions::new(&resumed, data), &Quiet).unwrap();
    // No job marker came along, so each job starts, and finds every cell done.
    assert_eq!(
        (again.run, again.cells_skipped),
        (3, records(&results).len() / 2)
    );
}

/// The records of a result directory: relative path and bytes.
fn snapshot(root: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(root).unwrap().to_owned(), bytes));
            }
        }
    }
    files.sort();
    files
}

/// The metrics of every record, by path (wall times and memory differ between runs).
fn metrics(root: &std::path::Path) -> Vec<(PathBuf, serde_json::Value)> {
    result_files(root)
        .unwrap()
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .map(|f| {
            let value: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            (
                f.strip_prefix(root).unwrap().to_owned(),
                value["metrics"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_rerun_redoes_deleted_and_truncated_records_despite_job_markers() {
    let Some((models, data)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let options = SweepOptions::new(dir.path(), data);
    run(&spec(), &models, &options, &Quiet).unwrap();
    let before = metrics(dir.path());
    let records: Vec<PathBuf> = result_files(dir.path())
        .unwrap()
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .collect();
    std::fs::remove_file(&records[0]).unwrap();
    let text = std::fs::read(&records[5]).unwrap();
    std::fs::write(&records[5], &text[..text.len() / 2]).unwrap();

    let again = run(&spec(), &models, &options, &Quiet).unwrap();
    assert_eq!(again.failed, Vec::<String>::new());
    assert!(again.run >= 1, "{again:?}");
    assert_eq!(metrics(dir.path()), before);
    let third = run(&spec(), &models, &options, &Quiet).unwrap();
    assert_eq!((third.run, third.skipped), (0, 3));
}

/// A catalog whose `static-tokenlearn` is a copy of the real one with one
/// weight changed: another model under the same id.
fn altered_catalog(root: &std::path::Path) -> Models {
    let source = workspace().join("models/static-tokenlearn");
    let copy = root.join("static-tokenlearn");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    let weights = copy.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&weights, bytes).unwrap();
    let catalog = root.join("models.toml");
    std::fs::write(
        &catalog,
        "[[model]]\nid = \"static-tokenlearn\"\nbackend = \"static\"\npath = \"static-tokenlearn\"\n",
    )
    .unwrap();
    Models::from_file(&catalog).unwrap()
}

#[test]
fn records_of_another_model_under_the_same_id_are_redone() {
    let Some((models, data)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let options = SweepOptions::new(&dir.path().join("results"), data);
    run(&spec(), &models, &options, &Quiet).unwrap();
    let fingerprints = |root: &std::path::Path| -> std::collections::BTreeSet<String> {
        result_files(root)
            .unwrap()
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
            .map(|f| {
                let value: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
                value["model"]["fingerprint"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let first = fingerprints(&options.out);
    assert_eq!(first.len(), 1);

    let altered = altered_catalog(dir.path());
    let again = run(&spec(), &altered, &options, &Quiet).unwrap();
    assert_eq!((again.run, again.skipped), (3, 0));
    assert_eq!(again.cells_skipped, 0);
    let second = fingerprints(&options.out);
    assert_eq!(second.len(), 1);
    assert_ne!(first, second);
}

#[test]
fn a_failed_merge_leaves_the_target_as_it_was() {
    let Some((models, data)) = setup() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let shard = |index: usize, models: &Models| {
        let dir = root.path().join(format!("shard{index}"));
        let options = SweepOptions {
            shard: Some(Shard { index, count: 2 }),
            ..SweepOptions::new(&dir, data.clone())
        };
        run(&spec(), models, &options, &Quiet).unwrap();
        dir
    };
    let target = root.path().join("merged");
    merge(&target, &[shard(0, &models)]).unwrap();
    std::fs::create_dir_all(target.join("report")).unwrap();
    std::fs::write(target.join("report/REPORT.md"), "kept").unwrap();
    let before = snapshot(&target);

    // A shard of another model under the same id is refused.
    let altered = altered_catalog(root.path());
    let other = shard(1, &altered);
    let err = merge(&target, &[other]).unwrap_err().to_string();
    assert!(err.contains("another model"), "{err}");
    assert_eq!(snapshot(&target), before);

    // So is a malformed record, and a conflict; nothing is half-written.
    let good = root.path().join("good");
    merge(&good, &[shard(1, &models)]).unwrap();
    let broken = result_files(&good).unwrap()[0].clone();
    let text = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &text[..text.len() - 10]).unwrap();
    let err = merge(&target, std::slice::from_ref(&good))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid result file"), "{err}");
    assert_eq!(snapshot(&target), before);

    std::fs::write(&broken, &text).unwrap();
    let record = result_files(&target)
        .unwrap()
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let relative = record.strip_prefix(&target).unwrap();
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    value["metrics"]["accuracy"] = serde_json::json!(0.123);
    let conflicting = good.join(relative);
    std::fs::create_dir_all(conflicting.parent().unwrap()).unwrap();
    std::fs::write(&conflicting, value.to_string()).unwrap();
    let err = merge(&target, std::slice::from_ref(&good))
        .unwrap_err()
        .to_string();
    assert!(err.contains("disagree"), "{err}");
    assert_eq!(snapshot(&target), before);
    let leftovers: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    std::fs::remove_file(&conflicting).unwrap();

    // A record in another model's folder (or under another name) is refused
    // by name: its path must agree with its content (issue 24, #2).
    let original = result_files(&good)
        .unwrap()
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let misplaced = original.with_file_name("eng-xyz.k1.json");
    std::fs::write(&misplaced, std::fs::read(&original).unwrap()).unwrap();
    let err = merge(&target, std::slice::from_ref(&good))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("eng-xyz.k1.json") && err.contains("its content belongs at"),
        "{err}"
    );
    assert_eq!(snapshot(&target), before);
    std::fs::remove_file(&misplaced).unwrap();
    merge(&target, &[good]).unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("report/REPORT.md")).unwrap(),
        "kept"
    );
}

#[test]
fn specs_that_would_do_nothing_or_count_twice_are_refused() {
    let refuse = |edit: &dyn Fn(&mut SweepSpec), want: &str| {
        let mut spec = spec();
        edit(&mut spec);
        let err = spec.check().unwrap_err();
        assert!(err.contains(want), "{err}");
    };
    refuse(&|s| s.encoders.clear(), "nothing would run");
    refuse(
        &|s| {
            s.bitext = None;
            s.classification = None;
        },
        "no task",
    );
    refuse(
        &|s| s.bitext.as_mut().unwrap().ks = vec![1, 5, 1],
        "k = 1 is listed twice",
    );
    refuse(&|s| s.limit = Some(0), "limit 0");
    for (weights, want) in [
        (vec![1.0, -1.0], "weight 1 is -1"),
        (vec![0.0, 0.0], "every weight is 0"),
        (vec![f32::NAN, 1.0], "weight 0 is NaN"),
    ] {
        refuse(
            &|s| {
                s.ensembles = vec![miners_sweep::EnsembleSpec {
                    members: vec!["static-tokenlearn".into(), "static-tokenlearn".into()],
                    weights: weights.clone(),
                    z_score: false,
                    tune: None,
                }]
            },
            want,
        );
    }
}

#[test]
fn ensembles_that_differ_only_in_weights_are_different_jobs() {
    let Some((_, data)) = setup() else { return };
    let ensemble = |weights: Vec<f32>| miners_sweep::EnsembleSpec {
        members: vec!["static-tokenlearn".into(), "static-tokenlearn".into()],
        weights,
        z_score: false,
        tune: None,
    };
    let spec = SweepSpec {
        encoders: vec![],
        ensembles: vec![ensemble(vec![1.0, 1.0]), ensemble(vec![1.0, 0.5])],
        bitext: Some(TaskSpec {
            datasets: vec!["nusax".into()],
            ..TaskSpec::default()
        }),
        ..SweepSpec::default()
    };
    let names: Vec<String> = jobs(&spec, &data)
        .unwrap()
        .iter()
        .map(|j| j.name())
        .collect();
    assert_eq!(
        names,
        [
            "bitext.nusax.distfuse_static-tokenlearn_1+static-tokenlearn_1_.cross",
            "bitext.nusax.distfuse_static-tokenlearn_1+static-tokenlearn_0.5_.cross",
        ]
    );
}

#[test]
fn metrics_are_a_sweep_axis_and_name_their_records() {
    let Some((models, data)) = setup() else {
        return;
    };
    let spec = SweepSpec {
        ensembles: vec![miners_sweep::EnsembleSpec {
            members: vec!["static-tokenlearn".into(), "static-tokenlearn".into()],
            weights: vec![1.0, 0.5],
            z_score: false,
            tune: None,
        }],
        classification: None,
        metrics: vec![
            miners_sweep::Ranking::Euclidean,
            miners_sweep::Ranking::Cosine,
            miners_sweep::Ranking::Csls,
        ],
        ..spec()
    };
    let names: Vec<String> = miners_sweep::jobs(&spec, &data)
        .unwrap()
        .iter()
        .map(|j| j.name())
        .collect();
    // The single model and the ensemble (its members' cosine) rank three ways each.
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(
        names.iter().any(|n| n.contains("static-tokenlearn_csls")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.contains("distfuse") && n.contains("cosine"))
    );
    let out = tempfile::tempdir().unwrap();
    let summary = run(&spec, &models, &SweepOptions::new(out.path(), data), &Quiet).unwrap();
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let ids: std::collections::BTreeSet<String> = metrics(out.path())
        .iter()
        .map(|(path, _)| path.iter().nth(2).unwrap().to_string_lossy().into_owned())
        .collect();
    let want = [
        "distfuse_static-tokenlearn_1+static-tokenlearn_0.5_",
        "distfuse_static-tokenlearn_1+static-tokenlearn_0.5__cosine",
        "distfuse_static-tokenlearn_1+static-tokenlearn_0.5__csls10",
        "static-tokenlearn",
        "static-tokenlearn_cosine",
        "static-tokenlearn_cosine_csls10",
    ];
    assert_eq!(ids.iter().map(String::as_str).collect::<Vec<_>>(), want);
}

#[test]
fn tuned_ensembles_learn_their_weights_and_skip_bitext() {
    let Some((models, data)) = setup() else {
        return;
    };
    for by in [TuneBy::Dataset, TuneBy::Family] {
        let spec = SweepSpec {
            encoders: Vec::new(),
            ensembles: vec![miners_sweep::EnsembleSpec {
                members: vec!["static-tokenlearn".into(), "static-tokenlearn".into()],
                weights: vec![1.0, 1.0],
                z_score: false,
                tune: Some(by),
            }],
            ..spec()
        };
        let jobs = miners_sweep::jobs(&spec, &data).unwrap();
        assert!(
            jobs.iter()
                .all(|j| j.task == miners_eval::Task::Classification),
            "{jobs:?}"
        );
        let tuned_per = format!("tuned-per-{}", by.name());
        assert!(jobs[0].name().contains(&tuned_per), "{}", jobs[0].name());
        // LinCE SA scores its validation split: nothing to learn on there.
        let mut with_lince = spec.clone();
        with_lince
            .classification
            .as_mut()
            .unwrap()
            .datasets
            .push("lince_sa".into());
        let names: Vec<String> = miners_sweep::jobs(&with_lince, &data)
            .unwrap()
            .iter()
            .map(|j| j.name())
            .collect();
        assert_eq!(names, jobs.iter().map(|j| j.name()).collect::<Vec<_>>());
        // Unsharded, and in two shards that must learn the same weights.
        let whole = tempfile::tempdir().unwrap();
        let sharded = tempfile::tempdir().unwrap();
        let summary = run(
            &spec,
            &models,
            &SweepOptions::new(whole.path(), data.clone()),
            &Quiet,
        )
        .unwrap();
        assert!(summary.failed.is_empty(), "{:?}", summary.failed);
        for index in 0..2 {
            let options = SweepOptions {
                shard: Some(Shard { index, count: 2 }),
                ..SweepOptions::new(sharded.path(), data.clone())
            };
            let summary = run(&spec, &models, &options, &Quiet).unwrap();
            assert!(summary.failed.is_empty(), "{:?}", summary.failed);
        }
        let records = metrics(whole.path());
        assert_eq!(records, metrics(sharded.path()));
        assert!(!records.is_empty());
        for (path, _) in &records {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(whole.path().join(path)).unwrap())
                    .unwrap();
            // Identical members tie everywhere: the first weighting of the grid wins.
            assert_eq!(
                record["model"]["id"],
                format!("distfuse(static-tokenlearn*1+static-tokenlearn*0,{tuned_per})")
            );
            assert_eq!(record["model"]["tuned_by"], by.name());
            let note = record["model"]["tuned_on"].as_str().unwrap();
            assert!(note.contains("validation split of nusax"), "{note}");
            let lang = record["lang"]
                .as_str()
                .or(record["target_lang"].as_str())
                .unwrap();
            let group = match (by, lang) {
                (TuneBy::Dataset, _) => "all languages",
                (TuneBy::Family, "eng") => "Indo-European",
                (TuneBy::Family, _) => "Austronesian",
            };
            assert!(note.contains(&format!("({group}: ")), "{lang}: {note}");
        }
    }
}

/// A sweep expresses every ICL option: the demonstration selection, the
/// cross-lingual setting and a DistFuse retriever named as its records name
/// it; the job names and records of the default selection stay as they were.
#[test]
fn icl_jobs_carry_selection_setting_and_ensemble_retrievers() {
    let Some((_, data)) = setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let write = |selection: &str| {
        let path = dir.path().join("icl.toml");
        let text = format!(
            r#"encoders = []
[[ensembles]]
members = ["static-tokenlearn", "static-tokenlearn"]
weights = [1.0, 1.0]
[icl]
datasets = ["nusax"]
generators = ["smollm2-135m"]
retriever = "distfuse(static-tokenlearn*1+static-tokenlearn*1)"
settings = ["mono", "cross"]
{selection}
"#
        );
        std::fs::write(&path, text).unwrap();
        SweepSpec::read(&path)
    };
    let spec = write(r#"selection = { percentile = [50, 100] }"#).unwrap();
    let jobs = jobs(&spec, &data).unwrap();
    let names: Vec<String> = jobs.iter().map(|j| j.name()).collect();
    assert_eq!(
        names,
        [
            "icl.nusax.smollm2-135m+p50-100+distfuse_static-tokenlearn_1+static-tokenlearn_1_.mono",
            "icl.nusax.smollm2-135m+p50-100+distfuse_static-tokenlearn_1+static-tokenlearn_1_.cross",
        ]
    );
    let run = jobs[1].run_spec(None).unwrap();
    let miners_run::RunTask::Icl(icl) = &run.task else {
        panic!("an ICL run: {run:?}")
    };
    let window = miners_icl::Selection::Percentile {
        min: 50.0,
        max: 100.0,
    };
    assert_eq!(icl.selection, window);
    assert_eq!(icl.pool, miners_run::Pool::Cross { source: None });
    assert_eq!(run.retriever.encoders.len(), 2);

    // A list of selections: each its own jobs, in the order listed.
    let study = write(r#"selection = [{ percentile = [0, 100] }, { percentile = [90, 100] }]"#);
    let names = jobs_named(&study.unwrap(), &data);
    let prefixes: Vec<&str> = names
        .iter()
        .map(|n| &n[..n.find("+distfuse").unwrap()])
        .collect();
    assert_eq!(
        prefixes,
        [
            "icl.nusax.smollm2-135m+p0-100",
            "icl.nusax.smollm2-135m+p0-100",
            "icl.nusax.smollm2-135m+p90-100",
            "icl.nusax.smollm2-135m+p90-100",
        ]
    );
    let err = write(r#"selection = ["balanced", "balanced"]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("twice"), "{err}");
    let err = write("selection = []").unwrap_err().to_string();
    assert!(err.contains("no selection"), "{err}");

    let balanced = jobs_named(&write(r#"selection = "balanced""#).unwrap(), &data);
    assert!(
        balanced[0].starts_with("icl.nusax.smollm2-135m+balanced+distfuse"),
        "{balanced:?}"
    );
    let nearest = jobs_named(&write("").unwrap(), &data);
    assert!(
        nearest[0].starts_with("icl.nusax.smollm2-135m+distfuse"),
        "{nearest:?}"
    );
    let err = write(r#"selection = { percentile = [80, 20] }"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("percentile [80, 20]"), "{err}");
    let err = write(r#"selection = { percentile = [-5, 100] }"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("-5 is outside 0..=100"), "{err}");
}

fn jobs_named(spec: &SweepSpec, data: &DataDir) -> Vec<String> {
    jobs(spec, data).unwrap().iter().map(|j| j.name()).collect()
}

/// Needs libtorch: runs with the `torch` feature (as `cargo test --workspace` builds it).
#[cfg(feature = "torch")]
#[test]
fn fine_tuning_jobs_train_each_encoder_and_resume() {
    let Some((models, data)) = setup() else {
        return;
    };
    let tiny = workspace().join("fixtures/tiny-bert");
    let spec = SweepSpec {
        encoders: vec![tiny.to_string_lossy().into_owned()],
        finetune: Some(miners_sweep::FineTuneSweep {
            datasets: vec!["nusax".into()],
            langs: [("nusax".to_owned(), vec!["ind".to_owned(), "jav".to_owned()])].into(),
            settings: vec![Setting::Monolingual, Setting::CrossLingual],
            epochs: 1,
            seed: 42,
        }),
        limit: Some(16),
        ..SweepSpec::default()
    };
    let names: Vec<String> = jobs(&spec, &data)
        .unwrap()
        .iter()
        .map(|j| j.name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("finetune.nusax."), "{names:?}");
    assert!(names[1].ends_with(".cross"), "{names:?}");
    let out = tempfile::tempdir().unwrap();
    let options = SweepOptions::new(out.path(), data);
    let summary = run(&spec, &models, &options, &Quiet).unwrap();
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let record = out.path().join("finetune/nusax/tiny-bert/mono/jav.k0.json");
    let written = std::fs::metadata(&record).unwrap().modified().unwrap();
    // Crossing: one model trained on English scores both languages.
    let crossed = out.path().join("finetune/nusax/tiny-bert/cross");
    let cells: Vec<serde_json::Value> = ["eng-ind", "eng-jav"]
        .iter()
        .map(|c| {
            let text = std::fs::read_to_string(crossed.join(format!("{c}.k0.json"))).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    assert_eq!(cells[0]["finetune"], cells[1]["finetune"]);
    assert_eq!(cells[0]["source_lang"], "eng");
    // Run again: the jobs are done, nothing is trained or written.
    let again = run(&spec, &models, &options, &Quiet).unwrap();
    assert_eq!((again.run, again.skipped), (0, 2));
    assert_eq!(
        std::fs::metadata(&record).unwrap().modified().unwrap(),
        written
    );
    // Another recipe is another model: its cells are trained again, not resumed.
    let mut longer = spec.clone();
    longer.finetune.as_mut().unwrap().epochs = 2;
    let redone = run(&longer, &models, &options, &Quiet).unwrap();
    assert!(redone.failed.is_empty(), "{:?}", redone.failed);
    assert_eq!((redone.run, redone.cells_skipped), (2, 0));
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.contains("\"epochs\": 2"), "{text}");
}
