//! `miners data fetch --dataset <hub dataset>` from the Hub's parquet export,
//! served by a 127.0.0.1 Hub-protocol server from parquet files this test
//! writes in the documented schemas.

#[path = "../../miners-hub/tests/support/hub_server.rs"]
mod hub_server;

use std::{collections::BTreeMap, path::Path, process::Output, sync::Arc};

use hub_server::FixtureRepo;
use parquet::{
    basic::Compression,
    data_type::{ByteArray, ByteArrayType},
    file::{properties::WriterProperties, writer::SerializedFileWriter},
    schema::parser::parse_message_type,
};

/// A parquet file of string columns, snappy-compressed as the Hub's export is.
fn parquet(columns: &[(&str, Vec<&str>)]) -> Vec<u8> {
    let fields: String = columns
        .iter()
        .map(|(name, _)| format!("REQUIRED BYTE_ARRAY {name} (UTF8); "))
        .collect();
    let schema = Arc::new(parse_message_type(&format!("message schema {{ {fields}}}")).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut bytes = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut bytes, schema, props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    for (_, values) in columns {
        let mut column = group.next_column().unwrap().unwrap();
        let values: Vec<ByteArray> = values.iter().map(|v| ByteArray::from(*v)).collect();
        column
            .typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .unwrap();
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
    bytes
}

fn dataset_repo(id: &str, files: Vec<(&str, Vec<u8>)>) -> FixtureRepo {
    FixtureRepo {
        id: id.to_owned(),
        dataset: true,
        files: files
            .into_iter()
            .map(|(n, b)| (n.to_owned(), b))
            .collect::<BTreeMap<_, _>>(),
        branches: vec!["refs/convert/parquet".into()],
        token: None,
    }
}

fn fetch(work: &Path, endpoint: &str, dataset: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(["data", "fetch", "--out", "data", "--dataset", dataset])
        .current_dir(work)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", work.join("hf"))
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("MINERS_DATA_DIR")
        .output()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn hub_datasets_arrive_from_the_parquet_export_in_the_layout() {
    let bucc = parquet(&[
        ("sentence1", vec!["Guten Tag", "Bonjour\tà tous", "Danke"]),
        ("sentence2", vec!["Good day", "Hello all", "Thanks"]),
        ("lang", vec!["de-en", "fr-en", "de-en"]),
    ]);
    let intent = |text: &str, label: &str| {
        parquet(&[
            ("text", vec![text]),
            ("label", vec!["7"]),
            ("label_text", vec![label]),
        ])
    };
    let repos = vec![
        dataset_repo(
            "mteb/bucc-bitext-mining",
            vec![
                ("default/test/0000.parquet", bucc),
                ("README.md", b"x".to_vec()),
            ],
        ),
        dataset_repo(
            "mteb/mtop_intent",
            vec![
                ("en/train/0000.parquet", intent("wake me up", "alarm_set")),
                ("en/test/0000.parquet", intent("set an alarm", "alarm_set")),
                ("de/train/0000.parquet", intent("weck mich", "alarm_set")),
                (
                    "de/test/0000.parquet",
                    intent("wecker stellen", "alarm_set"),
                ),
            ],
        ),
    ];
    let server = hub_server::serve(repos.clone(), None);
    let work = tempfile::tempdir().unwrap();

    let output = fetch(work.path(), &server.url, "bucc");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let data = work.path().join("data");
    assert_eq!(
        read(&data.join("bucc/bitext/de-en.test.tsv")),
        "src\ttgt\nGuten Tag\tGood day\nDanke\tThanks\n"
    );
    assert_eq!(
        read(&data.join("bucc/bitext/fr-en.test.tsv")),
        "src\ttgt\nBonjour à tous\tHello all\n"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&data.join("bucc/manifest.json"))).unwrap();
    assert_eq!(manifest["source"]["commit"], repos[0].commit());
    assert_eq!(manifest["source"]["revision"], "refs/convert/parquet");
    assert_eq!(manifest["files"]["bitext/de-en.test.tsv"], 2);
    assert!(server.requests("README.md").is_empty());

    let output = fetch(work.path(), &server.url, "mtop_intent");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        read(&data.join("mtop_intent/classification/de.test.tsv")),
        "text\tlabel\nwecker stellen\talarm_set\n"
    );
    assert_eq!(
        read(&data.join("mtop_intent/classification/en.train.tsv")),
        "text\tlabel\nwake me up\talarm_set\n"
    );
    let index = read(&data.join("INDEX.json"));
    assert!(
        index.contains("\"bucc\"") && index.contains("\"mtop_intent\""),
        "{index}"
    );
}

#[test]
fn a_parquet_file_without_the_expected_columns_is_named() {
    let wrong = parquet(&[
        ("source", vec!["a"]),
        ("target", vec!["b"]),
        ("lang", vec!["de-en"]),
    ]);
    let repos = vec![dataset_repo(
        "mteb/bucc-bitext-mining",
        vec![("default/test/0000.parquet", wrong)],
    )];
    let server = hub_server::serve(repos, None);
    let work = tempfile::tempdir().unwrap();
    let output = fetch(work.path(), &server.url, "bucc");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("0000.parquet")
            && stderr.contains("no column `sentence1` (columns: source, target, lang)"),
        "{stderr}"
    );
    assert!(!work.path().join("data/bucc/manifest.json").exists());
}
