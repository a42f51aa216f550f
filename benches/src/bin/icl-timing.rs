//! Times miners' label scoring on real ICL prompts, both ways: all labels of
//! a prompt in one tree-masked forward pass (batched prompts), and one full
//! forward per (prompt, label) as the reference does. For
//! `benches/icl_vs_llama_cpp.py`, which also checks the scores against
//! llama.cpp. Prints one JSON object and writes the scores to OUT.json.
//!
//! Usage: `icl-timing MODEL_DIR RECORD.json OUT.json [N]`, where RECORD.json
//! is an ICL result record (its prompts) and LABELS come from its `gold`.

use miners_encoders::spec::DType;
use std::time::Instant;

use miners_icl::Generator;
use miners_torch::{DeviceChoice, TorchGenerator};
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, record, out, rest @ ..] = args.as_slice() else {
        panic!("usage: icl-timing MODEL_DIR RECORD.json OUT.json [N]");
    };
    let n: usize = rest
        .first()
        .map_or(32, |n| n.parse().expect("N is a number"));
    let record: Value = serde_json::from_str(&std::fs::read_to_string(record).expect("record"))
        .expect("record is JSON");
    let prompts: Vec<String> = record["icl"]["prompts"]
        .as_array()
        .expect("an ICL record")
        .iter()
        .take(n)
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let mut labels: Vec<String> = record["icl"]["gold"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    labels.sort();
    labels.dedup();
    let generator =
        TorchGenerator::load("bench", model.as_ref(), DeviceChoice::Cpu, DType::Float32).unwrap();
    let tokens: usize = prompts
        .iter()
        .map(|p| generator.count_tokens(p).unwrap())
        .sum();
    let start = Instant::now();
    let batched = generator.score(&prompts, &labels).unwrap();
    let batched_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let naive = generator.score_one_by_one(&prompts, &labels).unwrap();
    let naive_s = start.elapsed().as_secs_f64();
    let max_difference = batched
        .iter()
        .flatten()
        .zip(naive.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let summary = json!({
        "prompts": prompts.len(),
        "labels": labels.len(),
        "prompt_tokens": tokens,
        "batched_seconds": batched_s,
        "one_by_one_seconds": naive_s,
        "speedup": naive_s / batched_s,
        "prompt_tokens_per_second": tokens as f64 / batched_s,
        "max_abs_difference": max_difference,
        "threads": tch::get_num_threads(),
    });
    let output =
        json!({"labels": labels, "prompts": prompts, "scores": batched, "summary": summary});
    std::fs::write(out, serde_json::to_string(&output).unwrap()).expect("writes scores");
    println!("{summary}");
}
