//! A blocking JSON-over-HTTP client with retries: exponential backoff with
//! jitter on 408, 429, 5xx and connection errors, honouring `Retry-After`.

use std::time::Duration;

use serde_json::Value;

use crate::{ApiError, spec::Connection};

/// First backoff; each retry doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured; a server asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Response bodies read at most (a large batch of float vectors is tens of MB).
const MAX_BODY: u64 = 1 << 30;

/// One endpoint: its base URL, key and retry policy.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: Option<String>,
    max_retries: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl Client {
    /// A client of `url`, with the key read from the environment variable
    /// `api_key_env` (when one is named).
    pub fn new(
        url: &str,
        api_key_env: Option<&str>,
        connection: &Connection,
    ) -> Result<Self, ApiError> {
        let key = match api_key_env {
            Some(name) => read_key(name, std::env::var(name).ok())?,
            None => None,
        };
        if !(connection.timeout_s > 0.0 && connection.timeout_s.is_finite()) {
            return Err(ApiError::Config(format!(
                "{url}: timeout_s must be a positive number of seconds, not {}",
                connection.timeout_s
            )));
        }
        if connection.max_concurrency == 0 {
            return Err(ApiError::Config(format!(
                "{url}: max_concurrency must be at least 1"
            )));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs_f64(connection.timeout_s)))
            .max_idle_connections_per_host(connection.max_concurrency.max(1))
            .build();
        Ok(Self {
            agent: config.new_agent(),
            base: url.trim_end_matches('/').to_owned(),
            key,
            max_retries: connection.max_retries,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST {base}{path}` with a JSON body; the parsed JSON response, after
    /// as many retries as the policy allows.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
        let mut attempt = 0;
        loop {
            match self.attempt(&url, &bytes) {
                Ok(value) => return Ok(value),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Retry { error, after }) => {
                    if attempt == self.max_retries {
                        return Err(error.after(attempt + 1));
                    }
                    std::thread::sleep(after.unwrap_or_else(|| backoff(attempt)));
                    attempt += 1;
                }
            }
        }
    }

    /// One request; whether a failure may pass on a retry.
    fn attempt(&self, url: &str, body: &[u8]) -> Result<Value, Attempt> {
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(key) = &self.key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let response = request.send(body).map_err(|e| transport(url, e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = response
            .into_body()
            .into_with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| transport(url, e))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| {
                Attempt::Final(ApiError::Body {
                    url: url.to_owned(),
                    message: self.redact(&format!("not JSON ({e}): {}", snippet(&text))),
                })
            });
        }
        let error = ApiError::Status {
            url: url.to_owned(),
            status,
            message: self.redact(&server_message(&text)),
            attempts: 1,
        };
        match retryable(status) {
            true => Err(Attempt::Retry {
                error,
                after: retry_after,
            }),
            false => Err(Attempt::Final(error)),
        }
    }
}

impl Client {
    /// `text` from a server with the key and every `Bearer` token replaced by
    /// `<redacted>`: a server that echoes the request must not put the key
    /// into errors, logs or stderr.
    fn redact(&self, text: &str) -> String {
        redact(text, self.key.as_deref())
    }
}

/// The key from the variable `name`'s `value`: an error when unset; set but
/// blank, a warning and no key (a bare `Bearer ` header helps no server).
fn read_key(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    let value = value.ok_or_else(|| ApiError::MissingKey {
        variable: name.to_owned(),
    })?;
    if value.trim().is_empty() {
        eprintln!(
            "warning: the API key variable `{name}` is set but empty; requests go without a key"
        );
        return Ok(None);
    }
    Ok(Some(value))
}

/// `text` with `key` (when given) and the token after every `Bearer `
/// replaced by `<redacted>`.
pub(crate) fn redact(text: &str, key: Option<&str>) -> String {
    let mut text = match key.filter(|k| !k.is_empty()) {
        Some(key) => text.replace(key, "<redacted>"),
        None => text.to_owned(),
    };
    let mut from = 0;
    while let Some(at) = text[from..].to_ascii_lowercase().find("bearer ") {
        let start = from + at + "bearer ".len();
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || "\"',;}]".contains(c))
            .map_or(text.len(), |n| start + n);
        if end > start && !text[start..end].starts_with("<redacted>") {
            text.replace_range(start..end, "<redacted>");
        }
        from = start;
    }
    text
}

/// How one attempt failed.
enum Attempt {
    /// Worth another try, after the server's `Retry-After` if it sent one.
    Retry {
        error: ApiError,
        after: Option<Duration>,
    },
    /// Another try would fail the same way.
    Final(ApiError),
}

/// Statuses that may pass: timeout, rate limit, server errors.
fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504 | 529)
}

/// Connection-level failures may pass; a malformed URL or a TLS setup error will not.
fn transport(url: &str, error: ureq::Error) -> Attempt {
    let retry = matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
    );
    let error = ApiError::Transport {
        url: url.to_owned(),
        message: error.to_string(),
        attempts: 1,
    };
    match retry {
        true => Attempt::Retry { error, after: None },
        false => Attempt::Final(error),
    }
}

/// Exponential backoff with full jitter in its upper half: `[d/2, d)` for
/// `d = min(MAX_BACKOFF, FIRST_BACKOFF · 2^attempt)`.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << attempt.min(16));
    let ceiling = doubled.min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + 0.5 * fastrand::f64())
}

/// `Retry-After` in seconds (the HTTP-date form counts as absent), capped.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

/// The server's own words: OpenAI's `error.message`, Cohere's `message`, or the body's start.
fn server_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
    });
    match message {
        Some(message) => message.to_owned(),
        None => snippet(body),
    }
}

/// At most 300 characters of a body, for an error message.
fn snippet(body: &str) -> String {
    let mut cut: String = body.chars().take(300).collect();
    if cut.len() < body.len() {
        cut.push('…');
    }
    if cut.trim().is_empty() {
        return "(empty body)".into();
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempt in 0..20 {
            let ceiling = FIRST_BACKOFF
                .saturating_mul(1 << attempt.min(16))
                .min(MAX_BACKOFF);
            let delay = backoff(attempt);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_is_capped() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("100000"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn keys_and_bearer_tokens_are_redacted() {
        let key = Some("sk-secret-123");
        assert_eq!(
            redact("Incorrect API key provided: Bearer sk-secret-123.", key),
            "Incorrect API key provided: Bearer <redacted>."
        );
        assert_eq!(
            redact(r#"{"authorization":"bearer xyz","k":"sk-secret-123"}"#, key),
            r#"{"authorization":"bearer <redacted>","k":"<redacted>"}"#
        );
        assert_eq!(
            redact("AUTHORIZATION: Bearer other-token\nnext", None),
            "AUTHORIZATION: Bearer <redacted>\nnext"
        );
        assert_eq!(redact("no secret here", key), "no secret here");
        assert_eq!(redact("Bearer", key), "Bearer");
    }

    #[test]
    fn an_empty_key_variable_sends_no_key_and_an_unset_one_is_an_error() {
        assert_eq!(read_key("K", Some("  ".into())).unwrap(), None);
        assert_eq!(read_key("K", Some("k1".into())).unwrap(), Some("k1".into()));
        assert!(matches!(
            read_key("K", None),
            Err(ApiError::MissingKey { .. })
        ));
    }

    #[test]
    fn server_messages_are_found_in_each_protocols_shape() {
        let openai = r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#;
        assert_eq!(server_message(openai), "Rate limit reached");
        assert_eq!(
            server_message(r#"{"message":"invalid api token"}"#),
            "invalid api token"
        );
        assert_eq!(
            server_message("<html>Bad gateway</html>"),
            "<html>Bad gateway</html>"
        );
        assert_eq!(server_message(""), "(empty body)");
    }

    #[test]
    fn a_missing_key_variable_is_named_and_its_value_never_printed() {
        let connection = Connection::default();
        let err = Client::new(
            "http://x",
            Some("MINERS_TEST_SURELY_UNSET_KEY"),
            &connection,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("MINERS_TEST_SURELY_UNSET_KEY"),
            "{err}"
        );
        // PATH is set everywhere: stand-in for a key's value.
        let client = Client::new("http://x/", Some("PATH"), &connection).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains(&std::env::var("PATH").unwrap()), "{shown}");
        assert_eq!(client.base(), "http://x");
    }
}
