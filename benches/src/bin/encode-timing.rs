//! Times miners' transformer encoder on a file of texts (one per line), for
//! `benches/encode_vs_sentence_transformers.py`. Writes the embeddings as
//! little-endian f32 and prints one JSON line; with `ENCODE_STAGES=1` it
//! carries the seconds of each encoding stage (`benches/encode_stages.py`).
//!
//! Usage: `encode-timing MODEL_DIR TEXTS.txt OUT.f32 [PREFIX] [TOKEN_BUDGET] [DTYPE] [DEVICE]`

use std::time::Instant;

use miners_encoders::{Encoder, Role, spec::ModelSpec};
use miners_torch::{DeviceChoice, TorchEncoder};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, texts, out) = match &args[..] {
        [_, model, texts, out, ..] => (model, texts, out),
        _ => panic!(
            "usage: encode-timing MODEL_DIR TEXTS.txt OUT.f32 [PREFIX] [TOKEN_BUDGET] [DTYPE] [DEVICE]"
        ),
    };
    let prefix = args.get(4).cloned().unwrap_or_default();
    let text = std::fs::read_to_string(texts).unwrap_or_else(|e| panic!("{texts}: {e}"));
    let lines: Vec<String> = text.lines().map(|l| format!("{prefix}{l}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let load = Instant::now();
    let mut spec = ModelSpec::for_dir(model.as_ref());
    if let Some(dtype) = args.get(6).filter(|d| !d.is_empty()) {
        spec.dtype = serde_json::from_value(serde_json::Value::String(dtype.clone()))
            .expect("DTYPE is float32, float16 or bfloat16");
    }
    let device: DeviceChoice = args
        .get(7)
        .map_or(Ok(DeviceChoice::Cpu), |d| d.parse())
        .expect("DEVICE is cpu, cuda:N or auto");
    let mut encoder = TorchEncoder::load(&spec, device).expect("model loads");
    if let Some(budget) = args.get(5).filter(|b| !b.is_empty()) {
        encoder = encoder.with_token_budget(budget.parse().expect("TOKEN_BUDGET is a number"));
    }
    let load_s = load.elapsed().as_secs_f64();
    // Warm-up, as the sentence-transformers side does (CUDA kernels, caches).
    encoder
        .encode_raw(&refs[..refs.len().min(64)], Role::Query)
        .expect("encodes");
    let stages = std::env::var("ENCODE_STAGES").is_ok_and(|v| v == "1");
    miners_torch::profile::enable(stages);
    let start = Instant::now();
    let vectors = encoder.encode_raw(&refs, Role::Query).expect("encodes");
    let seconds = start.elapsed().as_secs_f64();
    let stages: Vec<String> = miners_torch::profile::take()
        .into_iter()
        .filter(|_| stages)
        .map(|(stage, seconds)| format!("\"{}\": {seconds}", stage.name()))
        .collect();
    let bytes: Vec<u8> = vectors
        .as_slice()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(out, bytes).expect("writes embeddings");
    println!(
        "{{\"sentences\": {}, \"seconds\": {seconds}, \"load_seconds\": {load_s}, \"threads\": {}, \"stages\": {{{}}}}}",
        lines.len(),
        tch::get_num_threads(),
        stages.join(", ")
    );
}
