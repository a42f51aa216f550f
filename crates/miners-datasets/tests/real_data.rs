//! Loads the real MINERS data (skipped with a message when it is absent).

use miners_core::Lang;
use miners_datasets::{DataDir, Dataset, DatasetError, Pair, Split};

fn data() -> Option<DataDir> {
    let dir = DataDir::resolve(None).or_else(|_| {
        DataDir::resolve(Some(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/miners").as_ref(),
        ))
    });
    match dir {
        Ok(d) => Some(d),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI must have the data: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

#[test]
fn nusax_bitext_scores_the_train_split() {
    let Some(data) = data() else { return };
    let nusax = Dataset::open(&data, "nusax").unwrap();
    let pairs = nusax.bitext_pairs().unwrap();
    assert_eq!(pairs.len(), 11);
    assert!(pairs.iter().all(|p| p.source.as_str() == "eng"));
    let bitext = nusax.load_bitext(&pairs[0], None).unwrap();
    assert_eq!(bitext.len(), 500);
}

#[test]
fn lince_mt_merges_train_and_validation() {
    let Some(data) = data() else { return };
    let lince = Dataset::open(&data, "lince_mt").unwrap();
    let pair = Pair {
        source: "eng".into(),
        target: "hinglish".into(),
    };
    assert_eq!(lince.load_bitext(&pair, None).unwrap().len(), 9002);
    assert_eq!(lince.load_bitext(&pair, Some(8100)).unwrap().len(), 8100);
}

#[test]
fn nollysenti_bitext_uses_the_400_subsets() {
    let Some(data) = data() else { return };
    let pairs = Dataset::open(&data, "nollysenti")
        .unwrap()
        .bitext_pairs()
        .unwrap();
    let names: Vec<String> = pairs.iter().map(Pair::to_string).collect();
    assert_eq!(names, ["en400-ha", "en400-ig", "en400-pcm", "en400-yo400"]);
}

#[test]
fn fire_keeps_not_tamil_as_the_reference_does_unless_folded() {
    let Some(data) = data() else { return };
    let fire = Dataset::open(&data, "fire").unwrap();
    let tamil = Lang::from("tamil");
    let train = fire
        .load_classification(&tamil, Split::Train, None)
        .unwrap();
    assert_eq!(train.texts.len(), 11335);
    assert!(train.labels.iter().any(|l| l.as_str() == "not-Tamil"));
    assert_eq!(fire.name(), "fire");
    assert_eq!(
        fire.candidate_labels().unwrap(),
        ["Positive", "Negative", "Mixed", "Unknown"]
    );

    let folded = fire.with_label_option("fold-not-tamil").unwrap();
    assert_eq!(folded.name(), "fire+fold-not-tamil");
    let train = folded
        .load_classification(&tamil, Split::Train, None)
        .unwrap();
    assert!(train.labels.iter().all(|l| l.as_str() != "not-Tamil"));
    let fire = Dataset::open(&data, "fire").unwrap();
    let err = fire.with_label_option("fold-all").unwrap_err().to_string();
    assert!(
        err.contains("no label option `fold-all` (it has: fold-not-tamil)"),
        "{err}"
    );
}

#[test]
fn icl_candidates_are_the_references_lists_in_its_order() {
    let Some(data) = data() else { return };
    let candidates = |name: &str| {
        Dataset::open(&data, name)
            .unwrap()
            .candidate_labels()
            .unwrap()
    };
    assert_eq!(
        candidates("nollysenti"),
        ["negative", "neutral", "positive"]
    );
    assert_eq!(candidates("nusax"), ["negative", "neutral", "positive"]);
    assert_eq!(candidates("lince_sa"), ["negative", "neutral", "positive"]);
    // The order the reference's own comment lists.
    assert_eq!(
        candidates("sib200"),
        [
            "geography",
            "science/technology",
            "entertainment",
            "politics",
            "health",
            "travel",
            "sports"
        ]
    );
    let massive = candidates("massive_substitute_slurp_en");
    assert!(massive.iter().all(|l| !l.contains('_')), "{massive:?}");
    let massive_set = Dataset::open(&data, "massive_substitute_slurp_en").unwrap();
    let pool = massive_set
        .load_classification(&Lang::from("en"), Split::Validation, None)
        .unwrap();
    assert!(pool.labels.iter().all(|l| !l.as_str().contains('_')));
    assert_eq!(massive.len(), massive_set.label_set().unwrap().len());
}

#[test]
fn lince_sa_tests_on_validation() {
    let Some(data) = data() else { return };
    let sa = Dataset::open(&data, "lince_sa").unwrap();
    let plan = sa.spec().classification.unwrap();
    assert_eq!((plan.pool, plan.test), (Split::Train, Split::Validation));
    assert_eq!(
        sa.classification_langs().unwrap(),
        vec![Lang::from("spaeng")]
    );
}

#[test]
fn substitutes_and_missing_datasets_say_so() {
    let Some(data) = data() else { return };
    let bucc = Dataset::open(&data, "flores_bucc_substitute").unwrap();
    assert_eq!(bucc.spec().substitute_for, Some("bucc"));
    let err = Dataset::open(&data, "mtop_intent").unwrap_err();
    assert!(matches!(err, DatasetError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("mtop_intent"));
}

#[test]
fn unknown_language_lists_the_available_ones() {
    let Some(data) = data() else { return };
    let nusax = Dataset::open(&data, "nusax").unwrap();
    let err = nusax
        .load_classification(&Lang::from("xx"), Split::Test, None)
        .unwrap_err();
    assert!(err.to_string().contains("ace, ban"), "{err}");
}

/// A scratch copy of the real NusaX (manifest and classification files).
fn nusax_copy(data: &DataDir) -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    let from = data.path().join("nusax");
    let to = scratch.path().join("nusax");
    std::fs::create_dir_all(to.join("classification")).unwrap();
    std::fs::copy(from.join("manifest.json"), to.join("manifest.json")).unwrap();
    for entry in std::fs::read_dir(from.join("classification")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            to.join("classification").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    scratch
}

#[test]
fn crlf_files_read_as_their_lf_originals_and_unknown_labels_are_named() {
    let Some(data) = data() else { return };
    let scratch = nusax_copy(&data);
    let copy = DataDir::new(scratch.path());
    let file = scratch.path().join("nusax/classification/jav.test.tsv");
    let original = Dataset::open(&copy, "nusax")
        .unwrap()
        .load_classification(&"jav".into(), Split::Test, None)
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    let crlf = Dataset::open(&copy, "nusax")
        .unwrap()
        .load_classification(&"jav".into(), Split::Test, None)
        .unwrap();
    assert_eq!(crlf, original);

    let broken = text.replacen("\tpositive\n", "\tpostive\n", 1);
    let line = text[..text.find("\tpositive\n").unwrap()].lines().count();
    std::fs::write(&file, broken).unwrap();
    let err = Dataset::open(&copy, "nusax")
        .unwrap()
        .load_classification(&"jav".into(), Split::Test, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "jav.test.tsv:{line}: label `postive` is not one of"
        )),
        "{err}"
    );
}

#[test]
fn a_missing_or_short_file_is_an_error_not_a_missing_language() {
    let Some(data) = data() else { return };
    let scratch = nusax_copy(&data);
    let copy = DataDir::new(scratch.path());
    let file = scratch.path().join("nusax/classification/ban.test.tsv");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let nusax = Dataset::open(&copy, "nusax").unwrap();
    assert_eq!(nusax.classification_langs().unwrap().len(), 12);
    let err = nusax
        .load_classification(&"ban".into(), Split::Test, None)
        .unwrap_err();
    assert!(matches!(err, DatasetError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("ban.test.tsv"), "{err}");
    // Other languages still load (what `--lang` relies on).
    nusax
        .load_classification(&"jav".into(), Split::Test, None)
        .unwrap();

    let short: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, short).unwrap();
    let err = nusax
        .load_classification(&"ban".into(), Split::Test, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("99 rows where manifest.json lists 400"),
        "{err}"
    );
    nusax
        .load_classification(&"ban".into(), Split::Test, Some(50))
        .unwrap();
}

/// A manifest's `files` entry that leaves the dataset's folder once made
/// bitext read and score a file outside the data directory (issue 24, #7).
#[test]
fn manifest_files_stay_inside_the_dataset_folder() {
    let Some(data) = data() else { return };
    let scratch = nusax_copy(&data);
    let copy = DataDir::new(scratch.path());
    let manifest = scratch.path().join("nusax/manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for entry in [
        "bitext/eng-x/../../../../tmp/x.train.tsv",
        "bitext/../x.test.tsv",
        "classification/.hidden.test.tsv",
        "other/x.test.tsv",
        "classification/",
        "classification/a\\b.test.tsv",
    ] {
        let mut planted = value.clone();
        planted["files"][entry] = 3.into();
        std::fs::write(&manifest, serde_json::to_string(&planted).unwrap()).unwrap();
        let Err(err) = Dataset::open(&copy, "nusax") else {
            panic!("`{entry}` was accepted");
        };
        let err = err.to_string();
        assert!(
            err.contains("manifest.json") && err.contains(&format!("`{entry}`")),
            "{err}"
        );
    }
    value["files"]["bitext/eng-x.train.tsv"] = 3.into();
    std::fs::write(&manifest, serde_json::to_string(&value).unwrap()).unwrap();
    Dataset::open(&copy, "nusax").unwrap();
}

#[test]
fn an_original_the_data_directory_lacks_opens_its_substitute() {
    let Some(data) = data() else { return };
    if data.path().join("bucc/manifest.json").is_file() {
        return;
    }
    let bucc = Dataset::open(&data, "bucc").unwrap();
    assert_eq!(bucc.spec().name, "flores_bucc_substitute");
    assert_eq!(bucc.spec().substitute_for, Some("bucc"));
    let massive = Dataset::open(&data, "massive_intent").unwrap();
    assert_eq!(massive.spec().name, "massive_substitute_slurp_en");
    assert!(matches!(
        Dataset::open(&data, "mtop_intent"),
        Err(DatasetError::Missing { .. })
    ));
}
