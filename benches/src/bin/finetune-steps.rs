//! miners' side of the fine-tuning parity check (`fixtures/check_finetune.py`):
//! reads a request as JSON on stdin — `model` (a directory with a
//! classification head or without), `labels` (the head's size), `texts`,
//! `targets` (label ids), `steps`, `batch_size`, `learning_rate` and, optionally,
//! `dropout` (default off) — fine-tunes in order for `steps` steps, and prints
//! `{"losses": […], "logits": [[…]], "train_seconds": …}` (logits of `texts`
//! after training; the seconds of the steps alone).

use miners_classify::{FineTune, FineTuning, Labelled};
use miners_torch::{DeviceChoice, SequenceClassifier};
use serde_json::json;

/// The request on stdin.
#[derive(serde::Deserialize)]
struct Request {
    model: String,
    labels: usize,
    texts: Vec<String>,
    targets: Vec<usize>,
    steps: usize,
    batch_size: usize,
    learning_rate: f64,
    #[serde(default)]
    dropout: bool,
}

fn main() {
    let Request {
        model,
        labels,
        texts,
        targets,
        steps,
        batch_size,
        learning_rate,
        dropout,
    } = serde_json::from_reader(std::io::stdin()).expect("a JSON request on stdin");
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut classifier =
        SequenceClassifier::load(model.as_ref(), labels, DeviceChoice::Cpu, 42).expect("loads");
    let config = FineTuning {
        batch_size,
        learning_rate,
        epochs: steps,
        max_steps: Some(steps),
        dropout,
        shuffle: false,
        ..FineTuning::default()
    };
    let train = Labelled {
        texts: &texts,
        labels: &targets,
    };
    let started = std::time::Instant::now();
    let log = classifier
        .fine_tune(train, None, &config, &mut |_, _| {})
        .expect("fine-tunes");
    let train_seconds = started.elapsed().as_secs_f64();
    let logits = classifier.logits(&texts, batch_size).expect("logits");
    println!(
        "{}",
        json!({"losses": log.losses, "logits": logits, "train_seconds": train_seconds})
    );
}
