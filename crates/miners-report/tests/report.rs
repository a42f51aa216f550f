//! Aggregation follows the reference's averaging; reports are written whole.

use std::path::Path;

use miners_eval::ResultRecord;
use miners_eval::mining::{MiningResult, PrF1};
use miners_eval::packs::pack;
use miners_report::{
    csv, load_mining, load_records, markdown, mining, per_language, table2, table3, versus,
    write_report,
};
use serde_json::json;

#[allow(clippy::too_many_arguments)]
fn record(
    task: &str,
    dataset: &str,
    setting: &str,
    model: &str,
    cell: (&str, Option<&str>),
    k: usize,
    accuracy: f64,
    f1: f64,
) -> ResultRecord {
    let mut value = json!({
        "schema": 2, "task": task, "dataset": dataset, "setting": setting,
        "model": {"id": model}, "metric": "euclidean", "k": k, "n": 10,
        "metrics": {"accuracy": accuracy, "precision": 0.0, "recall": 0.0, "f1": f1,
                    "averaging": "macro"},
        "seconds": 1.0,
    });
    match cell {
        (lang, None) => value["lang"] = json!(lang),
        (source, Some(target)) => {
            value["source_lang"] = json!(source);
            value["target_lang"] = json!(target);
        }
    }
    if dataset == "massive_substitute_slurp_en" {
        value["substitute_for"] = json!("massive_intent");
    }
    if task == "icl" {
        value["generator"] = json!({"id": "gen", "selection": {"type": "nearest"},
                                    "prompt": {"instruction": "x", "options": false}});
    }
    serde_json::from_value(value).unwrap()
}

fn records() -> Vec<ResultRecord> {
    vec![
        // NusaX classification uses macro-F1: mean(0.5, 0.6) = 55.00.
        record(
            "classification",
            "nusax",
            "mono",
            "m",
            ("ind", None),
            10,
            0.9,
            0.5,
        ),
        record(
            "classification",
            "nusax",
            "mono",
            "m",
            ("jav", None),
            10,
            0.9,
            0.6,
        ),
        // Elsewhere accuracy: 1/3 -> 33.33 (rounded before the column mean).
        record(
            "classification",
            "massive_substitute_slurp_en",
            "mono",
            "m",
            ("en", None),
            10,
            1.0 / 3.0,
            0.0,
        ),
        // Other k values do not count.
        record(
            "classification",
            "nusax",
            "mono",
            "m",
            ("ind", None),
            1,
            0.0,
            0.0,
        ),
        // Bitext uses F1 at k = 1.
        record(
            "bitext",
            "tatoeba",
            "cross",
            "m",
            ("eng", Some("fra")),
            1,
            0.9,
            0.8,
        ),
        record(
            "bitext",
            "phinc",
            "cs",
            "m",
            ("hing", Some("eng")),
            1,
            0.9,
            0.4,
        ),
        record("icl", "nusax", "mono", "m", ("ind", None), 0, 0.3, 0.2),
        record("icl", "nusax", "mono", "m", ("ind", None), 1, 0.5, 0.45),
        // Code-switched data counts as in-language; cross-lingual ICL does not.
        record("icl", "fire", "cs", "m", ("tamil", None), 0, 0.4, 0.1),
        record("icl", "fire", "cs", "m", ("tamil", None), 1, 0.6, 0.1),
        record(
            "icl",
            "nusax",
            "cross",
            "m",
            ("eng", Some("ind")),
            1,
            0.9,
            0.9,
        ),
    ]
}

#[test]
fn table2_averages_languages_then_datasets_then_settings() {
    let table = table2(&records());
    let row = &table.rows[0];
    let column = |name: &str| row[table.header.iter().position(|h| h == name).unwrap()].clone();
    assert_eq!(column("bitext cross-lingual"), json!(80.0));
    assert_eq!(column("bitext code-switched"), json!(40.0));
    assert_eq!(column("bitext avg"), json!(60.0));
    // (55.00 + 33.33) / 2 = 44.165 -> 44.17 (44.16 in binary floating point is also
    // acceptable, so compare with a tolerance).
    let mono = column("classification monolingual").as_f64().unwrap();
    assert!((mono - 44.17).abs() < 0.011, "{mono}");
    assert!(column("classification cross-lingual").is_null());
    let notes = table.notes.join("\n");
    assert!(
        notes.contains("massive_substitute_slurp_en (substitute for massive_intent)"),
        "{notes}"
    );
}

