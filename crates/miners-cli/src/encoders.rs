//! Opening encoders: `--model` names a catalog entry or a directory, and the
//! directory's files pick the backend.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result, bail};
use miners_encoders::{
    Encoder, StaticEncoder,
    layout::TransformerLayout,
    spec::{DType, ModelCatalog, ModelSpec},
};

/// How to find and run models.
pub struct ModelOptions {
    /// The catalog file (`models.toml`), if any.
    pub catalog: Option<PathBuf>,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    pub device: String,
    /// Precision override; a precision other than the model's own suffixes its id (`e5-small@bfloat16`).
    pub dtype: Option<DType>,
}

/// Opens each distinct `--model` once.
pub fn open_all(names: &[String], options: &ModelOptions) -> Result<Vec<Arc<dyn Encoder>>> {
    let catalog = match &options.catalog {
        Some(path) => {
            let base = path.parent().unwrap_or(Path::new("."));
            ModelCatalog::read(path, base)?
        }
        None => ModelCatalog::default(),
    };
    let mut opened: HashMap<&str, Arc<dyn Encoder>> = HashMap::new();
    names
        .iter()
        .map(|name| {
            if let Some(encoder) = opened.get(name.as_str()) {
                return Ok(encoder.clone());
            }
            let mut spec = resolve(name, &catalog)?;
            if let Some(dtype) = options.dtype.filter(|&d| d != spec.dtype) {
                // Another precision is another model as far as results go.
                spec.id = format!("{}@{}", spec.id, dtype.name());
                spec.dtype = dtype;
            }
            let encoder =
                open(&spec, &options.device).with_context(|| format!("--model {name}"))?;
            opened.insert(name, encoder.clone());
            Ok(encoder)
        })
        .collect()
}

/// A catalog entry by id, else a model directory.
fn resolve(name: &str, catalog: &ModelCatalog) -> Result<ModelSpec> {
    if let Some(spec) = catalog.get(name) {
        if !spec.path.is_dir() {
            bail!(
                "--model {name}: {} does not exist (run `cargo xtask fetch-models`)",
                spec.path.display()
            );
        }
        return Ok(spec.clone());
    }
    let dir = Path::new(name);
    if dir.is_dir() {
        return Ok(ModelSpec::for_dir(dir));
    }
    let known: Vec<&str> = catalog.models.iter().map(|m| m.id.as_str()).collect();
    bail!(
        "--model {name}: neither a model directory nor a catalog id (known: {})",
        known.join(", ")
    )
}

/// The backend the directory's files call for.
fn open(spec: &ModelSpec, device: &str) -> Result<Arc<dyn Encoder>> {
    if StaticEncoder::recognizes(&spec.path) {
        let encoder = StaticEncoder::load(&spec.path, &spec.id)?.with_prompts(spec.prompts.clone());
        return Ok(Arc::new(encoder));
    }
    if TransformerLayout::recognizes(&spec.path) {
        return open_transformer(spec, device);
    }
    bail!(
        "{}: not a static model nor a transformer directory (config.json + model.safetensors)",
        spec.path.display()
    )
}

#[cfg(feature = "torch")]
fn open_transformer(spec: &ModelSpec, device: &str) -> Result<Arc<dyn Encoder>> {
    let device = device
        .parse()
        .map_err(anyhow::Error::msg)
        .context("--device")?;
    Ok(Arc::new(miners_torch::TorchEncoder::load(spec, device)?))
}

#[cfg(not(feature = "torch"))]
fn open_transformer(spec: &ModelSpec, _device: &str) -> Result<Arc<dyn Encoder>> {
    bail!(
        "{}: transformer models need miners built with the `torch` feature",
        spec.path.display()
    )
}
