//! miners' side of the fine-tuning parity check (`fixtures/check_finetune.py`):
//! reads a request as JSON on stdin — `model` (a directory with a
//! classification head or without), `labels` (the head's size), `texts`,
//! `targets` (label ids), `steps`, `batch_size`, `learning_rate` and, optionally,
//! `dropout` (default off) — fine-tunes in order for `steps` steps, and prints
//! `{"losses": […], "logits": [[…]], "train_seconds": …}` (logits of `texts`
//! after training; the seconds of the steps alone).

use std::io::Read;

use miners_classify::{FineTune, FineTuning, Labelled};
use miners_torch::{DeviceChoice, SequenceClassifier};
use serde_json::{Value, json};

fn main() {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("a request on stdin");
    let request: Value = serde_json::from_str(&input).expect("a JSON request");
    let field = |name: &str| request[name].clone();
    let model: String = serde_json::from_value(field("model")).expect("model");
    let labels: usize = serde_json::from_value(field("labels")).expect("labels");
    let texts: Vec<String> = serde_json::from_value(field("texts")).expect("texts");
    let targets: Vec<usize> = serde_json::from_value(field("targets")).expect("targets");
    let steps: usize = serde_json::from_value(field("steps")).expect("steps");
    let batch_size: usize = serde_json::from_value(field("batch_size")).expect("batch_size");
    let learning_rate: f64 = serde_json::from_value(field("learning_rate")).expect("learning_rate");
    let dropout = request["dropout"].as_bool().unwrap_or(false);
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
