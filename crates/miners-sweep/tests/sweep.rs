//! A sweep built in code runs through the library API, resumes, and shards.

use std::path::PathBuf;

use miners_datasets::DataDir;
use miners_eval::{Quiet, Setting, Task};
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
    let relative = |root: &std::path::Path| -> Vec<PathBuf> {
        result_files(root)
            .unwrap()
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().to_owned())
            .collect()
    };
    assert_eq!(relative(&merged), relative(whole.path()));
}
