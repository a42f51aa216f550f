//! DistFuse weights learned on the validation split never look at the test
//! split: with every test label changed, the same weights win with the same
//! scores; a dataset without a validation split is refused.

mod support;

use std::{path::PathBuf, sync::Arc};

use miners_core::{Embeddings, Lang};
use miners_datasets::{DataDir, Dataset};
use miners_encoders::{Encoder, EncoderError, Prompts, Role, StaticEncoder};
use miners_eval::{Quiet, Retriever, tune::tune_distfuse};
use miners_fusion::Normalization;

/// The static model with the second half of every vector zeroed: another
/// geometry, so that DistFuse weights change rankings.
struct HalfStatic(StaticEncoder);

impl Encoder for HalfStatic {
    fn id(&self) -> &str {
        "half-static"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn fingerprint(&self) -> &str {
        "half-static"
    }
    fn prompts(&self) -> &Prompts {
        self.0.prompts()
    }
    fn encode_raw(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        let full = self.0.encode_raw(texts, role)?;
        let dim = full.dim();
        let mut values = full.as_slice().to_vec();
        for row in values.chunks_mut(dim) {
            row[dim / 2..].fill(0.0);
        }
        Ok(Embeddings::from_rows(dim, values)?)
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A copy of NusaX; with `poison`, every test label is replaced by another.
fn nusax_copy(root: &std::path::Path, poison: bool) -> Option<DataDir> {
    let source = workspace().join("../shared/data/miners/nusax");
    if !source.is_dir() {
        assert!(std::env::var_os("CI").is_none(), "CI has the data");
        return None;
    }
    let target = root.join("nusax");
    for dir in ["", "classification", "bitext"] {
        std::fs::create_dir_all(target.join(dir)).unwrap();
    }
    for entry in walk(&source) {
        let relative = entry.strip_prefix(&source).unwrap();
        let mut text = std::fs::read_to_string(&entry).unwrap();
        let name = relative.to_string_lossy();
        if poison && name.ends_with(".test.tsv") && name.starts_with("classification") {
            let labels = ["positive", "negative", "neutral"];
            let rows: Vec<String> = text
                .lines()
                .enumerate()
                .map(|(i, line)| match (i, line.rsplit_once('\t')) {
                    (0, _) | (_, None) => line.to_owned(),
                    (_, Some((body, label))) => {
                        let other = labels.iter().find(|l| **l != label).unwrap();
                        format!("{body}\t{other}")
                    }
                })
                .collect();
            text = rows.join("\n") + "\n";
        }
        std::fs::write(target.join(relative), text).unwrap();
    }
    Some(DataDir::new(root))
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn poisoned_test_labels_change_nothing_in_the_chosen_weights() {
    let Some(model) = support::static_model_dir() else {
        return;
    };
    let encoders: Vec<Arc<dyn Encoder>> = vec![
        Arc::new(StaticEncoder::load(&model, "static").unwrap()),
        Arc::new(HalfStatic(StaticEncoder::load(&model, "static").unwrap())),
    ];
    let langs = [Lang::from("ind"), Lang::from("jav")];
    let tune = |poison: bool| {
        let root = tempfile::tempdir().unwrap();
        let data = nusax_copy(root.path(), poison)?;
        let dataset = Dataset::open(&data, "nusax").unwrap();
        let base =
            Retriever::distfuse(encoders.clone(), vec![1.0, 1.0], Normalization::None).unwrap();
        let tuned = tune_distfuse(&dataset, &base, &langs, 10, 10, &Quiet).unwrap();
        Some(tuned)
    };
    let (Some(clean), Some(poisoned)) = (tune(false), tune(true)) else {
        return;
    };
    assert_eq!(clean.grid.len(), 11);
    assert_eq!(clean, poisoned);
    // The grid's scores differ, so the choice is a real one.
    let scores: Vec<f64> = clean.grid.iter().map(|(_, s)| *s).collect();
    assert!(scores.iter().any(|s| *s != scores[0]), "{scores:?}");
}

#[test]
fn a_dataset_without_a_validation_split_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (Some(data), Some(model)) = (nusax_copy(root.path(), false), support::static_model_dir())
    else {
        return;
    };
    std::fs::remove_file(root.path().join("nusax/classification/ind.validation.tsv")).unwrap();
    let dataset = Dataset::open(&data, "nusax").unwrap();
    let encoder: Arc<dyn Encoder> = Arc::new(StaticEncoder::load(&model, "static").unwrap());
    let base = Retriever::distfuse(
        vec![encoder.clone(), encoder],
        vec![1.0, 1.0],
        Normalization::None,
    )
    .unwrap();
    let err = tune_distfuse(&dataset, &base, &[Lang::from("ind")], 10, 10, &Quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("validation"), "{err}");
}
