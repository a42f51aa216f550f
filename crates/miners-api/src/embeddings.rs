//! Embedding endpoints as encoders: OpenAI's `/embeddings` and Cohere's `/v1/embed`.

use base64::Engine as _;
use miners_core::Embeddings;
use miners_encoders::{Encoder, EncoderError, Fingerprint, Prompts, Role};
use serde_json::{Value, json};

use crate::{
    ApiError,
    client::Client,
    pool::in_flight,
    spec::{EmbeddingApiSpec, InputTypes, Protocol},
};

/// The sentence whose vector identifies the model behind an endpoint.
pub const PROBE: &str = "miners identity probe: The quick brown fox jumps over the lazy dog.";
/// Components of the probe that its signature keeps (the largest in magnitude).
const PROBE_COMPONENTS: usize = 16;

/// An encoder whose vectors come from an HTTP endpoint.
#[derive(Debug)]
pub struct ApiEncoder {
    spec: EmbeddingApiSpec,
    protocol: Protocol,
    input_type: InputTypes,
    client: Client,
    dim: usize,
    fingerprint: String,
}

impl ApiEncoder {
    /// Connects to the endpoint a spec names and embeds the [`PROBE`] sentence,
    /// which fixes the width and the fingerprint.
    pub fn open(spec: &EmbeddingApiSpec, protocol: Protocol) -> Result<Self, ApiError> {
        if spec.batch_size == 0 || spec.batch_chars == 0 {
            return Err(ApiError::Config(format!(
                "`{}`: batch_size and batch_chars must be at least 1",
                spec.id
            )));
        }
        let input_type = match (protocol, spec.input_type.is_empty()) {
            (Protocol::Cohere, true) => InputTypes::cohere_reference(),
            _ => spec.input_type.clone(),
        };
        let mut encoder = Self {
            client: Client::new(&spec.url, spec.api_key_env.as_deref(), &spec.connection())?,
            spec: spec.clone(),
            protocol,
            input_type,
            dim: spec.dimensions.unwrap_or(0),
            fingerprint: String::new(),
        };
        let probe = encoder.request(&[PROBE], Role::Query, 0)?;
        encoder.dim = probe.dim();
        encoder.fingerprint = encoder.identify(probe.as_slice());
        Ok(encoder)
    }

    /// The hash of everything that fixes this endpoint's vectors.
    fn identify(&self, probe: &[f32]) -> String {
        let mut fingerprint = Fingerprint::new("api-embeddings-v1");
        fingerprint
            .field("protocol", self.protocol.name())
            .field("model", &self.spec.model)
            .field("dimensions", self.dim)
            .field("input_type", format!("{:?}", self.input_type))
            .field("probe", probe_signature(probe));
        fingerprint.finish()
    }

    /// One request for `texts` (at `offset` of the caller's list, for error
    /// messages): the vectors in input order, checked.
    fn request(&self, texts: &[&str], role: Role, offset: usize) -> Result<Embeddings, ApiError> {
        let input_type = self.input_type.for_role(role);
        let (path, body) = match self.protocol {
            Protocol::OpenAi => ("/embeddings", self.openai_body(texts, input_type)),
            Protocol::Cohere => ("/v1/embed", self.cohere_body(texts, input_type)),
        };
        let response = self.client.post(path, &body)?;
        let url = || format!("{}{path}", self.client.base());
        let rows = match self.protocol {
            Protocol::OpenAi => openai_rows(&response, texts.len()),
            Protocol::Cohere => cohere_rows(&response, texts.len()),
        }
        .map_err(|message| ApiError::Body {
            url: url(),
            message,
        })?;
        self.check(rows, offset).map_err(|message| ApiError::Body {
            url: url(),
            message,
        })
    }

    fn openai_body(&self, texts: &[&str], input_type: Option<&str>) -> Value {
        let mut body = json!({
            "model": self.spec.model,
            "input": texts,
            "encoding_format": self.spec.encoding_format.name(),
        });
        if let Some(dimensions) = self.spec.dimensions {
            body["dimensions"] = json!(dimensions);
        }
        if let Some(input_type) = input_type {
            body["input_type"] = json!(input_type);
        }
        body
    }

