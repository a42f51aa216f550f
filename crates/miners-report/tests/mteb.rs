//! MTEB export and import: what is exported where, what is left out and
//! why, and that an export reads back as the records it came from.

use std::path::Path;

use miners_eval::ResultRecord;
use miners_report::mteb::{self, ExportOptions};
use serde_json::{Value, json};

/// A NusaX bitext record (eng → `target`, 500 pairs as MTEB has them).
fn bitext(model: &str, metric: &str, target: &str, k: usize, f1: f64) -> ResultRecord {
    serde_json::from_value(json!({
        "schema": 2, "task": "bitext", "dataset": "nusax", "setting": "cross",
        "model": {"id": model, "fingerprint": "ab12"}, "metric": metric,
        "source_lang": "eng", "target_lang": target, "k": k, "n": 500,
        "metrics": {"accuracy": 0.6, "precision": 0.5, "recall": 0.6, "f1": f1,
                    "averaging": "weighted", "recall_at_k": 0.6},
        "seconds": 2.0,
    }))
    .unwrap()
}

/// A SIB-200 classification record (204 test texts, as MTEB has them).
fn sib200(lang: &str, k: usize, n: usize) -> ResultRecord {
    serde_json::from_value(json!({
        "schema": 2, "task": "classification", "dataset": "sib200", "setting": "mono",
        "model": {"id": "e5-small", "fingerprint": "cd34"}, "metric": "euclidean",
        "lang": lang, "k": k, "n": n,
        "metrics": {"accuracy": 0.75, "precision": 0.7, "recall": 0.72, "f1": 0.71,
                    "averaging": "macro"},
        "seconds": 1.0,
    }))
    .unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bitext_at_k1_with_cosine_is_mteb_own_and_the_rest_are_experiments() {
    let dir = tempfile::tempdir().unwrap();
    let records = [
        bitext("e5-small~cosine", "cosine", "ace", 1, 0.53),
        bitext("e5-small~cosine", "cosine", "ban", 1, 0.61),
        bitext("e5-small", "euclidean", "ace", 1, 0.52),
        bitext("e5-small", "euclidean", "ace", 5, 0.70),
    ];
    let summary = mteb::export(&records, &ExportOptions::default(), dir.path()).unwrap();
    assert_eq!((summary.files, summary.records), (2, 3));
    assert_eq!(
        summary.skipped.values().sum::<usize>(),
        1,
        "{:?}",
        summary.skipped
    );

    let own = dir
        .path()
        .join("miners__e5-small/ab12/NusaXBitextMining.json");
    let result = read(&own);
    assert_eq!(result["task_name"], "NusaXBitextMining");
    assert_eq!(
        result["dataset_revision"],
        "6db681bd37d6827f8d132590429ce33a2af4c96e"
    );
    assert_eq!(result["evaluation_time"], 4.0);
    let scores = result["scores"]["train"].as_array().unwrap();
    assert_eq!(scores.len(), 2);
    assert_eq!(scores[0]["hf_subset"], "eng-ace");
    assert_eq!(scores[0]["languages"], json!(["eng-Latn", "ace-Latn"]));
    assert_eq!(scores[0]["main_score"], 0.53, "the main score is F1");
    let meta = read(&own.with_file_name("model_meta.json"));
    assert_eq!(meta["name"], "miners/e5-small");
    assert_eq!(meta["revision"], "ab12");
    assert_eq!(meta["similarity_fn_name"], "cosine");
    assert!(meta.get("experiment_kwargs").is_none());

    let experiment = dir
        .path()
        .join("miners__e5-small/ab12/experiments/metric_euclidean");
    let meta = read(&experiment.join("model_meta.json"));
    assert_eq!(meta["experiment_kwargs"], json!({"metric": "euclidean"}));
    assert_eq!(
        read(&experiment.join("NusaXBitextMining.json"))["scores"]["train"][0]["f1"],
        0.52
    );
}

#[test]
fn knn_classification_is_exported_only_when_asked_and_only_with_mteb_samples() {
    let records = [
        sib200("ace_Latn", 10, 204),
        sib200("ace_Latn", 5, 204),
        sib200("eng_Latn", 10, 100), // a limited run: not MTEB's data
        sib200("xyz_Latn", 10, 204), // not an MTEB subset
    ];
    let dir = tempfile::tempdir().unwrap();
    let summary = mteb::export(&records, &ExportOptions::default(), dir.path()).unwrap();
    assert_eq!(summary.files, 0);
    assert!(
        summary
            .skipped
            .keys()
            .any(|r| r.contains("logistic regression"))
    );

    let options = ExportOptions { knn_k: Some(10) };
    let summary = mteb::export(&records, &options, dir.path()).unwrap();
    assert_eq!(
        (summary.files, summary.records),
        (1, 1),
        "{:?}",
        summary.skipped
    );
    let file = dir.path().join(
        "miners__e5-small/cd34/experiments/classifier_knn__k_10__metric_euclidean/SIB200Classification.json",
    );
    let scores = &read(&file)["scores"]["test"][0];
    assert_eq!(scores["main_score"], 0.75, "the main score is accuracy");
    assert_eq!(scores["f1"], 0.71);
    assert_eq!(scores["languages"], json!(["ace-Latn"]));
}

#[test]
fn an_export_imports_back_as_its_records() {
    let records = vec![
        bitext("e5-small~cosine", "cosine", "ace", 1, 0.53),
        bitext("e5-small", "euclidean", "sun", 1, 0.52),
        sib200("ace_Latn", 10, 204),
    ];
    let dir = tempfile::tempdir().unwrap();
    let options = ExportOptions { knn_k: Some(10) };
    mteb::export(&records, &options, dir.path()).unwrap();
    let mut imported = mteb::import(dir.path()).unwrap().records;
    imported.sort_by_key(|r| r.path(Path::new("")));
    let mut expected: Vec<ResultRecord> = records;
    expected.sort_by_key(|r| r.path(Path::new("")));
    assert_eq!(imported.len(), 3);
    for (got, want) in imported.iter().zip(&expected) {
        assert_eq!(got.without_clocks().metrics, want.metrics);
        assert_eq!(got.model, want.model);
        assert_eq!(got.path(Path::new("")), want.path(Path::new("")));
        assert_eq!((got.k, got.n, got.metric), (want.k, want.n, want.metric));
    }
}

#[test]
fn mteb_own_files_import_with_the_model_from_their_folders() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("intfloat__multilingual-e5-small/fd15");
    std::fs::create_dir_all(&folder).unwrap();
    let scores = json!({"accuracy": 0.9, "precision": 0.8, "recall": 0.9, "f1": 0.85,
                        "main_score": 0.85, "hf_subset": "en-yo", "languages": ["eng-Latn", "yor-Latn"]});
    let missing = json!({"main_score": null, "hf_subset": "en-ha", "languages": []});
    let result = json!({"dataset_revision": "x", "task_name": "NollySentiBitextMining",
                        "mteb_version": "2.26.24", "scores": {"train": [scores, missing]},
                        "evaluation_time": 8.0});
    std::fs::write(
        folder.join("NollySentiBitextMining.json"),
        result.to_string(),
    )
    .unwrap();
    let other =
        json!({"task_name": "Banking77Classification", "scores": {}, "evaluation_time": 1.0});
    std::fs::write(
        folder.join("Banking77Classification.json"),
        other.to_string(),
    )
    .unwrap();

    let logistic = json!({"task_name": "SIB200Classification", "evaluation_time": 1.0,
                          "scores": {"test": [{"accuracy": 0.8, "main_score": 0.8,
                                               "hf_subset": "ace_Latn", "languages": []}]}});
    std::fs::write(
        folder.join("SIB200Classification.json"),
        logistic.to_string(),
    )
    .unwrap();
    let imported = mteb::import(dir.path()).unwrap();
    let skipped = |reason: &str| imported.skipped.get(reason).copied();
    assert_eq!(
        skipped("Banking77Classification: not a MINERS dataset (files)"),
        Some(1)
    );
    assert_eq!(
        skipped("NollySentiBitextMining: subsets without a main score"),
        Some(1)
    );
    let [record] = imported.records.as_slice() else {
        panic!("one record, not {:?}", imported.records)
    };
    assert_eq!(record.model.id, "intfloat/multilingual-e5-small~cosine");
    assert_eq!(record.model.fingerprint.as_deref(), Some("fd15"));
    assert_eq!(record.dataset, "nollysenti");
    assert_eq!(
        record.source_lang.as_deref(),
        Some("en400"),
        "MTEB's `en` is miners' en400"
    );
    assert_eq!(record.target_lang.as_deref(), Some("yo400"));
    assert_eq!((record.k, record.n), (1, 410));
    assert_eq!(record.metrics.f1, 0.85);
}

