//! The API clients against test servers on 127.0.0.1 that follow the
//! documented OpenAI and Cohere schemas: both protocols, both encodings,
//! batching and concurrency, and every failure a real endpoint shows.

mod support;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use base64::Engine as _;
use miners_api::{ApiEncoder, ApiGenerator, EmbeddingApiSpec, GeneratorApiSpec, PROBE, Protocol};
use miners_encoders::{Encoder, Role};
use miners_eval::{EmbeddingCache, Quiet};
use miners_icl::{Decoding, Generator};
use serde_json::{Value, json};
use support::{Reply, Request, TestServer, vector};

const DIM: usize = 8;

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sentence number {i}")).collect()
}

fn refs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

fn embedding_spec(url: &str, extra: &str) -> EmbeddingApiSpec {
    toml::from_str(&format!(
        "id = \"api\"\nurl = \"{url}\"\nmodel = \"test-model\"\nmax_retries = 2\n{extra}"
    ))
    .unwrap()
}

fn inputs(request: &Request, field: &str) -> Vec<String> {
    request.body[field]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// An OpenAI `/embeddings` answer, items in reverse order (clients match by `index`).
fn openai_answer(request: &Request, dim: usize) -> Reply {
    let base64 = request.body["encoding_format"] == "base64";
    let data: Vec<Value> = inputs(request, "input")
        .iter()
        .enumerate()
        .rev()
        .map(|(index, text)| {
            let v = vector(text, dim);
            let embedding = match base64 {
                true => json!(base64_of(&v)),
                false => json!(v),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Reply::json(json!({
        "object": "list", "data": data, "model": "test-model",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }))
}

fn base64_of(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Cohere `/v1/embed` answer (`embedding_types: ["float"]`).
fn cohere_answer(request: &Request) -> Reply {
    let vectors: Vec<Vec<f32>> = inputs(request, "texts")
        .iter()
        .map(|t| vector(&format!("{}|{t}", request.body["input_type"]), DIM))
        .collect();
    Reply::json(json!({
        "id": "x", "texts": request.body["texts"],
        "response_type": "embeddings_by_type",
        "embeddings": {"float": vectors},
        "meta": {"api_version": {"version": "1"}, "billed_units": {"input_tokens": 2}},
    }))
}

#[test]
fn openai_vectors_come_back_in_input_order_in_both_encodings() {
    for format in ["float", "base64"] {
        let server = TestServer::start(|_, r| openai_answer(r, DIM));
        let spec = embedding_spec(
            &server.url,
            &format!(
                "encoding_format = \"{format}\"\nbatch_size = 3\nmax_concurrency = 3\ndimensions = 8\ninput_type = {{ query = \"query\" }}"
            ),
        );
        let encoder = ApiEncoder::open(&spec, Protocol::OpenAi).unwrap();
        assert_eq!(encoder.dim(), DIM);
        let texts = texts(10);
        let vectors = encoder.encode(&refs(&texts), Role::Query).unwrap();
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                vectors.row(i).to_vec(),
                vector(text, DIM),
                "{format}: text {i}"
            );
        }
        let requests = server.requests();
        assert_eq!(
            requests.len(),
            1 + 4,
            "the probe, then batches of 3, 3, 3, 1"
        );
        assert_eq!(requests[0].path, "/embeddings");
        assert_eq!(inputs(&requests[0], "input"), [PROBE]);
        for request in &requests {
            assert_eq!(request.body["model"], "test-model");
            assert_eq!(request.body["encoding_format"], format);
            assert_eq!(request.body["dimensions"], 8);
            assert_eq!(request.body["input_type"], "query");
        }
        // Passages send no input type: this spec names one for queries only.
        encoder.encode(&["x"], Role::Passage).unwrap();
        assert_eq!(
            server.requests().last().unwrap().body.get("input_type"),
            None
        );
    }
}

#[test]
fn cohere_sends_texts_input_type_and_key_and_reads_typed_embeddings() {
    let server = TestServer::start(|_, r| cohere_answer(r));
    // CARGO_PKG_NAME is set by cargo while tests run: it stands in for a key.
    let spec = embedding_spec(
        &format!("{}/", server.url),
        "api_key_env = \"CARGO_PKG_NAME\"\nbatch_size = 4\ninput_type = { query = \"search_query\", passage = \"search_document\" }",
    );
    let encoder = ApiEncoder::open(&spec, Protocol::Cohere).unwrap();
    let texts = texts(9);
    let queries = encoder.encode(&refs(&texts), Role::Query).unwrap();
    let passages = encoder.encode(&refs(&texts), Role::Passage).unwrap();
    assert_eq!(
        queries.row(4).to_vec(),
        vector(&format!("\"search_query\"|{}", texts[4]), DIM)
    );
    assert_eq!(
        passages.row(4).to_vec(),
        vector(&format!("\"search_document\"|{}", texts[4]), DIM)
    );
    assert_eq!(
        encoder.role_signature(Role::Passage),
        Some("search_document")
    );
    for request in server.requests() {
        assert_eq!(request.path, "/v1/embed");
        assert_eq!(request.body["embedding_types"], json!(["float"]));
        assert_eq!(request.authorization.as_deref(), Some("Bearer miners-api"));
        assert!(inputs(&request, "texts").len() <= 4);
    }
}

#[test]
fn cohere_defaults_to_the_references_search_query_on_both_sides() {
    let server = TestServer::start(|_, r| cohere_answer(r));
    let encoder = ApiEncoder::open(&embedding_spec(&server.url, ""), Protocol::Cohere).unwrap();
    encoder.encode(&["a"], Role::Passage).unwrap();
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.body["input_type"] == "search_query")
    );
}

#[test]
fn batches_are_cut_by_characters_too_and_stay_within_the_concurrency() {
    let in_flight = std::sync::Arc::new(AtomicUsize::new(0));
    let peak = std::sync::Arc::new(AtomicUsize::new(0));
    let server = {
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        TestServer::start(move |_, r| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            openai_answer(r, DIM)
        })
    };
    let spec = embedding_spec(
        &server.url,
        "batch_size = 100\nbatch_chars = 40\nmax_concurrency = 2",
    );
    let encoder = ApiEncoder::open(&spec, Protocol::OpenAi).unwrap();
    // 18 characters each: two per batch; one text of 50 goes alone.
    let mut texts = texts(8);
    texts.push("x".repeat(50));
    let vectors = encoder.encode(&refs(&texts), Role::Query).unwrap();
    assert_eq!(vectors.row(8).to_vec(), vector(&texts[8], DIM));
    let sizes: Vec<usize> = server.requests()[1..]
        .iter()
        .map(|r| inputs(r, "input").len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 9);
    assert!(sizes.iter().all(|&n| n <= 2), "{sizes:?}");
    assert_eq!(sizes.len(), 5);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[test]
fn a_429_waits_for_retry_after_then_succeeds() {
    let server = TestServer::start(|n, r| match n {
        1 => Reply::Answer(
            429,
            vec![("Retry-After", "1".into())],
            r#"{"error":{"message":"slow down"}}"#.into(),
        ),
        _ => openai_answer(r, DIM),
    });
    let encoder = ApiEncoder::open(&embedding_spec(&server.url, ""), Protocol::OpenAi).unwrap();
    let started = Instant::now();
    let vectors = encoder.encode(&["a", "b"], Role::Query).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(vectors.row(1).to_vec(), vector("b", DIM));
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_500_and_a_dropped_connection_are_retried() {
    let server = TestServer::start(|n, r| match n {
        1 => Reply::Answer(500, vec![], "internal".into()),
        2 => Reply::Drop,
        _ => openai_answer(r, DIM),
    });
    let mut spec = embedding_spec(&server.url, "");
    spec.max_retries = 3;
    let encoder = ApiEncoder::open(&spec, Protocol::OpenAi).unwrap();
    let vectors = encoder.encode(&["a"], Role::Query).unwrap();
    assert_eq!(vectors.row(0).to_vec(), vector("a", DIM));
    assert_eq!(server.requests().len(), 4);
}

/// An encoder error's message, after the probe succeeded.
fn failure(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> (String, usize) {
    let server = TestServer::start(move |n, r| match n {
        0 => openai_answer(r, DIM),
        _ => reply(r),
    });
    let encoder = ApiEncoder::open(&embedding_spec(&server.url, ""), Protocol::OpenAi).unwrap();
    let err = encoder
        .encode(&["a", "b"], Role::Query)
        .unwrap_err()
        .to_string();
    (err, server.requests().len())
}

#[test]
fn retries_run_out_with_the_url_status_and_servers_message() {
    let (err, requests) = failure(|_| {
        Reply::Answer(
            503,
            vec![("Retry-After", "0".into())],
            r#"{"error":{"message":"model overloaded"}}"#.into(),
        )
    });
    assert!(err.contains("/embeddings"), "{err}");
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(err.contains("model overloaded"), "{err}");
    assert!(err.contains("3 attempt"), "{err}");
    assert_eq!(requests, 1 + 3);
}

#[test]
fn client_errors_are_not_retried() {
    let (err, requests) =
        failure(|_| Reply::Answer(401, vec![], r#"{"message":"invalid api token"}"#.into()));
    assert!(
        err.contains("HTTP 401") && err.contains("invalid api token"),
        "{err}"
    );
    assert_eq!(requests, 2);
}

/// A server that echoes the request (a 401 quoting the key, a 400 quoting the
/// headers) once put the key into the error, sweep logs and stderr; every
/// server message is redacted now (issue 24, #8). The key is a variable
/// cargo sets for every test process.
#[test]
fn a_server_that_echoes_the_key_does_not_get_it_shown() {
    let key = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    for status in [401, 400] {
        let server = TestServer::start(move |_, request| {
            let echo = request.authorization.clone().unwrap_or_default();
            let body = match status {
                401 => json!({"error": {"message": format!("Incorrect API key provided: {echo}")}}),
                _ => json!({"detail": format!("bad request; headers: authorization: {echo}")}),
            };
            Reply::Answer(status, vec![], body.to_string())
        });
        let spec = embedding_spec(&server.url, "api_key_env = \"CARGO_MANIFEST_DIR\"");
        // Opening probes the server, so the first answer is already the error.
        let err = match ApiEncoder::open(&spec, Protocol::OpenAi) {
            Err(err) => err.to_string(),
            Ok(encoder) => encoder.encode(&["a"], Role::Query).unwrap_err().to_string(),
        };
        assert_eq!(
            server.requests()[0].authorization.as_deref(),
            Some(format!("Bearer {key}").as_str())
        );
        assert!(!err.contains(&key), "{err}");
        assert!(
            err.contains("Bearer <redacted>") && err.contains(&format!("HTTP {status}")),
            "{err}"
        );
    }
}

#[test]
fn a_malformed_body_is_an_error_naming_the_url() {
    let (err, _) = failure(|_| Reply::Answer(200, vec![], "{\"data\": [oops".into()));
    assert!(
        err.contains("/embeddings") && err.contains("not JSON"),
        "{err}"
    );
    let (err, _) = failure(|_| Reply::json(json!({"data": [{"index": 0, "embedding": [1.0]}]})));
    assert!(err.contains("text 0") || err.contains("text 1"), "{err}");
}

#[test]
fn a_wrong_dimension_or_a_nan_names_the_text() {
    let (err, _) = failure(|r| openai_answer(r, DIM + 1));
    assert!(
        err.contains("9-dimensional") && err.contains("expected 8"),
        "{err}"
    );
    let (err, _) = failure(|_| {
        let mut bad = vec![0.5f32; DIM];
        bad[3] = f32::NAN;
        Reply::json(json!({"data": [
            {"index": 0, "embedding": vector("a", DIM)},
            {"index": 1, "embedding": base64_of(&bad)},
        ]}))
    });
    assert!(err.contains("text 1") && err.contains("NaN"), "{err}");
}

#[test]
fn a_changed_model_behind_the_same_name_is_another_fingerprint() {
    let same = TestServer::start(|_, r| openai_answer(r, DIM));
    let again = TestServer::start(|_, r| openai_answer(r, DIM));
    let other = TestServer::start(|_, r| {
        let input = inputs(r, "input");
        let data: Vec<Value> = input
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"index": i, "embedding": vector(&format!("v2 {t}"), DIM)}))
            .collect();
        Reply::json(json!({"data": data}))
    });
    let open =
        |s: &TestServer| ApiEncoder::open(&embedding_spec(&s.url, ""), Protocol::OpenAi).unwrap();
    let (a, b, c) = (open(&same), open(&again), open(&other));
    assert_eq!(
        a.fingerprint(),
        b.fingerprint(),
        "the URL is not part of the identity"
    );
    assert_ne!(a.fingerprint(), c.fingerprint());
}

#[test]
fn vectors_received_before_a_failure_stay_in_the_cache_and_a_rerun_asks_only_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(dir.path());
    let texts = texts(20);
    // Request 3 (the third batch) fails for good; one request at a time.
    let failing = TestServer::start(|n, r| match n {
        3 => Reply::Answer(400, vec![], r#"{"error":{"message":"bad batch"}}"#.into()),
        _ => openai_answer(r, DIM),
    });
    let spec = |url: &str| embedding_spec(url, "batch_size = 5\nmax_concurrency = 1");
    let encoder = ApiEncoder::open(&spec(&failing.url), Protocol::OpenAi).unwrap();
    let err = cache
        .encode(&encoder, &texts, Role::Query, "t", &Quiet)
        .unwrap_err();
    assert!(err.to_string().contains("bad batch"), "{err}");
    let healthy = TestServer::start(|_, r| openai_answer(r, DIM));
    let encoder = ApiEncoder::open(&spec(&healthy.url), Protocol::OpenAi).unwrap();
    let fresh = EmbeddingCache::new(dir.path());
    let vectors = fresh
        .encode(&encoder, &texts, Role::Query, "t", &Quiet)
        .unwrap();
    let asked: usize = healthy.requests()[1..]
        .iter()
        .map(|r| inputs(r, "input").len())
        .sum();
    assert_eq!(asked, 10, "two batches of five arrived before the failure");
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(vectors.row(i).to_vec(), vector(text, DIM));
    }
}

#[test]
fn queries_and_passages_with_different_input_types_are_separate_cache_entries() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(|_, r| cohere_answer(r));
    let spec = embedding_spec(
        &server.url,
        "input_type = { query = \"search_query\", passage = \"search_document\" }",
    );
    let encoder = ApiEncoder::open(&spec, Protocol::Cohere).unwrap();
    let cache = EmbeddingCache::new(dir.path());
    let texts = texts(3);
    let q = cache
        .encode(&encoder, &texts, Role::Query, "q", &Quiet)
        .unwrap();
    let p = cache
        .encode(&encoder, &texts, Role::Passage, "p", &Quiet)
        .unwrap();
    assert_ne!(q.row(0), p.row(0));
    assert_eq!(server.requests().len(), 3, "probe, queries, passages");
    cache
        .encode(&encoder, &texts, Role::Passage, "p", &Quiet)
        .unwrap();
    assert_eq!(server.requests().len(), 3);
}