#[test]
fn fine_tuned_scores_stand_beside_retrieval_and_the_best_icl_over_their_languages() {
    let mut all = records();
    // Fine-tuned on ind alone: kNN and ICL count ind alone too (jav's 0.6 is left out).
    all.push(record(
        "finetune",
        "nusax",
        "mono",
        "m",
        ("ind", None),
        0,
        0.8,
        0.7,
    ));
    // A second generator, worse at 1-shot: the best one is named.
    let mut worse = record("icl", "nusax", "mono", "m", ("ind", None), 1, 0.1, 0.1);
    worse.generator.as_mut().unwrap().id = "weak".into();
    all.push(worse);
    // An encoder no ICL run retrieved with: its ICL cells say so.
    all.push(record(
        "finetune",
        "nusax",
        "mono",
        "other",
        ("ind", None),
        0,
        0.6,
        0.5,
    ));
    assert!(versus(&records()).is_none());
    let table = versus(&all).unwrap();
    assert_eq!(
        table.rows,
        vec![
            vec![
                json!("nusax"),
                json!("m"),
                json!(1),
                json!(50.0),
                json!(45.0),
                json!("gen / m (logprob)"),
                json!(70.0)
            ],
            vec![
                json!("nusax"),
                json!("other"),
                json!(1),
                json!(null),
                json!(null),
                json!(null),
                json!(50.0)
            ]
        ]
    );
    // Fine-tuning has no k, and its tables' titles say none.
    let titles: Vec<String> = per_language(&all).into_iter().map(|t| t.title).collect();
    assert!(
        titles.contains(&"finetune nusax (mono), per cell".to_owned()),
        "{titles:?}"
    );
    // Fine-tuning records stay out of Table 2.
    assert_eq!(table2(&all).rows, table2(&records()).rows);
}

#[test]
fn table3_reports_zero_and_one_shot() {
    let table = table3(&records());
    assert_eq!(table.header[1], "fire 0-shot");
    assert_eq!(table.header[3], "nusax 0-shot");
    assert_eq!(table.rows[0][0], json!("gen / m (logprob)"));
    // FIRE by accuracy, NusaX by macro-F1; the cross-lingual 0.9 is left out.
    let text = markdown(&table);
    assert!(
        text.contains("| gen / m (logprob) | 40.00 | 60.00 | 20.00 | 45.00 | 30.00 | 52.50 |"),
        "{text}"
    );
    assert!(csv(&table).starts_with("generator / retriever,fire 0-shot"));
}

#[test]
fn reports_round_trip_through_record_files() {
    let dir = tempfile::tempdir().unwrap();
    for r in records() {
        r.write(dir.path()).unwrap();
    }
    let loaded = load_records(dir.path()).unwrap();
    assert_eq!(loaded.len(), records().len());
    let out = dir.path().join("report");
    let summary = write_report(&loaded, &[], &out).unwrap();
    assert!(summary.tables >= 4);
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("Table 2") && report.contains("Table 3"));
    assert!(out.join("tables/table2.csv").is_file());
    // The report directory inside the results is not read back as records.
    assert_eq!(load_records(dir.path()).unwrap().len(), records().len());
    std::fs::write(dir.path().join("bitext/broken.k1.json"), "{").unwrap();
    let err = load_records(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("broken.k1.json") && err.contains("not a result record"),
        "{err}"
    );
}

/// Writes `edit`ed copies of one record and returns what loading says.
fn load_error(edit: impl Fn(&mut serde_json::Value)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = records()[0].write(dir.path()).unwrap();
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, value.to_string()).unwrap();
    load_records(dir.path()).unwrap_err().to_string()
}