#[test]
fn a_broken_result_file_is_named_with_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("org__model/rev");
    std::fs::create_dir_all(&folder).unwrap();
    let scores = json!({"accuracy": 0.9, "precision": "high", "recall": 0.9, "f1": 0.85,
                        "main_score": 0.85, "hf_subset": "eng-ace", "languages": []});
    let result = json!({"task_name": "NusaXBitextMining", "scores": {"train": [scores]}});
    let path = folder.join("NusaXBitextMining.json");
    std::fs::write(&path, result.to_string()).unwrap();
    let message = mteb::import(dir.path()).unwrap_err().to_string();
    assert!(message.contains("NusaXBitextMining.json"), "{message}");
    assert!(message.contains("scores.train.precision"), "{message}");

    std::fs::write(&path, "{\"scores\": 3}").unwrap();
    let message = mteb::import(dir.path()).unwrap_err().to_string();
    assert!(message.contains("not an MTEB TaskResult"), "{message}");
}

#[test]
fn two_models_sharing_a_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let records = [
        bitext("e5 small", "euclidean", "ace", 1, 0.5),
        bitext("e5_small", "euclidean", "ban", 1, 0.5),
    ];
    let message = mteb::export(&records, &ExportOptions::default(), dir.path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("share this MTEB folder"), "{message}");
}