// ---- generators ----

/// A completions server that tokenises on spaces (each token keeps its
/// leading space) and gives each token `-(its length)/10` as log-probability.
fn completions_answer(request: &Request) -> Reply {
    assert_eq!(request.body["echo"], true);
    let prompt = request.body["prompt"].as_str().unwrap().to_owned();
    let (mut tokens, mut offsets, mut logprobs) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    let chars: Vec<char> = prompt.chars().collect();
    for i in 1..=chars.len() {
        if i == chars.len() || chars[i] == ' ' {
            let token: String = chars[start..i].iter().collect();
            logprobs.push(if start == 0 {
                Value::Null
            } else {
                json!(-(token.chars().count() as f64) / 10.0)
            });
            offsets.push(start);
            tokens.push(token);
            start = i;
        }
    }
    let top: Vec<Value> = tokens.iter().map(|t| json!({ t.as_str(): -0.1 })).collect();
    Reply::json(json!({
        "id": "cmpl-1", "object": "text_completion", "created": 0, "model": "chat-model",
        "choices": [{
            "index": 0,
            "text": format!("{prompt} ."),
            "logprobs": {
                "tokens": tokens, "text_offset": offsets,
                "token_logprobs": logprobs, "top_logprobs": top,
            },
            "finish_reason": "length",
        }],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
    }))
}