    fn cohere_body(&self, texts: &[&str], input_type: Option<&str>) -> Value {
        let mut body = json!({
            "model": self.spec.model,
            "texts": texts,
            "embedding_types": ["float"],
        });
        if let Some(input_type) = input_type {
            body["input_type"] = json!(input_type);
        }
        body
    }

    /// Every row has the endpoint's width and only finite values.
    fn check(&self, rows: Vec<Vec<f32>>, offset: usize) -> Result<Embeddings, String> {
        let dim = match self.dim {
            0 => rows.first().map_or(0, Vec::len),
            dim => dim,
        };
        let mut values = Vec::with_capacity(rows.len() * dim);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != dim {
                return Err(format!(
                    "text {}: a {}-dimensional vector, expected {dim}",
                    offset + i,
                    row.len()
                ));
            }
            if let Some(bad) = row.iter().find(|v| !v.is_finite()) {
                return Err(format!("text {}: the vector holds {bad}", offset + i));
            }
            values.extend_from_slice(row);
        }
        if dim == 0 {
            return Err("the server returned empty vectors".into());
        }
        Embeddings::from_rows(dim, values).map_err(|e| e.to_string())
    }

    /// Consecutive runs of texts within `batch_size` texts and `batch_chars`
    /// characters (a longer text goes alone), as index ranges.
    fn batches(&self, texts: &[&str]) -> Vec<std::ops::Range<usize>> {
        let mut batches = Vec::new();
        let (mut start, mut chars) = (0, 0);
        for (i, text) in texts.iter().enumerate() {
            let len = text.chars().count();
            let full = i - start == self.spec.batch_size || chars + len > self.spec.batch_chars;
            if i > start && full {
                batches.push(start..i);
                (start, chars) = (i, 0);
            }
            chars += len;
        }
        if start < texts.len() {
            batches.push(start..texts.len());
        }
        batches
    }
}