#[test]
fn unknown_schemas_and_scores_outside_the_unit_interval_are_refused() {
    let err = load_error(|v| v["schema"] = json!(99));
    assert!(err.contains("schema 99"), "{err}");
    let err = load_error(|v| v["schema"] = json!(0));
    assert!(err.contains("schema 0"), "{err}");
    let err = load_error(|v| v["metrics"]["f1"] = json!(1.5));
    assert!(err.contains("metrics.f1 = 1.5 is outside [0, 1]"), "{err}");
    let err = load_error(|v| v["metrics"]["accuracy"] = json!(-0.1));
    assert!(err.contains("metrics.accuracy"), "{err}");
    let err = load_error(|v| v["k"] = json!(0));
    assert!(err.contains("k = 0"), "{err}");
}

/// A second copy of a cell's record, under another file name or in another
/// folder, once entered Table 2's average (25.50 instead of 18.82): a
/// record's path must agree with its content, so a copy is refused by name
/// (issue 24, #2).
#[test]
fn a_record_whose_path_disagrees_with_its_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = records()[0].write(dir.path()).unwrap();
    assert_eq!(load_records(dir.path()).unwrap().len(), 1);
    let bytes = std::fs::read(&path).unwrap();
    for copy in [
        path.with_file_name("copy.k1.json"),
        path.parent()
            .unwrap()
            .join("old")
            .join(path.file_name().unwrap()),
        dir.path()
            .join("bitext/nusax/static2/cross")
            .join(path.file_name().unwrap()),
    ] {
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, &bytes).unwrap();
        let err = load_records(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&copy.display().to_string()) && err.contains("its content belongs at"),
            "{err}"
        );
        std::fs::remove_file(&copy).unwrap();
    }
    assert_eq!(load_records(dir.path()).unwrap().len(), 1);
}

