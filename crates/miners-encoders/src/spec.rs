//! Model specs: a named model directory with its prompts and overrides.
//!
//! Specs round-trip through JSON and TOML; `models.toml` at the repository
//! root lists the fetched models.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{EncoderError, Prompts, layout::Pooling};

/// Numeric precision of a transformer's weights and activations (pooled
/// vectors are always 32-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit floats (the CPU default).
    #[default]
    Float32,
    /// IEEE half precision (CUDA).
    Float16,
    /// bfloat16 (CUDA, or CPUs with AMX or AVX512-BF16, where it is several times faster).
    BFloat16,
}

impl DType {
    /// The name used in catalogs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
        }
    }
}

/// One model: where it lives and how to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Identifier used by `--model` and recorded in results.
    pub id: String,
    /// Model directory; relative paths are resolved against the spec file's directory.
    pub path: PathBuf,
    /// Prefixes for queries and passages.
    #[serde(default)]
    pub prompts: Prompts,
    /// Overrides the directory's pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<Pooling>,
    /// Overrides the directory's normalisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// Overrides the directory's maximum sequence length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seq_length: Option<usize>,
    /// Precision (float32 on CPU; float16 or bfloat16 only on CUDA).
    #[serde(default)]
    pub dtype: DType,
}

impl ModelSpec {
    /// A spec for a bare directory, named after it.
    pub fn for_dir(dir: &Path) -> Self {
        let id = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self {
            id,
            path: dir.to_owned(),
            prompts: Prompts::default(),
            pooling: None,
            normalize: None,
            max_seq_length: None,
            dtype: DType::Float32,
        }
    }
}

/// A list of specs, as in `models.toml` (`[[model]]` tables).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelCatalog {
    /// The specs.
    #[serde(default, rename = "model")]
    pub models: Vec<ModelSpec>,
}

impl ModelCatalog {
    /// Reads a TOML catalog; relative model paths are resolved against `base`.
    pub fn read(path: &Path, base: &Path) -> Result<Self, EncoderError> {
        let text = std::fs::read_to_string(path).map_err(|source| EncoderError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut catalog: Self = toml::from_str(&text).map_err(|e| EncoderError::Format {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        for spec in &mut catalog.models {
            if spec.path.is_relative() {
                spec.path = base.join(&spec.path);
            }
        }
        Ok(catalog)
    }

    /// The spec named `id`.
    pub fn get(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_toml_and_json() {
        let text = r#"
            [[model]]
            id = "e5-small"
            path = "e5-small"
            prompts = { query = "query: ", passage = "query: " }

            [[model]]
            id = "labse"
            path = "/models/labse"
            pooling = "cls"
            dtype = "float16"
        "#;
        let catalog: ModelCatalog = toml::from_str(text).unwrap();
        assert_eq!(
            catalog.get("e5-small").unwrap().prompts.passage.as_deref(),
            Some("query: ")
        );
        assert_eq!(catalog.get("labse").unwrap().pooling, Some(Pooling::Cls));
        let back: ModelCatalog = toml::from_str(&toml::to_string(&catalog).unwrap()).unwrap();
        assert_eq!(back, catalog);
        let json: ModelCatalog =
            serde_json::from_str(&serde_json::to_string(&catalog).unwrap()).unwrap();
        assert_eq!(json, catalog);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = toml::from_str::<ModelCatalog>(
            "[[model]]\nid = \"x\"\npath = \"x\"\npoolng = \"cls\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("poolng"), "{err}");
    }
}
