//! Requests/s and sentences/s of an OpenAI-compatible embeddings endpoint
//! through miners' API encoder at 1, 4 and 16 requests in flight (no cache:
//! every text is sent each time). Prints one JSON object per setting.
//!
//! Usage: `api-throughput URL MODEL TSV [N] [BATCH]`: the first N texts
//! (default 1,024) of a miners TSV (`text<TAB>label`), BATCH texts per
//! request (default 16).

use std::time::Instant;

use miners_api::{ApiEncoder, EmbeddingApiSpec, Protocol};
use miners_encoders::{Encoder, Role};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, model, tsv, rest @ ..] = args.as_slice() else {
        panic!("usage: api-throughput URL MODEL TSV [N] [BATCH]");
    };
    let number = |i: usize, default: usize| {
        rest.get(i)
            .map_or(default, |n| n.parse().expect("a number"))
    };
    let (n, batch) = (number(0, 1024), number(1, 16));
    let text = std::fs::read_to_string(tsv).expect("the TSV reads");
    let texts: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .take(n)
        .collect();
    for in_flight in [1, 4, 16] {
        let spec = spec(url, model, batch, in_flight);
        let encoder = ApiEncoder::open(&spec, Protocol::OpenAi).expect("the endpoint answers");
        let started = Instant::now();
        let vectors = encoder.encode(&texts, Role::Query).expect("encodes");
        let seconds = started.elapsed().as_secs_f64();
        let requests = texts.len().div_ceil(batch);
        println!(
            "{}",
            json!({
                "in_flight": in_flight,
                "texts": vectors.len(),
                "batch": batch,
                "requests": requests,
                "seconds": seconds,
                "requests_per_s": requests as f64 / seconds,
                "sentences_per_s": texts.len() as f64 / seconds,
            })
        );
    }
}

fn spec(url: &str, model: &str, batch: usize, in_flight: usize) -> EmbeddingApiSpec {
    EmbeddingApiSpec {
        id: "throughput".into(),
        url: url.into(),
        model: model.into(),
        dimensions: None,
        api_key_env: None,
        input_type: Default::default(),
        prompts: Default::default(),
        encoding_format: miners_api::EncodingFormat::Base64,
        batch_size: batch,
        batch_chars: usize::MAX,
        max_concurrency: in_flight,
        timeout_s: 600.0,
        max_retries: 2,
    }
}