/// A record's `dataset` or language once steered where the report wrote
/// (`"dataset": "/../../../../tmp/x"` wrote `/tmp/x-cross.md`); names that
/// become file names must be plain (issue 24, #5).
#[test]
fn names_from_record_content_cannot_leave_the_report() {
    for (field, value) in [
        ("dataset", "/../../../../tmp/x"),
        ("dataset", ".."),
        ("lang", "a/b"),
        ("dataset", ""),
    ] {
        let err = load_error(|v| v[field] = json!(value));
        assert!(
            err.contains(&format!("{field} `{value}` is not a plain name")),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mining/x/e5-small/de-en.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut result = mined("e5-small", "de-en", 0.9);
    result.dataset = "../../x".into();
    std::fs::write(&file, serde_json::to_string(&result).unwrap()).unwrap();
    let err = load_mining(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("dataset `../../x` is not a plain name"),
        "{err}"
    );
}

#[test]
fn records_of_one_id_from_different_models_are_not_averaged() {
    let mut records = records();
    let model = records[0].model.id.clone();
    let other = (1..records.len())
        .find(|&i| records[i].model.id == model)
        .unwrap();
    for (i, r) in records.iter_mut().enumerate() {
        r.model.fingerprint = Some(if i == other { "bbbb" } else { "aaaa" }.into());
    }
    let out = tempfile::tempdir().unwrap();
    let err = write_report(&records, &[], out.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("records of `{model}` come from different models")),
        "{err}"
    );
    assert!(err.contains("aaaa") && err.contains("bbbb"), "{err}");
    for r in &mut records {
        r.model.fingerprint = Some("aaaa".into());
    }
    write_report(&records, &[], out.path()).unwrap();
}

#[test]
fn the_ablation_has_a_row_per_ranking_and_names_the_best() {
    let bitext = |model: &str, f1: f64| {
        record(
            "bitext",
            "nusax",
            "cross",
            model,
            ("eng", Some("ind")),
            1,
            f1,
            f1,
        )
    };
    let records = vec![
        bitext("m", 0.5),
        bitext("m~cosine", 0.5),
        bitext("m~csls10", 0.7),
        bitext("m~dot", 0.7),
        bitext("other", 0.9),
    ];
    let tables = miners_report::ablation(&records);
    assert_eq!(tables.len(), 1, "only m ran under several rankings");
    let table = &tables[0];
    assert_eq!(table.name, "ablation-m");
    let names: Vec<&str> = table.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(names, ["euclidean", "cosine", "csls10", "dot", "best"]);
    let column = table
        .header
        .iter()
        .position(|h| h == "bitext cross-lingual")
        .unwrap();
    assert_eq!(table.rows[2][column], json!(70.0));
    // Ties are named together.
    assert_eq!(table.rows[4][column], json!("csls10 = dot"));
}

#[test]
fn reversed_bitext_stays_out_of_table2_and_fills_the_directions_table() {
    let forward = record(
        "bitext",
        "nusax",
        "cross",
        "m",
        ("eng", Some("ind")),
        1,
        0.8,
        0.6,
    );
    let mut reversed = record(
        "bitext",
        "nusax",
        "cross",
        "m",
        ("ind", Some("eng")),
        1,
        0.6,
        0.4,
    );
    reversed.reversed = true;
    let records = vec![forward, reversed];
    let table = table2(&records);
    let column = table
        .header
        .iter()
        .position(|h| h == "bitext cross-lingual")
        .unwrap();
    assert_eq!(table.rows[0][column], json!(60.0));
    let both = miners_report::directions(&records).unwrap();
    assert_eq!(
        both.rows[0][1..],
        [
            json!(60.0),
            json!(40.0),
            json!(50.0),
            json!(20.0),
            json!(40.0),
            json!(30.0)
        ]
    );
    assert!(miners_report::directions(&records[..1]).is_none());
}

fn mined(model: &str, pair: &str, f1: f64) -> MiningResult {
    let scores = PrF1 {
        precision: f1,
        recall: f1,
        f1,
    };
    MiningResult {
        dataset: "flores_bucc_substitute".into(),
        pair: pair.into(),
        model: model.into(),
        sentences: 1004,
        seed: 0,
        mutual: 900,
        threshold: 0.5,
        tune: scores,
        test: scores,
    }
}

#[test]
fn mining_has_a_row_per_retriever_and_names_the_best() {
    let results = [
        mined("e5-small", "de-en", 0.9),
        mined("e5-small", "fr-en", 0.8),
        mined("e5-small~cosine~margin_ratio4", "de-en", 0.95),
        mined("e5-small~cosine~margin_ratio4", "fr-en", 0.7),
    ];
    let tables = mining(&results);
    assert_eq!(tables.len(), 1);
    let text = markdown(&tables[0]);
    assert!(
        text.contains("| retriever | de-en F1 | fr-en F1 | mean P | mean R | mean F1 |"),
        "{text}"
    );
    assert!(
        text.contains("| e5-small | 90.00 | 80.00 | 85.00 | 85.00 | 85.00 |"),
        "{text}"
    );
    assert!(
        text.contains(
            "| best | e5-small~cosine~margin_ratio4 | e5-small | e5-small | e5-small | e5-small |"
        ),
        "{text}"
    );
}

#[test]
fn mining_results_round_trip_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load_mining(dir.path()).unwrap().is_empty());
    let file = dir
        .path()
        .join("mining/flores_bucc_substitute/e5-small/de-en.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let result = mined("e5-small", "de-en", 0.9);
    std::fs::write(&file, serde_json::to_string(&result).unwrap()).unwrap();
    assert_eq!(load_mining(dir.path()).unwrap(), vec![result.clone()]);
    let out = dir.path().join("report");
    write_report(&records(), std::slice::from_ref(&result), &out).unwrap();
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(
        report.contains("Bitext mining: flores_bucc_substitute"),
        "{report}"
    );
    assert!(
        out.join("tables/mining-flores_bucc_substitute.csv")
            .is_file()
    );
    let mut bad = serde_json::to_value(&result).unwrap();
    bad["test"]["recall"] = json!(1.5);
    std::fs::write(&file, bad.to_string()).unwrap();
    let err = load_mining(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("de-en.json") && err.contains("test.recall = 1.5 is outside [0, 1]"),
        "{err}"
    );
    std::fs::write(&file, "{").unwrap();
    let err = load_mining(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("de-en.json") && err.contains("not a result record"),
        "{err}"
    );
}

