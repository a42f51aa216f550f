//! Generators behind an API. OpenAI-compatible ones score labels by their
//! log-probabilities through `/completions` with `echo` and generate through
//! `/chat/completions`; Cohere's (Command-R) generate through `/v1/chat`, with
//! the reference's `message`, `temperature`, `max_tokens`, `seed` and `p`, and
//! give no log-probabilities.
//!
//! **How prompt and label are split.** A label is scored by sending the
//! prompt and the label as one text, `echo: true`, `logprobs: 1`,
//! `max_tokens: 1` (llama.cpp's server reads 0 as "no limit"), so the server
//! tokenises them together as it would any text. The label's tokens are those
//! whose characters (`text_offset`, in characters) reach past the prompt's
//! end and start before the label's end: a token that straddles the
//! boundary counts for the label, and the generated token does not. The
//! score is their mean log-probability, as the reference averages over the
//! label's tokens.
//!
//! **Servers whose echo is wrong are refused.** Before its first score, a
//! generator sends a counting sequence (`1, 2, …, 20`) that any language model
//! continues with near certainty: if its second half averages below
//! [`ECHO_FLOOR`] per token, the server's echoed log-probabilities are not
//! those of the tokens (llama-cpp-python's server reports each token's
//! probability one position late) and scoring stops with an error instead
//! of giving wrong numbers.

use std::{ops::ControlFlow, path::Path, sync::OnceLock};

