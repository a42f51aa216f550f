//! The readers of server responses, as the clients use them: public so that
//! the fuzz harness (and anyone checking recorded answers) can feed them any
//! JSON. Each returns what it read or a message saying what is wrong; none
//! panics.

use miners_icl::Generation;
use serde_json::Value;

use crate::Protocol;

/// The `expected` vectors of an embeddings response, in input order.
pub fn embeddings(
    protocol: Protocol,
    response: &Value,
    expected: usize,
) -> Result<Vec<Vec<f32>>, String> {
    match protocol {
        Protocol::OpenAi => crate::embeddings::openai_rows(response, expected),
        Protocol::Cohere => crate::embeddings::cohere_rows(response, expected),
    }
}

/// The mean log-probability of the echoed completion tokens that cover
/// characters `start..end` of the prompt (a label's).
pub fn label_logprob(response: &Value, start: usize, end: usize) -> Result<f64, String> {
    crate::generator::mean_logprob(response, start, end)
}

/// A chat completion's text, token count and stop reason.
pub fn chat(response: &Value) -> Result<Generation, String> {
    let value = crate::generator::read_chat(response)?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}