#[test]
fn learned_weights_share_one_row_across_datasets() {
    let tuned = |dataset: &str, id: &str, f1: f64| {
        let mut r = record(
            "classification",
            dataset,
            "mono",
            id,
            ("ind", None),
            10,
            f1,
            f1,
        );
        r.model.tuned_by = Some(miners_eval::tune::TuneBy::Family);
        r
    };
    let records = [
        tuned("nusax", "distfuse(a*1+b*0,tuned-per-family)", 0.6),
        tuned("nollysenti", "distfuse(a*0.3+b*0.7,tuned-per-family)", 0.8),
        record(
            "classification",
            "nusax",
            "mono",
            "distfuse(a*1+b*1)",
            ("ind", None),
            10,
            0.5,
            0.5,
        ),
    ];
    let table = table2(&records);
    let names: Vec<&str> = table.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["distfuse(a*1+b*1)", "distfuse(a+b,tuned-per-family)"]
    );
    // Its monolingual column averages both datasets: (60 + 80) / 2.
    assert_eq!(table.rows[1][4], json!(70.0), "{:?}", table.rows[1]);
}

/// A result directory packed into records of record reads back as the same
/// records and mining results, makes the same report byte for byte, writes
/// the fields a pack's lines share once, and refuses a line out of its
/// folder, a result given twice, a broken line and a shared field given
/// again, by pack file and line.
#[test]
fn packed_records_read_as_their_result_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (results, packs) = (dir.path().join("results"), dir.path().join("packs"));
    for r in records() {
        r.write(&results).unwrap();
    }
    // A mining folder is named after its model, dots and all.
    let result = mined("distfuse(e5-small*1+minilm-l6*0.5)", "de-en", 0.9);
    result.write(&results).unwrap();
    let summary = pack(&results, &packs).unwrap();
    assert_eq!(summary.files, records().len() + 1);
    let mining = packs.join("mining/flores_bucc_substitute");
    assert!(!mining.join("distfuse_e5-small_1+minilm-l6_0.5_").exists());
    assert!(
        mining
            .join("distfuse_e5-small_1+minilm-l6_0.5_.jsonl")
            .is_file()
    );
    assert_eq!(
        load_records(&packs).unwrap(),
        load_records(&results).unwrap()
    );
    assert_eq!(load_mining(&packs).unwrap(), vec![result]);
    let report = |from: &Path, to: &Path| {
        write_report(
            &load_records(from).unwrap(),
            &load_mining(from).unwrap(),
            to,
        )
        .unwrap();
        std::fs::read(to.join("REPORT.md")).unwrap()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert_eq!(report(&results, &a), report(&packs, &b));

    let refused = |contents: String, target: &Path| {
        let kept = std::fs::read_to_string(target).unwrap();
        std::fs::write(target, contents).unwrap();
        let err = load_records(&packs).unwrap_err().to_string();
        std::fs::write(target, kept).unwrap();
        err
    };

    // The fields a pack's lines share are written once, first; a line may
    // not give one again.
    let nusax = packs.join("classification/nusax/m/mono.jsonl");
    let text = std::fs::read_to_string(&nusax).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with(r#"{"shared":{"#) && lines[0].contains(r#""dataset":"nusax""#));
    assert!(
        lines[1..].iter().all(|l| !l.contains(r#""dataset""#)),
        "{text}"
    );
    let whole = serde_json::to_string(&records()[0]).unwrap();
    let err = refused(format!("{text}{whole}\n"), &nusax);
    assert!(
        err.contains("mono.jsonl:5") && err.contains("which the pack's first line shares"),
        "{err}"
    );

    // Packing again removes a folder's pack once the folder is gone.
    assert!(nusax.is_file());
    std::fs::remove_dir_all(results.join("classification/nusax/m/mono")).unwrap();
    assert_eq!(pack(&results, &packs).unwrap().removed, 1);
    assert!(!nusax.exists());

    // A line in another folder's pack, the same line twice, a broken line.
    let (pack_file, other) = (
        packs.join("bitext/tatoeba/m/cross.jsonl"),
        packs.join("classification/massive_substitute_slurp_en/m/mono.jsonl"),
    );
    let text = std::fs::read_to_string(&pack_file).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    let moved = format!("{}{first}\n", std::fs::read_to_string(&other).unwrap());
    let err = refused(moved, &other);
    assert!(
        err.contains("mono.jsonl:") && err.contains("belongs in bitext/tatoeba/m/cross"),
        "{err}"
    );
    let err = refused(format!("{text}{first}\n"), &pack_file);
    assert!(
        err.contains("cross.jsonl:") && err.contains("the same result as"),
        "{err}"
    );
    let err = refused(format!("{text}{{\n"), &pack_file);
    let line = text.lines().count() + 1;
    assert!(err.contains(&format!("cross.jsonl:{line}")), "{err}");
    // A cell both as a file and in a pack is given twice.
    let tatoeba = records().into_iter().find(|r| r.dataset == "tatoeba");
    tatoeba.unwrap().write(&packs).unwrap();
    let err = load_records(&packs).unwrap_err().to_string();
    assert!(err.contains("given both as a file and in a pack"), "{err}");
}

/// k-curves tick only the k that were run and keep long names apart;
/// scatters name every colour they draw, the rarest categories together as
/// "other".
#[test]
fn plots_tick_the_k_run_and_name_every_colour() {
    let dir = tempfile::tempdir().unwrap();
    let curve = dir.path().join("k.svg");
    let mut curves = std::collections::BTreeMap::new();
    curves.insert("m".to_owned(), vec![(1, 50.0), (5, 60.0), (10, 65.0)]);
    miners_report::k_curve_svg(&curve, "t", &curves).unwrap();
    let svg = std::fs::read_to_string(&curve).unwrap();
    for k in ["1", "5", "10"] {
        assert!(svg.contains(&format!(">\n{k}\n</text>")), "{k}: {svg}");
    }
    assert!(!svg.contains(">\n2\n</text>") && !svg.contains(">\n0\n</text>"));
    // Long names sharing a prefix keep their ends in the legend.
    let mut curves = std::collections::BTreeMap::new();
    for by in ["dataset", "family"] {
        let name = format!("distfuse(e5-small+minilm-l6,tuned-per-{by})");
        curves.insert(name, vec![(1, 50.0), (5, 60.0)]);
    }
    miners_report::k_curve_svg(&curve, "t", &curves).unwrap();
    let svg = std::fs::read_to_string(&curve).unwrap();
    assert!(
        svg.contains("per-dataset)") && svg.contains("per-family)"),
        "{svg}"
    );

    let scatter = dir.path().join("s.svg");
    let categories: Vec<String> = (0..25)
        .flat_map(|c| std::iter::repeat_n(format!("cat{c:02}"), 30 - c))
        .collect();
    let points: Vec<[f64; 2]> = (0..categories.len())
        .map(|i| [i as f64, (i % 7) as f64])
        .collect();
    miners_report::scatter_svg(&scatter, "t", &points, &categories).unwrap();
    let svg = std::fs::read_to_string(&scatter).unwrap();
    assert!(svg.contains("other (8 categories)"), "{svg}");
    assert!(svg.contains("cat00") && svg.contains("cat16") && !svg.contains("cat17"));
}

/// The percentile study gets the reference's table: a row per retriever, a
/// column per window, the languages averaged, then the windows.
#[test]
fn percentile_windows_get_their_table() {
    let windowed = |model: &str, lang: &str, window: (f64, f64), f1: f64| {
        let mut value = serde_json::to_value(record(
            "icl",
            "nusax",
            "mono",
            model,
            (lang, None),
            1,
            0.5,
            f1,
        ))
        .unwrap();
        value["generator"]["selection"] =
            json!({"type": "percentile", "min": window.0, "max": window.1});
        serde_json::from_value::<ResultRecord>(value).unwrap()
    };
    let records = vec![
        windowed("e5", "ind", (0.0, 100.0), 0.4),
        windowed("e5", "jav", (0.0, 100.0), 0.6),
        windowed("e5", "ind", (50.0, 100.0), 0.7),
        windowed("labse", "ind", (50.0, 100.0), 0.3),
        record("icl", "nusax", "mono", "e5", ("ind", None), 1, 0.5, 0.9),
    ];
    let tables = miners_report::percentiles(&records);
    assert_eq!(tables.len(), 1);
    let text = markdown(&tables[0]);
    assert!(
        text.contains("| retriever | p0-100 | p50-100 | avg |"),
        "{text}"
    );
    assert!(text.contains("| e5 | 50.00 | 70.00 | 60.00 |"), "{text}");
    assert!(text.contains("| labse | – | 30.00 | 30.00 |"), "{text}");
    assert_eq!(tables[0].name, "icl-percentile-nusax-mono-gen-logprob-k1");
    // In a report the windows have that table alone: the ICL tables keep
    // the nearest demonstrations' system only.
    let dir = tempfile::tempdir().unwrap();
    write_report(&records, &[], dir.path()).unwrap();
    let tables = dir.path().join("tables");
    let cells = std::fs::read_to_string(tables.join("icl-nusax-mono.md")).unwrap();
    assert!(
        !cells.contains("p0-100") && !cells.contains("p50-100"),
        "{cells}"
    );
    let study = tables.join("icl-percentile-nusax-mono-gen-logprob-k1.md");
    assert!(std::fs::read_to_string(study).unwrap().contains("p50-100"));
}

/// SIB-200-style languages (`eng_Latn`) get box plots by family and by
/// script, a box per k, named in REPORT.md; a retriever under another
/// ranking (`m~csls10`) gets no box plot and no k-curve.
#[test]
fn languages_that_name_their_script_get_box_plots_by_family_and_script() {
    let langs = [
        "eng_Latn", "fra_Latn", "deu_Latn", "hin_Deva", "ben_Beng", "zho_Hans", "arb_Arab",
        "heb_Hebr", "yor_Latn", "swh_Latn", "ind_Latn", "jav_Latn", "tam_Taml", "jpn_Jpan",
    ];
    let mut records = Vec::new();
    for (i, lang) in langs.iter().enumerate() {
        for (k, bump) in [(1, 0.0), (5, 0.05), (10, 0.08)] {
            let score = 0.3 + 0.04 * i as f64 + bump;
            for model in ["m", "m~csls10"] {
                records.push(record(
                    "classification",
                    "sib200",
                    "mono",
                    model,
                    (lang, None),
                    k,
                    score,
                    score,
                ));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_report(&records, &[], dir.path()).unwrap();
    let plots = dir.path().join("plots");
    let boxes = std::fs::read_dir(&plots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("box-")
        })
        .count();
    assert_eq!(boxes, 2);
    let curve =
        std::fs::read_to_string(plots.join("kcurve-classification-sib200-mono.svg")).unwrap();
    assert!(
        curve.contains(">\nm\n</text>") && !curve.contains("csls10"),
        "{curve}"
    );
    let family = std::fs::read_to_string(plots.join("box-sib200-mono-m-family.svg")).unwrap();
    let script = std::fs::read_to_string(plots.join("box-sib200-mono-m-script.svg")).unwrap();
    for group in [
        "Indo-European",
        "Atlantic-Congo",
        "Austronesian",
        "Sino-Tibetan",
    ] {
        assert!(family.contains(group), "{group}");
    }
    for group in ["Latn", "Deva", "Hans", "Arab", "Jpan"] {
        assert!(script.contains(&format!(">\n{group}\n</text>")), "{group}");
    }
    assert!(script.contains("k = 1") && script.contains("k = 10"));
    let report = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
    assert!(report.contains("## Per-language scores by language family and by script"));
    assert!(report.contains("(plots/box-sib200-mono-m-script.svg)"));
}
