//! An OpenAI-compatible server (llama.cpp's, serving a GGUF file) against
//! miners' in-process libtorch generator on the same file's dequantized
//! weights, on the prompts of a real ICL record:
//! - greedy generation (`/chat/completions` against the model's chat template
//!   in process): how often the texts, their first lines and first words agree;
//! - label log-probabilities (`/completions` with echo): top-label agreement
//!   and log-prob differences, or the server's refusal when its echo fails
//!   the generator's check.
//!
//! Prints one JSON object, with each side's time.
//!
//! Usage: `api-parity MODEL_DIR URL SERVED_MODEL RECORD.json [N] [IN_FLIGHT]`.

use miners_encoders::spec::DType;
use std::time::Instant;

use miners_api::{ApiGenerator, GeneratorApiSpec, Protocol};
use miners_icl::{Decoding, Generator, decide};
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

    let local =
        TorchGenerator::load("local", model.as_ref(), DeviceChoice::Cpu, DType::Float32).unwrap();
    let spec: GeneratorApiSpec = serde_json::from_value(json!({
        "id": "server", "url": url, "model": served,
        "max_concurrency": in_flight, "tokenizer": model,
    }))
    .unwrap();
    let server = ApiGenerator::open(&spec, Protocol::OpenAi, None).unwrap();
    let generation = compare_generation(&local, &server, &prompts);
    let logprob = compare_logprobs(&local, &server, &prompts, &labels);
    println!(
        "{}",
        json!({"prompts": prompts.len(), "in_flight": in_flight, "generation": generation, "logprob": logprob})
    );
}

/// Greedy generations of up to 10 tokens on both sides.
fn compare_generation(local: &TorchGenerator, server: &ApiGenerator, prompts: &[String]) -> Value {
    let decoding = Decoding::greedy(10);
    let chat = local.chat_template().expect("a chat model");
    let started = Instant::now();
    let ours: Vec<String> = prompts
        .iter()
        .map(|p| {
            local
                .generate(&chat.render_user(p).unwrap(), &decoding)
                .unwrap()
                .text
        })
        .collect();
    let local_s = started.elapsed().as_secs_f64();
    let requests: Vec<(String, Decoding)> = prompts.iter().map(|p| (p.clone(), decoding)).collect();
    let started = Instant::now();
    let theirs: Vec<String> = server
        .generate_batch(&requests, &mut |_| {})
        .unwrap()
        .into_iter()
        .map(|g| g.text)
        .collect();
    let server_s = started.elapsed().as_secs_f64();
    let agree = |same: &dyn Fn(&str, &str) -> bool| {
        ours.iter().zip(&theirs).filter(|(a, b)| same(a, b)).count()
    };
    let first_line = |t: &str| t.trim().lines().next().unwrap_or("").to_owned();
    let first_word = |t: &str| t.split_whitespace().next().unwrap_or("").to_owned();
    json!({
        "same_text": agree(&|a, b| a == b),
        "same_first_line": agree(&|a, b| first_line(a) == first_line(b)),
        "same_first_word": agree(&|a, b| first_word(a) == first_word(b)),
        "libtorch_seconds": local_s,
        "server_seconds": server_s,
    })
}

/// Label log-probabilities on both sides, or the server's refusal.
fn compare_logprobs(
    local: &TorchGenerator,
    server: &ApiGenerator,
    prompts: &[String],
    labels: &[String],
) -> Value {
    let started = Instant::now();
    let expected = local.score(prompts, labels).unwrap();
    let local_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let served = match server.score(prompts, labels) {
        Ok(scores) => scores,
        Err(refusal) => return json!({"refused": refusal.to_string()}),
    };
    let server_s = started.elapsed().as_secs_f64();
    let differences: Vec<f64> = expected
        .iter()
        .flatten()
        .zip(served.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .collect();
    let agree = expected
        .iter()
        .zip(&served)
        .filter(|(a, b)| decide(a) == decide(b))
        .count();
    json!({
        "labels": labels,
        "top_label_agreement": agree,
        "max_abs_difference": differences.iter().copied().fold(0.0, f64::max),
        "mean_abs_difference": differences.iter().sum::<f64>() / differences.len() as f64,
        "libtorch_seconds": local_s,
        "server_seconds": server_s,
    })
}
