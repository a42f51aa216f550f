//! Fine-tuning on the tiny BERT fixture: seeded runs repeat exactly, early
//! stopping keeps the best epoch, and bad labels are errors. Parity with
//! transformers' `Trainer` is `fixtures/check_finetune.py` (`cargo xtask interop`).
//!
//! One test: dropout and fresh heads draw from libtorch's process-wide
//! generator, so fine-tuning runs in parallel threads would interleave draws.

use std::path::PathBuf;

use miners_classify::{FineTune, FineTuning, Labelled};
use miners_torch::{DeviceChoice, SequenceClassifier};

fn tiny_bert() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny-bert")
}

fn data() -> (Vec<String>, Vec<usize>) {
    let words = [
        "the", "cat", "sat", "on", "a", "mat", "rain", "fell", "old", "town",
    ];
    let texts = (0..24)
        .map(|i| {
            (0..3 + i % 5)
                .map(|j| words[(i * 3 + j * 7) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (texts, (0..24).map(|i| i % 2).collect())
}

fn run(config: &FineTuning) -> (miners_classify::TrainingLog, Vec<usize>) {
    let (texts, labels) = data();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (train, valid) = (
        Labelled {
            texts: &texts[..16],
            labels: &labels[..16],
        },
        Labelled {
            texts: &texts[16..],
            labels: &labels[16..],
        },
    );
    let mut model = SequenceClassifier::load(&tiny_bert(), 2, DeviceChoice::Cpu, 7).unwrap();
    let log = model
        .fine_tune(train, Some(valid), config, &mut |_, _| {})
        .unwrap();
    (log, model.predict(&texts).unwrap())
}

#[test]
fn seeded_runs_repeat_and_keep_their_best_epoch() {
    let config = FineTuning {
        epochs: 4,
        learning_rate: 1e-3,
        ..FineTuning::default()
    };
    let (first, predictions) = run(&config);
    let (again, predictions_again) = run(&config);
    let untimed = |log: &miners_classify::TrainingLog| {
        let mut log = log.clone();
        log.epochs.iter_mut().for_each(|e| e.seconds = 0.0);
        log
    };
    assert_eq!(untimed(&first), untimed(&again));
    assert_eq!(predictions, predictions_again);
    // 16 texts in batches of 8: two steps an epoch, dropout on.
    assert_eq!(first.losses.len(), 2 * first.epochs.len());
    let best = first.best_epoch.unwrap();
    let accuracies: Vec<f64> = first
        .epochs
        .iter()
        .map(|e| e.valid_accuracy.unwrap())
        .collect();
    let top = accuracies.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(accuracies.iter().position(|&a| a == top), Some(best - 1));
    // Stopped by patience 2, or ran out of epochs.
    assert!(first.epochs.len() == 4 || first.epochs.len() - best == 2);
    labels_outside_the_head_and_unpaired_texts_are_errors();
}

fn labels_outside_the_head_and_unpaired_texts_are_errors() {
    let mut model = SequenceClassifier::load(&tiny_bert(), 2, DeviceChoice::Cpu, 7).unwrap();
    let config = FineTuning::default();
    let bad = Labelled {
        texts: &["a cat"],
        labels: &[2],
    };
    let error = model
        .fine_tune(bad, None, &config, &mut |_, _| {})
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("label id 2 is out of range for a head of 2 labels")
    );
    let unpaired = Labelled {
        texts: &["a cat", "a mat"],
        labels: &[0],
    };
    let error = model
        .fine_tune(unpaired, None, &config, &mut |_, _| {})
        .unwrap_err();
    assert!(error.to_string().contains("one label per text"), "{error}");
}
