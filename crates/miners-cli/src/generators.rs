//! Opening generators: `--generator` names a `[[generator]]` entry of the
//! catalog or a Hugging Face model directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// A `[[generator]]` entry of `models.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSpec {
    /// Id used by `--generator` and recorded in results.
    pub id: String,
    /// Model directory, relative to the catalog.
    pub path: PathBuf,
    /// Whether the model is instruction-tuned: the prompt then lists the
    /// label options, as the reference does for such models.
    #[serde(default)]
    pub instruct: bool,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default, rename = "generator")]
    generators: Vec<GeneratorSpec>,
}

/// The catalog entry `name`, else a directory of that name (not instruction-tuned).
pub fn resolve(name: &str, catalog: Option<&Path>) -> Result<GeneratorSpec> {
    let generators = match catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let catalog: Catalog =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            let base = path.parent().unwrap_or(Path::new("."));
            catalog
                .generators
                .into_iter()
                .map(|mut g| {
                    g.path = base.join(&g.path);
                    g
                })
                .collect()
        }
        None => Vec::new(),
    };
    if let Some(spec) = generators.iter().find(|g| g.id == name) {
        if !spec.path.join("config.json").is_file() {
            bail!(
                "--generator {name}: {} has no config.json (run `cargo xtask fetch-models`)",
                spec.path.display()
            );
        }
        return Ok(spec.clone());
    }
    let dir = Path::new(name);
    if dir.join("config.json").is_file() {
        let id = dir
            .file_name()
            .map_or_else(|| name.to_owned(), |n| n.to_string_lossy().into_owned());
        return Ok(GeneratorSpec {
            id,
            path: dir.to_owned(),
            instruct: false,
        });
    }
    let known: Vec<&str> = generators.iter().map(|g| g.id.as_str()).collect();
    bail!(
        "--generator {name}: neither a model directory nor a catalog id (known: {})",
        known.join(", ")
    )
}

/// Loads the generator on `device`.
#[cfg(feature = "torch")]
pub fn open(spec: &GeneratorSpec, device: &str) -> Result<Box<dyn miners_icl::Generator>> {
    let device = device
        .parse()
        .map_err(anyhow::Error::msg)
        .context("--device")?;
    Ok(Box::new(miners_torch::TorchGenerator::load(
        &spec.id, &spec.path, device,
    )?))
}

/// Generators need libtorch.
#[cfg(not(feature = "torch"))]
pub fn open(spec: &GeneratorSpec, _device: &str) -> Result<Box<dyn miners_icl::Generator>> {
    bail!(
        "--generator {}: generators need miners built with the `torch` feature",
        spec.id
    )
}