impl Encoder for ApiEncoder {
    fn id(&self) -> &str {
        &self.spec.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn prompts(&self) -> &Prompts {
        &self.spec.prompts
    }

    fn role_signature(&self, role: Role) -> Option<&str> {
        self.input_type.for_role(role)
    }

    fn encode_raw(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        miners_encoders::collect_in_order(texts.len(), self.dim, |sink| {
            self.encode_raw_streaming(texts, role, sink)
        })
    }

    fn encode_raw_streaming(
        &self,
        texts: &[&str],
        role: Role,
        sink: &mut miners_encoders::Sink<'_>,
    ) -> Result<(), EncoderError> {
        let batches = self.batches(texts);
        in_flight(
            &batches,
            self.spec.max_concurrency,
            |batch| self.request(&texts[batch.clone()], role, batch.start),
            |i, vectors| sink(&batches[i].clone().collect::<Vec<_>>(), vectors),
        )
        .map_err(|e| EncoderError::Backend(format!("{}: {e}", self.spec.id)))
    }
}

/// The vectors of an OpenAI response, placed by their `index`.
pub(crate) fn openai_rows(response: &Value, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    let data = response
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no `data` array")?;
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (n, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(n, |i| i as usize);
        let slot = rows
            .get_mut(index)
            .ok_or_else(|| format!("`index` {index} of {expected} texts"))?;
        if slot.is_some() {
            return Err(format!("`index` {index} twice"));
        }
        let embedding = item.get("embedding").ok_or("an item without `embedding`")?;
        *slot = Some(decode_vector(embedding).map_err(|e| format!("text {index}: {e}"))?);
    }
    collect_all(rows)
}

/// The vectors of a Cohere response, in input order.
pub(crate) fn cohere_rows(response: &Value, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    let embeddings = response.get("embeddings").ok_or("no `embeddings`")?;
    // `embedding_types` asks for `{"float": [...]}`; older servers send the list itself.
    let list = embeddings
        .get("float")
        .unwrap_or(embeddings)
        .as_array()
        .ok_or("`embeddings` is not a list")?;
    if list.len() != expected {
        return Err(format!("{} vectors for {expected} texts", list.len()));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| decode_vector(v).map_err(|e| format!("text {i}: {e}")))
        .collect()
}

fn collect_all(rows: Vec<Option<Vec<f32>>>) -> Result<Vec<Vec<f32>>, String> {
    let expected = rows.len();
    let missing = rows.iter().position(Option::is_none);
    match missing {
        Some(index) => Err(format!("no vector for text {index} of {expected}")),
        None => Ok(rows.into_iter().flatten().collect()),
    }
}

/// A JSON number list, or base64 of little-endian `f32`s.
fn decode_vector(value: &Value) -> Result<Vec<f32>, String> {
    match value {
        Value::Array(numbers) => numbers
            .iter()
            .map(|n| match n.as_f64() {
                Some(x) => Ok(x as f32),
                None => Err(format!("`{n}` is not a number")),
            })
            .collect(),
        Value::String(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("base64: {e}"))?;
            if bytes.len() % 4 != 0 {
                return Err(format!("{} base64 bytes are not whole f32s", bytes.len()));
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect())
        }
        other => Err(format!("an embedding of type {}", kind(other))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What identifies the probe's vector despite last-digit noise: the indices
/// and signs of its largest components and its norm to one decimal. A
/// different model moves them; a nondeterministic server's noise does not.
fn probe_signature(probe: &[f32]) -> String {
    let mut order: Vec<usize> = (0..probe.len()).collect();
    order.sort_by(|&a, &b| probe[b].abs().total_cmp(&probe[a].abs()).then(a.cmp(&b)));
    let norm = probe.iter().map(|v| v * v).sum::<f32>().sqrt();
    let mut signature: Vec<String> = order
        .iter()
        .take(PROBE_COMPONENTS)
        .map(|&i| format!("{}{i}", if probe[i] < 0.0 { '-' } else { '+' }))
        .collect();
    signature.push(format!("norm={norm:.1}"));
    signature.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::EncodingFormat;

    /// A vector as a server sends it in `format`.
    fn encode(format: EncodingFormat, vector: &[f32]) -> Value {
        match format {
            EncodingFormat::Float => json!(vector),
            EncodingFormat::Base64 => {
                let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }

    #[test]
    fn both_encodings_decode_to_the_same_floats() {
        let vector = [0.1f32, -2.5, 1e-7, 3.4e38];
        for format in [EncodingFormat::Float, EncodingFormat::Base64] {
            assert_eq!(decode_vector(&encode(format, &vector)).unwrap(), vector);
        }
        assert!(
            decode_vector(&json!("AAA="))
                .unwrap_err()
                .contains("whole f32s")
        );
        assert!(
            decode_vector(&json!(["x"]))
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn openai_rows_are_placed_by_index() {
        let response = json!({"data": [
            {"index": 1, "embedding": [2.0]},
            {"index": 0, "embedding": [1.0]},
        ]});
        assert_eq!(
            openai_rows(&response, 2).unwrap(),
            vec![vec![1.0], vec![2.0]]
        );
        let twice =
            json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]});
        assert!(openai_rows(&twice, 2).unwrap_err().contains("twice"));
        let short = json!({"data": [{"index": 1, "embedding": [1.0]}]});
        assert!(openai_rows(&short, 2).unwrap_err().contains("text 0"));
        let beyond = json!({"data": [{"index": 7, "embedding": [1.0]}]});
        assert!(openai_rows(&beyond, 2).unwrap_err().contains("7"));
    }

    #[test]
    fn cohere_rows_accept_typed_and_plain_lists() {
        let typed = json!({"embeddings": {"float": [[1.0], [2.0]]}});
        let plain = json!({"embeddings": [[1.0], [2.0]]});
        for response in [typed, plain] {
            assert_eq!(
                cohere_rows(&response, 2).unwrap(),
                vec![vec![1.0], vec![2.0]]
            );
        }
        assert!(cohere_rows(&json!({"embeddings": [[1.0]]}), 2).is_err());
    }

    #[test]
    fn probe_signatures_ignore_noise_but_not_another_model() {
        let probe: Vec<f32> = (0..384).map(|i| (i as f32 * 0.7).sin() / 20.0).collect();
        let noisy: Vec<f32> = probe
            .iter()
            .enumerate()
            .map(|(i, v)| v + 1e-6 * (i % 3) as f32)
            .collect();
        assert_eq!(probe_signature(&probe), probe_signature(&noisy));
        let other: Vec<f32> = probe.iter().rev().copied().collect();
        assert_ne!(probe_signature(&probe), probe_signature(&other));
    }
}