fn generator_spec(url: &str, extra: &str) -> GeneratorApiSpec {
    toml::from_str(&format!(
        "id = \"gen\"\nurl = \"{url}\"\nmodel = \"chat-model\"\nmax_retries = 1\n{extra}"
    ))
    .unwrap()
}

#[test]
fn label_logprobs_are_the_mean_over_the_labels_tokens_as_the_server_split_them() {
    let server = TestServer::start(|_, r| completions_answer(r));
    let generator = ApiGenerator::open(
        &generator_spec(&server.url, "max_concurrency = 3"),
        Protocol::OpenAi,
        None,
    )
    .unwrap();
    let prompts = vec![
        "Review: good film. Sentiment:".to_owned(),
        "Another one:".to_owned(),
    ];
    let labels = vec![" positive".to_owned(), " very negative".to_owned()];
    let scores = generator.score(&prompts, &labels).unwrap();
    assert_eq!(scores[0][0], -0.9);
    assert_eq!(scores[1][1], (-0.5 - 0.9) / 2.0);
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1 + 4,
        "the echo probe, then one request per pair"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.path == "/completions" && r.body["max_tokens"] == 1)
    );
}

fn chat_answer(n: usize, request: &Request) -> Reply {
    let prompt = request.body["messages"][0]["content"].as_str().unwrap();
    assert_eq!(request.body["messages"][0]["role"], "user");
    Reply::json(json!({
        "id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": 0,
        "model": "chat-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("{} #{n}", prompt.to_uppercase())},
            "finish_reason": "stop", "logprobs": null,
        }],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }))
}

