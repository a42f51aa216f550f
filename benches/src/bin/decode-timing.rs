//! Decoding speed with and without the KV cache, same model, same prompts,
//! greedy (so both decode the same tokens; checked). Prints one JSON line.
//!
//! Usage: `decode-timing MODEL_DIR [PROMPTS] [NEW_TOKENS]` (defaults: 8 ICL-style
//! prompts of about 200 tokens, 32 new tokens each).

use miners_encoders::spec::DType;
use std::time::Instant;

use miners_icl::Decoding;
use miners_torch::{DeviceChoice, TorchGenerator};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .expect("usage: decode-timing MODEL_DIR [PROMPTS] [NEW_TOKENS]");
    let prompts: usize = args
        .get(2)
        .map_or(8, |n| n.parse().expect("PROMPTS is a number"));
    let new_tokens: usize = args
        .get(3)
        .map_or(32, |n| n.parse().expect("NEW_TOKENS is a number"));
    let generator =
        TorchGenerator::load("bench", model.as_ref(), DeviceChoice::Cpu, DType::Float32)
            .expect("loads");
    let demonstration =
        "Input:The food was cold and the waiter ignored us for an hour. Prediction:negative\n";
    let texts: Vec<String> = (0..prompts)
        .map(|i| {
            format!(
                "Instruction:Generate a sentiment label for a given input.\n{}\nInput:Review number {i}: lovely staff, great view Prediction:",
                demonstration.repeat(8)
            )
        })
        .collect();
    let decoding = Decoding::greedy(new_tokens);
    let mut timings = Vec::new();
    let mut outputs = Vec::new();
    for cached in [true, false] {
        let start = Instant::now();
        let mut tokens = 0;
        let mut texts_out = Vec::new();
        for text in &texts {
            let generation = generator.decode(text, &decoding, cached).expect("decodes");
            tokens += generation.tokens;
            texts_out.push(generation.text);
        }
        let seconds = start.elapsed().as_secs_f64();
        timings.push((tokens, seconds));
        outputs.push(texts_out);
    }
    assert_eq!(
        outputs[0], outputs[1],
        "cached and recomputed decoding differ"
    );
    let rate = |(tokens, seconds): (usize, f64)| tokens as f64 / seconds;
    println!(
        "{}",
        serde_json::json!({
            "model": model,
            "prompts": prompts,
            "new_tokens": new_tokens,
            "kv_cache_tokens_per_s": rate(timings[0]),
            "recompute_tokens_per_s": rate(timings[1]),
            "speedup": rate(timings[0]) / rate(timings[1]),
        })
    );
}
