//! Fetching the pinned original files from a mirror: a directory laid out
//! like raw-file URLs (`../shared/sources`) and the same directory served
//! over HTTP on 127.0.0.1 by a small server that stops by itself.

mod support;

use std::path::Path;

use support::mirror::serve;

use miners_datasets::sources::{self, Mirror, SourceError};

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn a_directory_mirror_gives_the_pinned_files_and_a_rerun_fetches_nothing() {
    let Some(shared) = support::shared::shared("sources") else {
        return;
    };
    let dest = tempfile::tempdir().unwrap();
    let files = sources::of_dataset("nollysenti");
    let mirror = Mirror::Dir(shared.clone());
    let first = sources::fetch(&files, &mirror, dest.path(), &mut |_| {}).unwrap();
    assert_eq!((first.fetched, first.present), (21, 0));
    for file in &files {
        assert!(same_bytes(
            &dest.path().join(&file.path),
            &shared.join(&file.path)
        ));
    }
    let again = sources::fetch(&files, &mirror, dest.path(), &mut |_| {}).unwrap();
    assert_eq!((again.fetched, again.present), (0, 21));
}

#[test]
fn an_http_mirror_gives_the_same_files_and_an_interrupted_file_is_fetched_again() {
    let Some(shared) = support::shared::shared("sources") else {
        return;
    };
    let url = serve(shared.clone());
    let dest = tempfile::tempdir().unwrap();
    let files = sources::of_dataset("fire");
    // A download cut short earlier: a truncated file where the first one goes.
    let cut = dest.path().join(&files[0].path);
    std::fs::create_dir_all(cut.parent().unwrap()).unwrap();
    std::fs::write(&cut, b"half a fi").unwrap();
    let mut seen = 0;
    let fetched = sources::fetch(&files, &Mirror::parse(&url), dest.path(), &mut |_| {
        seen += 1
    })
    .unwrap();
    assert_eq!((fetched.fetched, seen), (6, 6));
    for file in &files {
        assert!(same_bytes(
            &dest.path().join(&file.path),
            &shared.join(&file.path)
        ));
    }
}

#[test]
fn a_wrong_checksum_names_the_file_and_both_hashes_and_writes_nothing() {
    let mirror = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let file = sources::of_dataset("phinc").remove(0);
    let served = mirror.path().join(&file.path);
    std::fs::create_dir_all(served.parent().unwrap()).unwrap();
    std::fs::write(&served, b"not the PHINC corpus").unwrap();
    let url = serve(mirror.path().to_owned());
    let err = sources::fetch(
        std::slice::from_ref(&file),
        &Mirror::parse(&url),
        dest.path(),
        &mut |_| {},
    )
    .unwrap_err();
    let SourceError::Checksum {
        ref path,
        ref expected,
        ref actual,
        ..
    } = err
    else {
        panic!("{err}");
    };
    assert_eq!((path, expected), (&file.path, &file.sha256));
    let text = err.to_string();
    assert!(
        text.contains(actual) && text.contains(expected) && text.contains(&file.path),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(dest.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn a_missing_file_on_the_mirror_is_an_error_naming_its_url() {
    let mirror = tempfile::tempdir().unwrap();
    let url = serve(mirror.path().to_owned());
    let file = sources::of_dataset("phinc").remove(0);
    let err = sources::fetch(
        &[file],
        &Mirror::parse(&url),
        tempfile::tempdir().unwrap().path(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("HTTP 404") && err.contains("phinc/train.tsv"),
        "{err}"
    );
}

#[test]
fn the_pinned_table_matches_the_shared_sources_manifest() {
    let Some(shared) = support::shared::shared("sources") else {
        return;
    };
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared.join("SOURCES.json")).unwrap())
            .unwrap();
    let listed: std::collections::BTreeMap<String, (String, u64)> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let entry = (
                f["sha256"].as_str().unwrap().to_owned(),
                f["bytes"].as_u64().unwrap(),
            );
            (f["path"].as_str().unwrap().to_owned(), entry)
        })
        .collect();
    let pinned = sources::pinned();
    for file in &pinned {
        assert_eq!(
            listed.get(&file.path),
            Some(&(file.sha256.clone(), file.bytes)),
            "{}",
            file.path
        );
    }
    let distinct: std::collections::BTreeSet<&str> =
        pinned.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        distinct.len(),
        listed.len(),
        "every shared source is pinned"
    );
}