#[test]
fn chat_generations_follow_the_decoding_and_are_journalled_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(chat_answer);
    let spec = generator_spec(&server.url, "max_concurrency = 4");
    let requests: Vec<(String, Decoding)> = (0..6)
        .map(|i| {
            (
                format!("prompt {i}"),
                GeneratorApiSpec::reference_decoding(42 + i, false),
            )
        })
        .collect();
    let generator = ApiGenerator::open(&spec, Protocol::OpenAi, Some(dir.path())).unwrap();
    let mut done = Vec::new();
    let first = generator
        .generate_batch(&requests, &mut |i| done.push(i))
        .unwrap();
    done.sort();
    assert_eq!(done, (0..6).collect::<Vec<_>>());
    assert!(first[2].text.starts_with("PROMPT 2 #") && first[2].stopped && first[2].tokens == 2);
    let sent = server.requests();
    assert_eq!(sent.len(), 6);
    let third = sent
        .iter()
        .find(|r| r.body["messages"][0]["content"] == "prompt 2")
        .unwrap();
    assert_eq!(
        (
            third.body["temperature"].as_f64(),
            third.body["top_p"].as_f64()
        ),
        (Some(0.0), Some(1.0))
    );
    assert_eq!(
        (
            third.body["seed"].as_u64(),
            third.body["max_tokens"].as_u64()
        ),
        (Some(44), Some(64))
    );
    // A rerun (another process, the same journal) pays for nothing.
    let rerun = ApiGenerator::open(&spec, Protocol::OpenAi, Some(dir.path())).unwrap();
    assert_eq!(rerun.journal().unwrap().len(), 6);
    let again = rerun.generate_batch(&requests, &mut |_| {}).unwrap();
    assert_eq!(again, first);
    assert_eq!(server.requests().len(), 6);
}

