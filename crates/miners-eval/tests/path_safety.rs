//! Names from input become paths safely: whatever an id, a language or a
//! cell holds (any unicode, `/`, `..`, NUL, names too long for a file
//! system, names that differ only in case), a record lands inside its
//! result directory, and two different cells never share a file silently:
//! either their paths differ, or the second write is refused and the first
//! record stays as it was (issue 24, path safety). Run through the public
//! APIs alone.

use std::path::{Component, Path};

use miners_eval::{CellKey, ResultRecord, Setting, Task, slug};
use proptest::prelude::*;
use serde_json::json;

/// Names as hostile input gives them.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("../../etc".to_owned()),
        Just("/abs".to_owned()),
        Just("a\0b".to_owned()),
        Just("Model".to_owned()),
        Just("model".to_owned()),
        Just("a/b".to_owned()),
        Just("a_b".to_owned()),
        Just("模型".to_owned()),
        Just("型模".to_owned()),
        "[a-zA-Z0-9_./\\\\~ -]{0,12}",
        any::<String>(),
        "[a-z]{300}",
    ]
}

/// A bitext record of `model` for the pair `source`-`target`.
fn record(model: &str, source: &str, target: &str) -> ResultRecord {
    serde_json::from_value(json!({
        "schema": 2, "task": "bitext", "dataset": "nusax", "setting": "cross",
        "model": {"id": model}, "metric": "euclidean", "k": 1, "n": 10,
        "source_lang": source, "target_lang": target,
        "metrics": {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5,
                    "averaging": "weighted"},
        "seconds": 1.0,
    }))
    .unwrap()
}

/// Whether `path` is `root` followed by plain components only.
fn stays_inside(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root)
        .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_slug_is_one_plain_file_name(id in name()) {
        let slug = slug(&id);
        prop_assert!(!slug.is_empty());
        prop_assert!(!slug.chars().all(|c| c == '.'), "{slug}");
        prop_assert!(!slug.contains(['/', '\\', '\0']), "{slug}");
    }

    #[test]
    fn a_cell_path_stays_inside_its_result_directory(
        model in name(),
        generator in proptest::option::of(name()),
        cell in name(),
    ) {
        let root = Path::new("/results");
        let key = CellKey {
            task: Task::Icl,
            dataset: "nusax".into(),
            generator,
            model,
            setting: Setting::Monolingual,
            cell,
        };
        let path = key.path(root, 1);
        prop_assert!(stays_inside(root, &path), "{}", path.display());
    }

    #[test]
    fn two_cells_never_share_a_file_silently(
        (a, b) in (name(), name()).prop_filter("two ids", |(a, b)| a != b),
        source in name(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let first = record(&a, &source, "ind");
        let second = record(&b, &source, "ind");
        let Ok(first_path) = first.write(dir.path()) else {
            // Refused (a name too long for the file system): nothing to keep.
            return Ok(());
        };
        prop_assert!(stays_inside(dir.path(), &first_path));
        let kept = std::fs::read(&first_path).unwrap();
        match second.write(dir.path()) {
            Ok(second_path) => {
                prop_assert!(stays_inside(dir.path(), &second_path));
                prop_assert_ne!(&first_path, &second_path);
            }
            Err(error) => prop_assert!(
                second.path(dir.path()) != first_path
                    || error.to_string().contains("give one of them another id"),
                "{error}"
            ),
        }
        prop_assert_eq!(std::fs::read(&first_path).unwrap(), kept);
    }
}
