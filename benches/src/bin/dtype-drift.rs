//! How far a generator's label log-probabilities and ICL predictions move
//! when its weights are held in bfloat16 or int8 instead of float32, on the
//! real prompts of ICL records.
//!
//! Usage: `dtype-drift GENERATOR_DIR LABELS RECORD.json...`
//!
//! `LABELS` is the comma-separated label set; each record's `icl.prompts` are
//! scored in every precision. Prints one row per precision: load and scoring
//! seconds, max and mean |Δ log-prob| against float32, and how many
//! predictions (the arg-max label) agree with float32's.

use std::time::Instant;

use miners_encoders::spec::{DType, DeviceChoice};
use miners_icl::Generator;
use miners_torch::{TorchGenerator, TorchSeq2Seq};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, labels, records @ ..] = args.as_slice() else {
        panic!("usage: dtype-drift GENERATOR_DIR LABELS RECORD.json...");
    };
    let labels: Vec<String> = labels.split(',').map(str::to_owned).collect();
    let prompts: Vec<String> = records.iter().flat_map(|path| prompts_of(path)).collect();
    println!("{dir}: {} prompts × {} labels", prompts.len(), labels.len());
    println!(
        "| dtype | load s | score s | max abs Δ log-prob | mean abs Δ | predictions equal to float32 |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut reference: Option<Vec<Vec<f64>>> = None;
    for dtype in [DType::Float32, DType::BFloat16, DType::Int8] {
        let start = Instant::now();
        let generator = load(dir, dtype);
        let load_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let scores = generator.score(&prompts, &labels).expect("scores");
        let score_s = start.elapsed().as_secs_f64();
        let base = reference.get_or_insert_with(|| scores.clone());
        let deltas: Vec<f64> = base
            .iter()
            .flatten()
            .zip(scores.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .collect();
        let max = deltas.iter().copied().fold(0.0, f64::max);
        let mean = deltas.iter().sum::<f64>() / deltas.len().max(1) as f64;
        let same = base
            .iter()
            .zip(&scores)
            .filter(|(a, b)| argmax(a) == argmax(b))
            .count();
        println!(
            "| {} | {load_s:.1} | {score_s:.1} | {max:.2e} | {mean:.2e} | {same} / {} |",
            dtype.name(),
            scores.len()
        );
    }
}

fn load(dir: &str, dtype: DType) -> Box<dyn Generator> {
    let path = std::path::Path::new(dir);
    if TorchSeq2Seq::recognizes(path) {
        Box::new(TorchSeq2Seq::load("drift", path, DeviceChoice::Cpu, dtype).expect("loads"))
    } else {
        Box::new(TorchGenerator::load("drift", path, DeviceChoice::Cpu, dtype).expect("loads"))
    }
}

fn prompts_of(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let record: serde_json::Value = serde_json::from_str(&text).expect("a record");
    let prompts = record["icl"]["prompts"].as_array().expect("an ICL record");
    prompts
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

fn argmax(scores: &[f64]) -> usize {
    (0..scores.len()).fold(0, |best, i| if scores[i] > scores[best] { i } else { best })
}
