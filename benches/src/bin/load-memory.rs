//! Peak memory of loading a checkpoint, against its size: miners' loader
//! (tensor by tensor, pieces of 16 MiB) on the checkpoint alone and as part
//! of loading the whole model (tokenizer included), beside the former whole-file read
//! (`Tensor::read_safetensors`, which reads the whole file, then copies
//! each tensor out of it), each in a fresh process.
//!
//! Usage: `load-memory MODEL_DIR [encoder|generator] [DTYPE]`
//!
//! Prints N (the checkpoint's tensor bytes), the runtime's fixed cost (RSS
//! once libtorch is up, before loading) and, per loader, the peak RSS above
//! that cost and its ratio to N. The bound the loader meets: peak ≤ 1.25 × N
//! when a checkpoint is loaded into its own dtype.

use std::{path::Path, process::Command};

use miners_checkpoint::Checkpoint;
use miners_encoders::spec::{DType, ModelSpec};
use miners_torch::{DeviceChoice, TorchEncoder, TorchGenerator, load_checkpoint};

/// The bound on peak RSS above the fixed cost, as a multiple of N.
const BOUND: f64 = 1.25;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => child(&args[1], &args[2], &args[3], &args[4]),
        Some(dir) => {
            let kind = args.get(1).map_or("encoder", String::as_str);
            let dtype = args.get(2).map_or("float32", String::as_str);
            parent(dir, kind, dtype);
        }
        None => panic!("usage: load-memory MODEL_DIR [encoder|generator] [DTYPE]"),
    }
}

fn parent(dir: &str, kind: &str, dtype: &str) {
    let checkpoint = Checkpoint::open(Path::new(dir)).unwrap_or_else(|e| panic!("{e}"));
    let n = checkpoint.stored_bytes() as f64 / (1 << 20) as f64;
    println!(
        "{dir}: {:?}, {} file(s), N = {n:.1} MiB, loaded as a {kind} in {dtype}",
        checkpoint.layout(),
        checkpoint.files().len()
    );
    println!("| loader | fixed cost MiB | peak above it MiB | peak / N |");
    println!("| --- | ---: | ---: | ---: |");
    let mut loaders = vec!["miners checkpoint", "miners model"];
    if Path::new(dir).join("model.safetensors").is_file() {
        loaders.push("whole-file");
    }
    for loader in loaders {
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--child", dir, kind, dtype, loader])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        let (fixed, peak) = (fields[0], fields[1] - fields[0]);
        println!("| {loader} | {fixed:.0} | {peak:.0} | {:.3} |", peak / n);
        if loader == "miners checkpoint" {
            let verdict = if peak <= BOUND * n {
                "meets"
            } else {
                "EXCEEDS"
            };
            eprintln!(
                "miners' loader {verdict} the bound: {peak:.0} MiB vs {BOUND} × N = {:.0} MiB",
                BOUND * n
            );
        }
    }
}

/// Loads once and prints `fixed_cost_mib peak_mib`.
fn child(dir: &str, kind: &str, dtype: &str, loader: &str) {
    let _warm = tch::Tensor::from_slice(&[1f32]).sum(tch::Kind::Float);
    let fixed = rss("VmRSS");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    match loader {
        "whole-file" => {
            let tensors = tch::Tensor::read_safetensors(Path::new(dir).join("model.safetensors"));
            drop(tensors.unwrap());
        }
        "miners checkpoint" => {
            let kind = match dtype {
                "bfloat16" => tch::Kind::BFloat16,
                "float16" => tch::Kind::Half,
                _ => tch::Kind::Float,
            };
            drop(load_checkpoint(dir.as_ref(), tch::Device::Cpu, kind).unwrap());
        }
        _ if kind == "generator" => drop(
            TorchGenerator::load("bench", dir.as_ref(), DeviceChoice::Cpu, dtype_of(dtype))
                .unwrap(),
        ),
        _ => {
            let mut spec = ModelSpec::for_dir(dir.as_ref());
            spec.dtype = dtype_of(dtype);
            drop(TorchEncoder::load(&spec, DeviceChoice::Cpu).unwrap());
        }
    }
    println!("{fixed} {}", rss("VmHWM"));
}

/// The precision named on the command line.
fn dtype_of(name: &str) -> DType {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .expect("DTYPE is float32, bfloat16, float16 or int8")
}

/// A `/proc/self/status` figure in MiB.
fn rss(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1024.0
}