#[test]
fn a_crash_mid_batch_keeps_every_finished_answer() {
    let dir = tempfile::tempdir().unwrap();
    let failing = TestServer::start(|n, r| match n {
        3 => Reply::Answer(
            400,
            vec![],
            r#"{"error":{"message":"context length exceeded"}}"#.into(),
        ),
        _ => chat_answer(n, r),
    });
    let requests: Vec<(String, Decoding)> = (0..8)
        .map(|i| (format!("p{i}"), Decoding::greedy(5)))
        .collect();
    let spec = generator_spec(&failing.url, "max_concurrency = 1");
    let generator = ApiGenerator::open(&spec, Protocol::OpenAi, Some(dir.path())).unwrap();
    let err = generator
        .generate_batch(&requests, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("context length exceeded") && err.contains("gen"),
        "{err}"
    );
    // The rerun asks only for the five that never finished.
    let resumed = ApiGenerator::open(&spec, Protocol::OpenAi, Some(dir.path())).unwrap();
    assert_eq!(resumed.journal().unwrap().len(), 3);
    let generations = resumed.generate_batch(&requests, &mut |_| {}).unwrap();
    assert_eq!(generations.len(), 8);
    assert_eq!(failing.requests().len(), 4 + 5);
    assert!(generations[0].text.starts_with("P0 #0"));
}