use miners_icl::{Decoding, Generation, Generator, IclError, Sampling, ScoringKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::{
    ApiError,
    client::Client,
    journal::Journal,
    pool::in_flight,
    spec::{GeneratorApiSpec, Protocol},
};

/// The context window of a spec that names none: no cut.
const UNBOUNDED: usize = usize::MAX / 4;
/// A text whose second half any language model predicts with near certainty.
const ECHO_PROBE: &str = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20";
/// Mean log-probability per token of the probe's second half below which a
/// server's echo is not trusted (a model gives about -0.3; shifted echoes about -12).
pub const ECHO_FLOOR: f64 = -3.0;

/// A generator behind an OpenAI-compatible or Cohere endpoint.
#[derive(Debug)]
pub struct ApiGenerator {
    spec: GeneratorApiSpec,
    protocol: Protocol,
    client: Client,
    tokenizer: Option<Tokenizer>,
    journal: Option<Journal>,
    echo: OnceLock<Result<(), String>>,
}

impl ApiGenerator {
    /// A generator of `spec` speaking `protocol`; with `journal_root`, every
    /// answer is journalled under `<journal_root>/<hash of url and model>` as
    /// it arrives. Cohere's chat gives no log-probabilities, so a Cohere spec
    /// scores by generation.
    pub fn open(
        spec: &GeneratorApiSpec,
        protocol: Protocol,
        journal_root: Option<&Path>,
    ) -> Result<Self, ApiError> {
        if protocol == Protocol::Cohere && spec.scoring == ScoringKind::Logprob {
            return Err(ApiError::Config(format!(
                "generator `{}`: Cohere's chat gives no log-probabilities; set scoring = \"generate\"",
                spec.id
            )));
        }
        let tokenizer = match &spec.tokenizer {
            Some(path) => Some(read_tokenizer(path)?),
            None => None,
        };
        let client = Client::new(&spec.url, spec.api_key_env.as_deref(), &spec.connection())?;
        let journal = match journal_root {
            Some(root) => Some(Journal::open(
                &root.join(endpoint_dir(client.base(), &spec.model)),
            )?),
            None => None,
        };
        Ok(Self {
            spec: spec.clone(),
            protocol,
            client,
            tokenizer,
            journal,
            echo: OnceLock::new(),
        })
    }

    /// Whether the server's echoed log-probabilities can be trusted (asked once).
    fn check_echo(&self) -> Result<(), ApiError> {
        let verdict = self.echo.get_or_init(|| {
            let body = json!({
                "model": self.spec.model,
                "prompt": ECHO_PROBE,
                "echo": true,
                "logprobs": 1,
                "max_tokens": 1,
                "temperature": 0.0,
            });
            let response = self
                .client
                .post("/completions", &body)
                .map_err(|e| e.to_string())?;
            let end = ECHO_PROBE.chars().count();
            let mean = mean_logprob(&response, end / 2, end)?;
            if mean >= ECHO_FLOOR {
                return Ok(());
            }
            Err(format!(
                "{}/completions: the echoed log-probabilities look wrong: the second half of \
                 `1, 2, …, 20` scores {mean:.2} per token (a language model gives about -0.3). \
                 llama-cpp-python's server reports each token's probability one position late \
                 (abetlen/llama-cpp-python#1983) and llama.cpp's own server echoes none; score \
                 with a server that implements `echo` (vLLM, OpenAI's completions) or with \
                 `--scoring generate`",
                self.client.base()
            ))
        });
        verdict.clone().map_err(ApiError::Config)
    }

    /// The journal, when answers are kept.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// `POST path`, or the journalled answer to the same request; `read`
    /// turns a response into the answer kept (`label` tells two readings of
    /// one request apart).
    fn ask(
        &self,
        path: &str,
        body: &Value,
        label: &str,
        read: impl Fn(&Value) -> Result<Value, String>,
    ) -> Result<Value, ApiError> {
        let key = Journal::key(&format!("{path}#{label}"), body);
        if let Some(answer) = self.journal.as_ref().and_then(|j| j.get(&key)) {
            return Ok(answer);
        }
        let response = self.client.post(path, body)?;
        let answer = read(&response).map_err(|message| ApiError::Body {
            url: format!("{}{path}", self.client.base()),
            message,
        })?;
        if let Some(journal) = &self.journal {
            journal.put(&key, answer.clone())?;
        }
        Ok(answer)
    }

    /// The mean log-probability of `label`'s tokens after `prompt`.
    fn label_logprob(&self, prompt: &str, label: &str) -> Result<f64, ApiError> {
        let body = json!({
            "model": self.spec.model,
            "prompt": format!("{prompt}{label}"),
            "echo": true,
            "logprobs": 1,
            "max_tokens": 1,
            "temperature": 0.0,
        });
        let start = prompt.chars().count();
        let end = start + label.chars().count();
        let answer = self.ask(
            "/completions",
            &body,
            &format!("{start}..{end}"),
            |response| mean_logprob(response, start, end).map(|mean| json!(mean)),
        )?;
        answer.as_f64().ok_or_else(|| ApiError::Body {
            url: format!("{}/completions", self.client.base()),
            message: format!("journalled answer {answer} is not a number"),
        })
    }

    /// One chat turn: a single user message, answered as the protocol says.
    fn chat(&self, prompt: &str, decoding: &Decoding) -> Result<Generation, ApiError> {
        let (path, body, read): (_, _, ReadAnswer) = match self.protocol {
            Protocol::OpenAi => (
                "/chat/completions",
                self.openai_chat(prompt, decoding),
                read_chat,
            ),
            Protocol::Cohere => (
                "/v1/chat",
                self.cohere_chat(prompt, decoding),
                read_cohere_chat,
            ),
        };
        let answer = self.ask(path, &body, "", read)?;
        serde_json::from_value(answer.clone()).map_err(|e| ApiError::Body {
            url: format!("{}{path}", self.client.base()),
            message: format!("journalled answer {answer}: {e}"),
        })
    }

    /// `/chat/completions`: `messages`, `max_tokens`, `temperature`, `top_p`
    /// and, when sampling, `seed`.
    fn openai_chat(&self, prompt: &str, decoding: &Decoding) -> Value {
        let mut body = json!({
            "model": self.spec.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": decoding.max_new_tokens,
        });
        let (temperature, top_p, seed) = sampling(decoding);
        body["temperature"] = json!(temperature);
        body["top_p"] = json!(top_p);
        if let Some(seed) = seed {
            body["seed"] = json!(seed);
        }
        body
    }

    /// Cohere's `/v1/chat` as the reference calls it
    /// (`get_commandr_chat_response`): `message`, `temperature`,
    /// `max_tokens`, `seed` and `p`.
    fn cohere_chat(&self, prompt: &str, decoding: &Decoding) -> Value {
        let mut body = json!({
            "model": self.spec.model,
            "message": prompt,
            "max_tokens": decoding.max_new_tokens,
        });
        let (temperature, top_p, seed) = sampling(decoding);
        body["temperature"] = json!(temperature);
        body["p"] = json!(top_p);
        if let Some(seed) = seed {
            body["seed"] = json!(seed);
        }
        body
    }

    fn error(&self, error: ApiError) -> IclError {
        IclError::Generator {
            generator: self.spec.id.clone(),
            message: error.to_string(),
        }
    }
}

impl Generator for ApiGenerator {
    fn id(&self) -> &str {
        &self.spec.id
    }

    fn context_window(&self) -> usize {
        self.spec.context_window.unwrap_or(UNBOUNDED)
    }

    fn count_tokens(&self, text: &str) -> Result<usize, IclError> {
        let Some(tokenizer) = &self.tokenizer else {
            return Ok(text.len());
        };
        let encoding = tokenizer
            .encode_fast(text, false)
            .map_err(|e| self.error(ApiError::Config(format!("tokenizing: {e}"))))?;
        Ok(encoding.len())
    }

    fn score(
        &self,
        prompts: &[String],
        continuations: &[String],
    ) -> Result<Vec<Vec<f64>>, IclError> {
        if self.protocol == Protocol::Cohere {
            let message = "Cohere's chat gives no log-probabilities; score by generation";
            return Err(self.error(ApiError::Config(message.into())));
        }
        self.check_echo().map_err(|e| self.error(e))?;
        let pairs: Vec<(usize, usize)> = (0..prompts.len())
            .flat_map(|p| (0..continuations.len()).map(move |c| (p, c)))
            .collect();
        let mut scores = vec![vec![f64::NAN; continuations.len()]; prompts.len()];
        in_flight(
            &pairs,
            self.spec.max_concurrency,
            |&(p, c)| self.label_logprob(&prompts[p], &continuations[c]),
            |i, score| {
                scores[pairs[i].0][pairs[i].1] = score;
                ControlFlow::Continue(())
            },
        )
        .map_err(|e| self.error(e))?;
        Ok(scores)
    }

    fn generate(&self, prompt: &str, decoding: &Decoding) -> Result<Generation, IclError> {
        self.chat(prompt, decoding).map_err(|e| self.error(e))
    }

    fn generate_batch(
        &self,
        requests: &[(String, Decoding)],
        done: &mut dyn FnMut(usize),
    ) -> Result<Vec<Generation>, IclError> {
        let mut generations = vec![None; requests.len()];
        in_flight(
            requests,
            self.spec.max_concurrency,
            |(prompt, decoding)| self.chat(prompt, decoding),
            |i, generation| {
                generations[i] = Some(generation);
                done(i);
                ControlFlow::Continue(())
            },
        )
        .map_err(|e| self.error(e))?;
        Ok(generations.into_iter().flatten().collect())
    }
}

/// The mean log-probability of the echoed tokens that overlap characters
/// `start..end` (see the module's notes on the split).
pub(crate) fn mean_logprob(response: &Value, start: usize, end: usize) -> Result<f64, String> {
    let logprobs = response
        .pointer("/choices/0/logprobs")
        .ok_or("no `choices[0].logprobs` (does the server support `echo` with `logprobs`?)")?;
    let field = |name: &str| {
        logprobs
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("no `logprobs.{name}` list"))
    };
    let (tokens, offsets, values) = (
        field("tokens")?,
        field("text_offset")?,
        field("token_logprobs")?,
    );
    if tokens.len() != offsets.len() || tokens.len() != values.len() {
        return Err("`logprobs` lists of different lengths".into());
    }
    let mut label = Vec::new();
    for ((token, offset), value) in tokens.iter().zip(offsets).zip(values) {
        let offset = offset
            .as_u64()
            .and_then(|o| usize::try_from(o).ok())
            .ok_or("a `text_offset` that is not a count")?;
        let chars = token.as_str().map_or(0, |t| t.chars().count());
        if offset < end && offset.saturating_add(chars.max(1)) > start {
            let value = value
                .as_f64()
                .ok_or_else(|| format!("label token {token} has no log-probability"))?;
            label.push(value);
        }
    }
    if label.is_empty() {
        return Err(format!("no echoed token covers characters {start}..{end}"));
    }
    Ok(label.iter().sum::<f64>() / label.len() as f64)
}

