//! Label log-probabilities of an OpenAI-compatible `/completions` server
//! (llama.cpp's, serving a GGUF file) against miners' in-process libtorch
//! generator on the same file's dequantized weights, on the prompts of a
//! real ICL record. Prints how often the top label agrees and the largest
//! and mean log-prob differences, with each side's time.
//!
//! Usage: `api-parity MODEL_DIR URL SERVED_MODEL RECORD.json [N] [IN_FLIGHT]`.

use std::time::Instant;

use miners_api::{ApiGenerator, GeneratorApiSpec};
use miners_icl::{Generator, decide};
use miners_torch::{DeviceChoice, TorchGenerator};
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, url, served, record, rest @ ..] = args.as_slice() else {
        panic!("usage: api-parity MODEL_DIR URL SERVED_MODEL RECORD.json [N] [IN_FLIGHT]");
    };
    let number = |i: usize, default: usize| {
        rest.get(i)
            .map_or(default, |n| n.parse().expect("a number"))
    };
    let (n, in_flight) = (number(0, 20), number(1, 2));
    let record: Value = serde_json::from_str(&std::fs::read_to_string(record).expect("record"))
        .expect("record is JSON");
    let strings = |field: &str| -> Vec<String> {
        record["icl"][field]
            .as_array()
            .expect("an ICL record")
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    };
    let prompts: Vec<String> = strings("prompts").into_iter().take(n).collect();
    let mut labels = strings("gold");
    labels.sort();
    labels.dedup();

    let local = TorchGenerator::load("local", model.as_ref(), DeviceChoice::Cpu).unwrap();
    let started = Instant::now();
    let expected = local.score(&prompts, &labels).unwrap();
    let local_s = started.elapsed().as_secs_f64();

    let spec: GeneratorApiSpec = serde_json::from_value(json!({
        "id": "server", "url": url, "model": served,
        "max_concurrency": in_flight, "tokenizer": model,
    }))
    .unwrap();
    let server = ApiGenerator::open(&spec, None).unwrap();
    let started = Instant::now();
    let served_scores = server.score(&prompts, &labels).unwrap();
    let server_s = started.elapsed().as_secs_f64();

    let differences: Vec<f64> = expected
        .iter()
        .flatten()
        .zip(served_scores.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .collect();
    let agree = expected
        .iter()
        .zip(&served_scores)
        .filter(|(a, b)| decide(a) == decide(b))
        .count();
    println!(
        "{}",
        json!({
            "prompts": prompts.len(),
            "labels": labels,
            "top_label_agreement": format!("{agree}/{}", prompts.len()),
            "max_abs_logprob_difference": differences.iter().copied().fold(0.0, f64::max),
            "mean_abs_logprob_difference": differences.iter().sum::<f64>() / differences.len() as f64,
            "libtorch_seconds": local_s,
            "server_seconds": server_s,
            "server_requests": prompts.len() * labels.len(),
            "server_in_flight": in_flight,
        })
    );
}