#[test]
fn a_server_whose_echo_is_shifted_is_refused_rather_than_trusted() {
    // As llama-cpp-python's server does: every echoed token gets about -12.
    let server = TestServer::start(|_, r| {
        let Reply::Answer(_, _, body) = completions_answer(r) else {
            unreachable!()
        };
        Reply::json(serde_json::from_str::<Value>(&body.replace("-0.", "-12.")).unwrap())
    });
    let generator =
        ApiGenerator::open(&generator_spec(&server.url, ""), Protocol::OpenAi, None).unwrap();
    let err = generator
        .score(&["Sentiment:".to_owned()], &[" positive".to_owned()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("echoed log-probabilities look wrong"), "{err}");
    assert_eq!(server.requests().len(), 1, "nothing is scored");
}

/// Cohere's chat answer as its v1 API documents it.
fn cohere_chat_answer(n: usize, request: &Request) -> Reply {
    let message = request.body["message"].as_str().unwrap();
    Reply::json(json!({
        "response_id": format!("r{n}"),
        "text": format!("{} #{n}", message.to_uppercase()),
        "generation_id": format!("g{n}"),
        "chat_history": [
            {"role": "USER", "message": message},
            {"role": "CHATBOT", "message": format!("{} #{n}", message.to_uppercase())},
        ],
        "finish_reason": "COMPLETE",
        "meta": {
            "api_version": {"version": "1"},
            "billed_units": {"input_tokens": 3, "output_tokens": 2},
            "tokens": {"input_tokens": 9, "output_tokens": 2},
        },
    }))
}

#[test]
fn command_r_is_asked_as_the_reference_asks_it_and_only_generates() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(cohere_chat_answer);
    let spec = generator_spec(
        &server.url,
        "scoring = \"generate\"\napi_key_env = \"CARGO_PKG_NAME\"",
    );
    let generator = ApiGenerator::open(&spec, Protocol::Cohere, Some(dir.path())).unwrap();
    let decoding = GeneratorApiSpec::reference_decoding(42, false);
    let answer = generator.generate("Sentiment?", &decoding).unwrap();
    assert_eq!(
        (answer.text.as_str(), answer.tokens, answer.stopped),
        ("SENTIMENT? #0", 2, true)
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/chat");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer miners-api"));
    let body = &sent.body;
    assert_eq!(
        (body["model"].as_str(), body["message"].as_str()),
        (Some("chat-model"), Some("Sentiment?"))
    );
    assert_eq!(
        (body["temperature"].as_f64(), body["p"].as_f64()),
        (Some(0.0), Some(1.0))
    );
    assert_eq!(
        (body["max_tokens"].as_u64(), body["seed"].as_u64()),
        (Some(64), Some(42))
    );
    assert!(body.get("messages").is_none() && body.get("top_p").is_none());
    // Journalled: asking again sends nothing.
    let again = generator.generate("Sentiment?", &decoding).unwrap();
    assert_eq!((again, server.requests().len()), (answer, 1));
    // No log-probabilities: refused when asked, and when the catalog says logprob.
    let err = generator
        .score(&["p".to_owned()], &["x".to_owned()])
        .unwrap_err();
    assert!(err.to_string().contains("no log-probabilities"), "{err}");
    let logprob = generator_spec(&server.url, "scoring = \"logprob\"");
    let err = ApiGenerator::open(&logprob, Protocol::Cohere, None).unwrap_err();
    assert!(err.to_string().contains("scoring = \"generate\""), "{err}");
}

