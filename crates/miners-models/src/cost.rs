//! Rough compute costs of models, for planning shards: multiply-adds per
//! token, read from a model's `config.json` without loading its weights.

use std::path::Path;

use crate::{EncoderEntry, GeneratorEntry, Models, ModelsError};

/// A static embedding model: one lookup and a running sum per token.
const STATIC: f64 = 512.0;
/// A model whose size is unknown here (behind an API, or a config without
/// the usual fields): costed as BERT-base.
const UNKNOWN: f64 = 12.0 * (4.0 * 768.0 * 768.0 + 2.0 * 768.0 * 3072.0);

impl Models {
    /// Estimated multiply-adds per token of the encoder a reference names:
    /// `layers × (4·hidden² + 2·hidden·intermediate)` from its `config.json`;
    /// a static model is nearly free, an API model counts as BERT-base.
    pub fn encoder_cost_per_token(&self, reference: &str) -> Result<f64, ModelsError> {
        Ok(match self.encoder_entry(reference)? {
            EncoderEntry::Static(_) => STATIC,
            entry => entry.path().map_or(UNKNOWN, transformer_cost),
        })
    }

    /// Estimated multiply-adds per token of the generator a reference names,
    /// as [`Models::encoder_cost_per_token`] reads them.
    pub fn generator_cost_per_token(&self, reference: &str) -> Result<f64, ModelsError> {
        let entry: GeneratorEntry = self.generator_entry(reference)?;
        Ok(entry.path().map_or(UNKNOWN, transformer_cost))
    }
}

/// Multiply-adds per token of the transformer whose `config.json` is in `dir`
/// (the text part of a multimodal config); [`UNKNOWN`] when it does not say.
fn transformer_cost(dir: &Path) -> f64 {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return UNKNOWN;
    };
    let Ok(config) = serde_json::from_str::<serde_json::Value>(&text) else {
        return UNKNOWN;
    };
    let config = config.get("text_config").unwrap_or(&config);
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| config.get(*name).and_then(serde_json::Value::as_f64))
    };
    let (Some(hidden), Some(layers)) = (
        field(&["hidden_size", "d_model", "n_embd"]),
        field(&["num_hidden_layers", "num_layers", "n_layer"]),
    ) else {
        return UNKNOWN;
    };
    let intermediate = field(&["intermediate_size", "d_ff", "n_inner"]).unwrap_or(4.0 * hidden);
    layers * (4.0 * hidden * hidden + 2.0 * hidden * intermediate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_grow_with_depth_and_width_and_default_to_bert_base() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("config.json"), text).unwrap();
        write(r#"{"hidden_size": 384, "num_hidden_layers": 6, "intermediate_size": 1536}"#);
        let small = transformer_cost(dir.path());
        assert_eq!(small, 6.0 * (4.0 * 384.0 * 384.0 + 2.0 * 384.0 * 1536.0));
        write(r#"{"text_config": {"hidden_size": 384, "num_hidden_layers": 12}}"#);
        assert_eq!(transformer_cost(dir.path()), 2.0 * small);
        write(r#"{"vocab_size": 10}"#);
        assert_eq!(transformer_cost(dir.path()), UNKNOWN);
    }
}
