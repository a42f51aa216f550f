//! How far a generator's label log-probabilities and ICL predictions move
//! when its weights are held in bfloat16, float16 or int8 instead of
//! float32, or when it runs on another device or is split over several, on
//! the real prompts of ICL records.
//!
//! Usage: `dtype-drift [--device DEVICES] [--dtypes D,D...] GENERATOR_DIR LABELS RECORD.json...`
//!
//! `LABELS` is the comma-separated label set; each record's `icl.prompts` are
//! scored first in float32 on the CPU (the reference), then in each of
//! `--dtypes` (default `float32,bfloat16,int8`) on `--device` (default
//! `cpu`; a list such as `cuda:0,cuda:1` splits the layers). Prints one row
//! per run: load and scoring seconds, max and mean |Δ log-prob| against the
//! reference, and how many predictions (the arg-max label) agree with it.

use std::time::Instant;

use miners_encoders::spec::{DType, DeviceChoice, parse_devices};
use miners_icl::Generator;
use miners_torch::{TorchGenerator, TorchSeq2Seq};

const USAGE: &str =
    "usage: dtype-drift [--device DEVICES] [--dtypes D,D...] GENERATOR_DIR LABELS RECORD.json...";

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let devices = parse_devices(&option(&mut args, "--device").unwrap_or("cpu".into()))
        .unwrap_or_else(|e| panic!("--device: {e}"));
    let dtypes: Vec<DType> = option(&mut args, "--dtypes")
        .unwrap_or("float32,bfloat16,int8".into())
        .split(',')
        .map(|d| serde_json::from_value(d.into()).unwrap_or_else(|_| panic!("dtype `{d}`")))
        .collect();
    let [dir, labels, records @ ..] = args.as_slice() else {
        panic!("{USAGE}");
    };
    let labels: Vec<String> = labels.split(',').map(str::to_owned).collect();
    let prompts: Vec<String> = records.iter().flat_map(|path| prompts_of(path)).collect();
    println!("{dir}: {} prompts × {} labels", prompts.len(), labels.len());
    println!(
        "| dtype | device | load s | score s | max abs Δ log-prob | mean abs Δ | predictions equal to float32 CPU |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let cpu = [DeviceChoice::Cpu];
    let runs = std::iter::once((DType::Float32, &cpu[..]))
        .chain(dtypes.iter().map(|&dtype| (dtype, devices.as_slice())));
    let mut reference: Option<Vec<Vec<f64>>> = None;
    for (dtype, devices) in runs {
        let start = Instant::now();
        let generator = load(dir, devices, dtype);
        let load_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let scores = generator.score(&prompts, &labels).expect("scores");
        let score_s = start.elapsed().as_secs_f64();
        let base = reference.get_or_insert_with(|| scores.clone());
        let (max, mean, same) = drift(base, &scores);
        println!(
            "| {} | {} | {load_s:.1} | {score_s:.2} | {max:.2e} | {mean:.2e} | {same} / {} |",
            dtype.name(),
            device_names(devices),
            scores.len()
        );
    }
}

/// Removes `--name VALUE` from `args`, returning the value.
fn option(args: &mut Vec<String>, name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    let value = args
        .get(at + 1)
        .cloned()
        .unwrap_or_else(|| panic!("{USAGE}"));
    args.drain(at..at + 2);
    Some(value)
}

/// Max and mean |Δ| of `scores` against `base`, and how many arg-max labels agree.
fn drift(base: &[Vec<f64>], scores: &[Vec<f64>]) -> (f64, f64, usize) {
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
        .zip(scores)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    (max, mean, same)
}

fn device_names(devices: &[DeviceChoice]) -> String {
    let names: Vec<String> = devices.iter().map(DeviceChoice::to_string).collect();
    names.join(",")
}

fn load(dir: &str, devices: &[DeviceChoice], dtype: DType) -> Box<dyn Generator> {
    let path = std::path::Path::new(dir);
    match TorchSeq2Seq::recognizes(path) {
        true => Box::new(TorchSeq2Seq::load_on("drift", path, devices, dtype).expect("loads")),
        false => Box::new(TorchGenerator::load_on("drift", path, devices, dtype).expect("loads")),
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