/// The test server's answers are what the official SDKs parse: Cohere's
/// (`cohere` 5.18, its v1 `chat` and `embed`) and OpenAI's (`openai` 1.109:
/// embeddings in both encodings, completions with echoed log-probabilities,
/// chat), the answers of Cohere's chat, OpenAI's float embeddings and chat
/// also validated strictly against the SDK's own response models. Needs a Python with both (`cargo xtask test` sets
/// MINERS_SDK_PYTHON to `.cache/hub-venv`).
#[test]
fn the_official_sdks_parse_the_test_servers_answers() {
    let python = std::env::var_os("MINERS_SDK_PYTHON")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.cache/hub-venv/bin/python");
            venv.is_file().then_some(venv)
        });
    let Some(python) = python else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have MINERS_SDK_PYTHON"
        );
        eprintln!(
            "skipping: no Python with the cohere and openai SDKs (cargo xtask test builds one)"
        );
        return;
    };
    let server = TestServer::start(|n, request| match request.path.trim_start_matches("/v1") {
        "/embed" => cohere_answer(request),
        "/chat" => cohere_chat_answer(n, request),
        "/embeddings" => openai_answer(request, DIM),
        "/completions" => completions_answer(request),
        "/chat/completions" => chat_answer(n, request),
        other => Reply::Answer(404, Vec::new(), format!("{{\"message\": \"no {other}\"}}")),
    });
    let output = std::process::Command::new(&python)
        .args(["-c", SDK_CHECK, &server.url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(parsed["cohere_chat"], "SENTIMENT? #0");
    assert_eq!(parsed["cohere_finish"], "COMPLETE");
    let cohere_vector: Vec<f32> =
        serde_json::from_value(parsed["cohere_embed"][1].clone()).unwrap();
    assert_eq!(cohere_vector, vector("\"search_query\"|b", DIM));
    for format in ["float", "base64"] {
        let vectors: Vec<Vec<f32>> =
            serde_json::from_value(parsed[format!("openai_{format}")].clone()).unwrap();
        assert_eq!(vectors, [vector("a", DIM), vector("b", DIM)], "{format}");
    }
    assert_eq!(parsed["echoed"], json!(["Review:", " good", " positive"]));
    assert_eq!(parsed["chat"], "HI #5", "the sixth request");
}

/// Calls the test server (`sys.argv[1]`) through both SDKs and prints what they parsed.
const SDK_CHECK: &str = r#"
import json, sys
import cohere, openai
from cohere.types import NonStreamedChatResponse
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

url = sys.argv[1]
out = {}
co = cohere.Client(api_key="key", base_url=url)
chat = co.chat(model="command-r", message="Sentiment?", temperature=0, max_tokens=64, seed=42, p=1)
out["cohere_chat"], out["cohere_finish"] = chat.text, chat.finish_reason
NonStreamedChatResponse.model_validate(chat.model_dump())
embed = co.embed(texts=["a", "b"], model="m", input_type="search_query", embedding_types=["float"])
out["cohere_embed"] = embed.embeddings.float_

oa = openai.OpenAI(api_key="key", base_url=url + "/v1", max_retries=0)
for fmt in ["float", "base64"]:
    raw = oa.embeddings.with_raw_response.create(model="test-model", input=["a", "b"], encoding_format=fmt)
    if fmt == "float":
        # The SDK's model types vectors as numbers; base64 ones it hands back as sent.
        CreateEmbeddingResponse.model_validate(raw.http_response.json())
        data = raw.parse().data
        out["openai_float"] = [d.embedding for d in sorted(data, key=lambda d: d.index)]
    else:
        import base64, struct
        data = sorted(raw.http_response.json()["data"], key=lambda d: d["index"])
        out["openai_base64"] = [list(struct.unpack(f"<{len(base64.b64decode(d['embedding'])) // 4}f", base64.b64decode(d["embedding"]))) for d in data]
raw = oa.completions.with_raw_response.create(model="m", prompt="Review: good positive", echo=True, logprobs=1, max_tokens=1)
# Parsed as the SDK parses: its model types every echoed log-probability as
# a number, yet OpenAI's own echo gives the first token none (null).
completion = raw.parse()
assert isinstance(completion, Completion)
out["echoed"] = completion.choices[0].logprobs.tokens
raw = oa.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=64, temperature=0, top_p=1, seed=42)
out["chat"] = ChatCompletion.model_validate(raw.http_response.json()).choices[0].message.content
print(json.dumps(out))
"#;
