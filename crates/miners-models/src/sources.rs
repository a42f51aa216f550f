//! Where models come from and where they run, as a command line says it.

use std::path::{Path, PathBuf};

use crate::{Models, ModelsError};

/// The model catalog and the devices models run on; `clap::Args` with the
/// `clap` feature (`--catalog`, `--device`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ModelSources {
    /// Model catalog (TOML `[[model]]` and `[[generator]]` entries; default:
    /// models.toml when it exists).
    #[cfg_attr(feature = "clap", arg(long, env = "MINERS_CATALOG"))]
    pub catalog: Option<PathBuf>,
    /// Device for transformer models: cpu, cuda, cuda:N or auto; a list
    /// (`cuda:0,cuda:1`) splits a generator's layers over those devices by
    /// free memory (`auto`: over every GPU), encoders run on the first.
    #[cfg_attr(feature = "clap", arg(long, default_value = "cpu"))]
    pub device: String,
}

impl Default for ModelSources {
    fn default() -> Self {
        Self {
            catalog: None,
            device: "cpu".into(),
        }
    }
}

impl ModelSources {
    /// The models of the catalog named (which must exist), else of
    /// `models.toml` in the working directory when there is one, else of
    /// none; on the devices named.
    pub fn models(&self) -> Result<Models, ModelsError> {
        let default = Path::new("models.toml");
        let models = match &self.catalog {
            Some(path) => Models::from_file(path)?,
            None if default.is_file() => Models::from_file(default)?,
            None => Models::default(),
        };
        let devices = miners_encoders::spec::parse_devices(&self.device).map_err(|message| {
            ModelsError::Devices {
                text: self.device.clone(),
                message,
            }
        })?;
        Ok(models.on_devices(devices))
    }
}