/// A chat completion's text, token count and stop reason.
pub(crate) fn read_chat(response: &Value) -> Result<Value, String> {
    let choice = response.pointer("/choices/0").ok_or("no `choices[0]`")?;
    let text = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .ok_or("no `choices[0].message.content`")?;
    let tokens = response
        .pointer("/usage/completion_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let stopped = choice.get("finish_reason").and_then(Value::as_str) == Some("stop");
    generation(text, tokens, stopped)
}

/// Turns a response into the answer kept (and journalled).
type ReadAnswer = fn(&Value) -> Result<Value, String>;

/// Cohere's chat answer: its `text`, output tokens (`meta.billed_units`) and
/// whether it ended by itself (`finish_reason` `COMPLETE`).
pub(crate) fn read_cohere_chat(response: &Value) -> Result<Value, String> {
    let text = response
        .get("text")
        .and_then(Value::as_str)
        .ok_or("no `text`")?;
    let tokens = response
        .pointer("/meta/billed_units/output_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let stopped = response.get("finish_reason").and_then(Value::as_str) == Some("COMPLETE");
    generation(text, tokens, stopped)
}

/// A generation as the journal keeps it.
fn generation(text: &str, tokens: u64, stopped: bool) -> Result<Value, String> {
    let generation = Generation {
        text: text.to_owned(),
        tokens: tokens as usize,
        stopped,
    };
    serde_json::to_value(generation).map_err(|e| e.to_string())
}

/// Temperature, top-p and seed of a decoding: greedy is temperature 0 and
/// top-p 1 without a seed.
fn sampling(decoding: &Decoding) -> (f64, f64, Option<u64>) {
    match decoding.sampling {
        Sampling::Greedy => (0.0, 1.0, None),
        Sampling::Sample {
            temperature,
            top_p,
            seed,
        } => (temperature, top_p, Some(seed)),
    }
}

/// `<16 hex digits>` of the endpoint's URL and model: one journal per endpoint.
fn endpoint_dir(base: &str, model: &str) -> String {
    let digest = Sha256::digest(format!("{base}\0{model}").as_bytes());
    miners_core::hex(&digest[..8])
}

/// A `tokenizer.json`, or the one in a directory.
fn read_tokenizer(path: &Path) -> Result<Tokenizer, ApiError> {
    let file = match path.is_dir() {
        true => path.join("tokenizer.json"),
        false => path.to_owned(),
    };
    Tokenizer::from_file(&file).map_err(|e| ApiError::Config(format!("{}: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What llama.cpp's server echoed for `Él dijo: café` + ` positive`.
    fn echoed() -> Value {
        json!({"choices": [{"logprobs": {
            "tokens": ["É", "l", " di", "jo", ":", " café", " positive", "."],
            "text_offset": [0, 1, 2, 5, 7, 8, 13, 22],
            "token_logprobs": [null, -11.0, -6.3, -11.9, -9.5, -6.0, -8.0, -1.0],
        }}]})
    }

    #[test]
    fn the_label_is_the_tokens_past_the_prompt_in_characters() {
        assert_eq!(mean_logprob(&echoed(), 13, 22).unwrap(), -8.0);
        // A token straddling the boundary counts for the label.
        assert_eq!(mean_logprob(&echoed(), 10, 22).unwrap(), (-6.0 - 8.0) / 2.0);
        assert!(
            mean_logprob(&echoed(), 30, 31)
                .unwrap_err()
                .contains("30..31")
        );
        let missing = json!({"choices": [{"text": "x"}]});
        assert!(mean_logprob(&missing, 0, 1).unwrap_err().contains("echo"));
    }

    #[test]
    fn chats_read_text_tokens_and_stop() {
        let response = json!({
            "choices": [{"message": {"role": "assistant", "content": "positive"}, "finish_reason": "stop"}],
            "usage": {"completion_tokens": 2},
        });
        let generation: Generation = serde_json::from_value(read_chat(&response).unwrap()).unwrap();
        assert_eq!(
            generation,
            Generation {
                text: "positive".into(),
                tokens: 2,
                stopped: true
            }
        );
    }
}
