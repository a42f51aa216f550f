//! Opening models: the one place that turns a model reference into an
//! [`Encoder`] or a [`Generator`].
//!
//! A reference is a catalog id ([`Catalog`], read from `models.toml`) or a
//! model directory, whose files then pick the backend. Each catalog entry
//! names its `backend`; heavy backends sit behind cargo features:
//!
//! | backend  | runs                                              | feature |
//! | -------- | ------------------------------------------------- | ------- |
//! | `static` | model2vec / tokenlearn static models              | always  |
//! | `torch`  | BERT / XLM-R encoders, decoder LMs                | `torch` |
//! | `openai` | OpenAI-compatible embeddings, completions, chat   | `http`  |
//! | `cohere` | Cohere embeddings                                 | `http`  |
//! | `hub`    | a Hugging Face Hub repository, run as `static`/`torch` | `hub` |
//!
//! `--model hf:<org>/<name>[@<revision>]` names a Hub model without a
//! catalog. A Hub model is downloaded on first use (only the files it needs,
//! into the Python client's cache), its revision resolved to a commit, and
//! then run as the local directory it became; results record
//! `hf:<org>/<name>@<commit>` as the model's `source`.
//!
//! Adding a backend is one variant in [`EncoderEntry`] (or [`GeneratorEntry`])
//! and one arm in [`Models::open_encoder`] (or [`Models::open_generator`]).
//!
//! ```
//! use miners_models::{Catalog, Models};
//!
//! let catalog = Catalog::parse(
//!     r#"
//!     [[model]]
//!     id = "static-tokenlearn"
//!     backend = "static"
//!     path = "models/static-tokenlearn"
//!     "#,
//!     ".".as_ref(),
//! )
//! .unwrap();
//! let models = Models::new(catalog);
//! let entry = models.encoder_entry("static-tokenlearn");
//! // The entry resolves; opening it needs the fetched directory
//! // (`cargo xtask fetch-models`).
//! assert!(entry.is_err() || entry.unwrap().backend() == "static");
//! ```

mod catalog;
mod cost;
mod hub;
mod sources;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

pub use catalog::{
    Catalog, EncoderEntry, GeneratorEntry, HubEntry, HubGeneratorEntry, StaticEntry,
    TorchGeneratorEntry,
};
use miners_classify::FineTune;
use miners_encoders::{
    Encoder, EncoderError, Overridden, StaticEncoder,
    layout::TransformerLayout,
    spec::{DType, DeviceChoice, ModelSpec},
};
use miners_icl::{Generator, IclError};
pub use sources::ModelSources;

/// Errors of reading a catalog or opening a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// A catalog file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A catalog file is malformed (unknown field or backend, missing field).
    #[error("{path}: {message}")]
    Catalog {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A device list does not parse.
    #[error("devices `{text}`: {message}")]
    Devices {
        /// The list given.
        text: String,
        /// What is wrong.
        message: String,
    },
    /// The reference is neither a catalog id nor a model directory.
    #[error("{kind} `{reference}`: neither a model directory nor a catalog id (known: {known})")]
    Unknown {
        /// `encoder` or `generator`.
        kind: &'static str,
        /// The reference given.
        reference: String,
        /// The catalog's ids of that kind.
        known: String,
    },
    /// A catalog entry's directory is missing.
    #[error("`{id}`: {} does not exist (run `cargo xtask fetch-models`)", path.display())]
    NotFetched {
        /// Catalog id.
        id: String,
        /// The missing directory.
        path: std::path::PathBuf,
    },
    /// A directory that no backend recognises.
    #[error(
        "{}: not a static model nor a transformer directory (config.json + model.safetensors, sharded safetensors or pytorch_model.bin)",
        path.display()
    )]
    NotAModel {
        /// The directory.
        path: std::path::PathBuf,
    },
    /// The entry's backend was not compiled in.
    #[error(
        "`{id}` runs on the `{backend}` backend: build miners with the `{backend}` cargo feature"
    )]
    BackendNotBuilt {
        /// Model id.
        id: String,
        /// Backend name (also the cargo feature).
        backend: &'static str,
    },
    /// Loading an encoder failed.
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// Loading a generator failed.
    #[error(transparent)]
    Generator(#[from] IclError),
    /// Getting a model from the Hugging Face Hub failed.
    #[error("`{id}`: {message}")]
    Hub {
        /// Model id.
        id: String,
        /// What failed.
        message: String,
    },
    /// A model that cannot be fine-tuned (static embeddings, an API model).
    #[error("`{id}`: fine-tuning needs a transformer checkpoint run on libtorch; this is {kind}")]
    NotTrainable {
        /// Model id.
        id: String,
        /// What it is.
        kind: &'static str,
    },
    /// Reaching a model behind an API failed.
    #[error("`{id}`: {source}")]
    Api {
        /// Model id.
        id: String,
        /// What failed.
        source: miners_api::ApiError,
    },
}

/// A catalog plus how to run what it names: device, precision, and where
/// API generators journal their answers.
#[derive(Debug, Clone, Default)]
pub struct Models {
    catalog: Catalog,
    device: DeviceChoice,
    /// Where generators' layers go (empty: `device`).
    generator_devices: Vec<DeviceChoice>,
    dtype: Option<DType>,
    generator_dtype: Option<DType>,
    journal: Option<PathBuf>,
}

impl Models {
    /// Models of `catalog`, on the CPU, each in its own precision.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            ..Self::default()
        }
    }

    /// Models of the catalog file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ModelsError> {
        Catalog::read(path).map(Self::new)
    }

    /// Runs transformer models on `device`.
    pub fn on(mut self, device: DeviceChoice) -> Self {
        self.device = device;
        self.generator_devices = vec![device];
        self
    }

    /// Runs encoders on the first of `devices` and splits generators' layers
    /// over all of them (`[Auto]`: every CUDA device there is).
    pub fn on_devices(mut self, devices: Vec<DeviceChoice>) -> Self {
        self.device = devices.first().copied().unwrap_or_default();
        self.generator_devices = devices;
        self
    }

    /// Runs transformer encoders in `dtype`; a precision other than an
    /// entry's own is recorded as another model, `<id>@<dtype>`.
    pub fn with_dtype(mut self, dtype: Option<DType>) -> Self {
        self.dtype = dtype;
        self
    }

    /// Holds torch generators' weights in `dtype`; recorded as
    /// `<id>@<dtype>` as for encoders.
    pub fn with_generator_dtype(mut self, dtype: Option<DType>) -> Self {
        self.generator_dtype = dtype;
        self
    }

    /// API generators journal every answer under `dir` as it arrives, so a
    /// rerun after a crash does not ask again.
    pub fn with_journal(mut self, dir: Option<PathBuf>) -> Self {
        self.journal = dir;
        self
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The entry a reference names: a catalog id, else a model directory
    /// (its files pick the backend). The directory must exist.
    pub fn encoder_entry(&self, reference: &str) -> Result<EncoderEntry, ModelsError> {
        let (entry, _) = self.located_encoder(reference)?;
        Ok(entry)
    }

    /// The entry a reference names, run locally: a Hub entry (or `hf:`
    /// reference) is downloaded and becomes the directory entry it is, with
    /// the source it came from.
    fn located_encoder(
        &self,
        reference: &str,
    ) -> Result<(EncoderEntry, Option<String>), ModelsError> {
        let entry = match (
            self.catalog.encoder(reference),
            HubEntry::from_reference(reference),
        ) {
            (Some(entry), _) => entry.clone(),
            (None, Some(hub)) => EncoderEntry::Hub(hub),
            (None, None) => self.encoder_dir(reference)?,
        };
        let (entry, source) = match entry {
            EncoderEntry::Hub(hub) => {
                let (entry, source) = hub_local_entry(&hub)?;
                (entry, Some(source))
            }
            entry => (entry, None),
        };
        ensure_fetched(entry.id(), entry.path())?;
        Ok((self.with_precision(entry), source))
    }

    /// Opens the encoder a reference names.
    pub fn open_encoder(&self, reference: &str) -> Result<Arc<dyn Encoder>, ModelsError> {
        let (entry, source) = self.located_encoder(reference)?;
        let encoder = match entry {
            EncoderEntry::Static(entry) => {
                let encoder = StaticEncoder::load(&entry.path, &entry.id)?;
                Arc::new(encoder.with_prompts(entry.prompts))
            }
            EncoderEntry::Torch(spec) => self.open_torch_encoder(&spec)?,
            EncoderEntry::Openai(spec) => open_api_encoder(&spec, miners_api::Protocol::OpenAi)?,
            EncoderEntry::Cohere(spec) => open_api_encoder(&spec, miners_api::Protocol::Cohere)?,
            EncoderEntry::Hub(hub) => unreachable!("`{}` is located before it is opened", hub.id),
        };
        Ok(match source {
            Some(source) => Arc::new(Overridden::new(encoder).with_source(source)),
            None => encoder,
        })
    }

    /// The generator entry a reference names: a catalog id, an
    /// `hf:<org>/<name>[@<revision>]` reference, else a model directory with
    /// a `config.json` (not instruction-tuned). A Hub entry is downloaded and
    /// becomes the directory entry it is, with the source it came from.
    pub fn generator_entry(&self, reference: &str) -> Result<GeneratorEntry, ModelsError> {
        let entry = match (
            self.catalog.generator(reference),
            HubGeneratorEntry::from_reference(reference),
        ) {
            (Some(entry), _) => entry.clone(),
            (None, Some(hub)) => GeneratorEntry::Hub(hub),
            (None, None) => self.generator_dir(reference)?,
        };
        let entry = match entry {
            GeneratorEntry::Hub(hub) => {
                GeneratorEntry::Torch(self.generator_precision(hub::hub_local_generator(&hub)?))
            }
            GeneratorEntry::Torch(entry) => GeneratorEntry::Torch(self.generator_precision(entry)),
            entry => entry,
        };
        ensure_fetched(entry.id(), entry.path())?;
        Ok(entry)
    }

    /// Opens a generator entry.
    pub fn open_generator(
        &self,
        entry: &GeneratorEntry,
    ) -> Result<Box<dyn Generator>, ModelsError> {
        match entry {
            GeneratorEntry::Torch(entry) => self.open_torch_generator(entry),
            GeneratorEntry::Openai(spec) => {
                self.open_api_generator(spec, miners_api::Protocol::OpenAi)
            }
            GeneratorEntry::Cohere(spec) => {
                self.open_api_generator(spec, miners_api::Protocol::Cohere)
            }
            GeneratorEntry::Hub(hub) => {
                let entry = self.generator_precision(hub::hub_local_generator(hub)?);
                self.open_torch_generator(&entry)
            }
        }
    }

    fn encoder_dir(&self, reference: &str) -> Result<EncoderEntry, ModelsError> {
        let dir = Path::new(reference);
        if !dir.is_dir() {
            let known = self.catalog.encoders.iter().map(EncoderEntry::id);
            return Err(unknown("encoder", reference, known));
        }
        let spec = ModelSpec::for_dir(dir);
        if StaticEncoder::recognizes(dir) {
            Ok(EncoderEntry::Static(StaticEntry {
                id: spec.id,
                path: spec.path,
                prompts: spec.prompts,
            }))
        } else if TransformerLayout::recognizes(dir) {
            Ok(EncoderEntry::Torch(spec))
        } else {
            Err(ModelsError::NotAModel {
                path: dir.to_owned(),
            })
        }
    }

    fn generator_dir(&self, reference: &str) -> Result<GeneratorEntry, ModelsError> {
        let dir = Path::new(reference);
        if !dir.join("config.json").is_file() {
            let known = self.catalog.generators.iter().map(GeneratorEntry::id);
            return Err(unknown("generator", reference, known));
        }
        Ok(GeneratorEntry::Torch(TorchGeneratorEntry {
            id: ModelSpec::for_dir(dir).id,
            path: dir.to_owned(),
            scoring: Default::default(),
            fold_case: false,
            source: None,
            dtype: DType::Float32,
        }))
    }

    /// The devices generators' layers are split over.
    pub fn generator_devices(&self) -> Vec<DeviceChoice> {
        match self.generator_devices.is_empty() {
            true => vec![self.device],
            false => self.generator_devices.clone(),
        }
    }

    /// Applies the precision override to a generator, as to an encoder.
    fn generator_precision(&self, mut entry: TorchGeneratorEntry) -> TorchGeneratorEntry {
        if let Some(dtype) = self.generator_dtype.filter(|&dtype| dtype != entry.dtype) {
            entry.id = format!("{}@{}", entry.id, dtype.name());
            entry.dtype = dtype;
        }
        entry
    }

    /// Applies the precision override: another precision is another model
    /// as far as results go.
    fn with_precision(&self, entry: EncoderEntry) -> EncoderEntry {
        match (entry, self.dtype) {
            (EncoderEntry::Torch(mut spec), Some(dtype)) if dtype != spec.dtype => {
                spec.id = format!("{}@{}", spec.id, dtype.name());
                spec.dtype = dtype;
                EncoderEntry::Torch(spec)
            }
            (entry, _) => entry,
        }
    }

    #[cfg(feature = "torch")]
    fn open_torch_encoder(&self, spec: &ModelSpec) -> Result<Arc<dyn Encoder>, ModelsError> {
        if let Some(warning) = miners_encoders::spec::slow_bf16_warning(spec.dtype, self.device) {
            eprintln!("warning: {}: {warning}", spec.id);
        }
        Ok(Arc::new(miners_torch::TorchEncoder::load(
            spec,
            self.device,
        )?))
    }

    /// A fresh classifier of the encoder a reference names, with a head of
    /// `labels` outputs drawn with `seed`, ready to fine-tune (float32, on
    /// the device chosen for encoders).
    pub fn open_fine_tuner(
        &self,
        reference: &str,
        labels: usize,
        seed: u64,
    ) -> Result<Box<dyn FineTune>, ModelsError> {
        let (entry, _) = self.located_encoder(reference)?;
        let kind = match entry {
            EncoderEntry::Torch(spec) => return self.open_torch_fine_tuner(&spec, labels, seed),
            EncoderEntry::Static(_) => "a static embedding model",
            EncoderEntry::Openai(_) | EncoderEntry::Cohere(_) => "a model behind an API",
            EncoderEntry::Hub(hub) => unreachable!("`{}` is located before it is opened", hub.id),
        };
        Err(ModelsError::NotTrainable {
            id: entry.id().to_owned(),
            kind,
        })
    }

    #[cfg(feature = "torch")]
    fn open_torch_fine_tuner(
        &self,
        spec: &ModelSpec,
        labels: usize,
        seed: u64,
    ) -> Result<Box<dyn FineTune>, ModelsError> {
        let model = miners_torch::SequenceClassifier::load(&spec.path, labels, self.device, seed)
            .map_err(EncoderError::from)?;
        Ok(Box::new(model))
    }

    #[cfg(not(feature = "torch"))]
    fn open_torch_fine_tuner(
        &self,
        spec: &ModelSpec,
        _labels: usize,
        _seed: u64,
    ) -> Result<Box<dyn FineTune>, ModelsError> {
        Err(not_built(&spec.id, "torch"))
    }

    #[cfg(not(feature = "torch"))]
    fn open_torch_encoder(&self, spec: &ModelSpec) -> Result<Arc<dyn Encoder>, ModelsError> {
        Err(not_built(&spec.id, "torch"))
    }

    #[cfg(feature = "torch")]
    fn open_torch_generator(
        &self,
        entry: &TorchGeneratorEntry,
    ) -> Result<Box<dyn Generator>, ModelsError> {
        // Encoder-decoders (mT0, Aya-101) and decoder-only models share the trait.
        if miners_torch::TorchSeq2Seq::recognizes(&entry.path) {
            let model = miners_torch::TorchSeq2Seq::load_on(
                &entry.id,
                &entry.path,
                &self.generator_devices(),
                entry.dtype,
            )?;
            return Ok(Box::new(model.with_source(entry.source.clone())));
        }
        let generator = miners_torch::TorchGenerator::load_on(
            &entry.id,
            &entry.path,
            &self.generator_devices(),
            entry.dtype,
        )?;
        Ok(Box::new(generator.with_source(entry.source.clone())))
    }

    #[cfg(not(feature = "torch"))]
    fn open_torch_generator(
        &self,
        entry: &TorchGeneratorEntry,
    ) -> Result<Box<dyn Generator>, ModelsError> {
        Err(not_built(&entry.id, "torch"))
    }

    #[cfg(feature = "http")]
    fn open_api_generator(
        &self,
        spec: &miners_api::GeneratorApiSpec,
        protocol: miners_api::Protocol,
    ) -> Result<Box<dyn Generator>, ModelsError> {
        let journal = self.journal.as_deref();
        let generator =
            miners_api::ApiGenerator::open(spec, protocol, journal).map_err(|source| {
                ModelsError::Api {
                    id: spec.id.clone(),
                    source,
                }
            })?;
        Ok(Box::new(generator))
    }

    #[cfg(not(feature = "http"))]
    fn open_api_generator(
        &self,
        spec: &miners_api::GeneratorApiSpec,
        _protocol: miners_api::Protocol,
    ) -> Result<Box<dyn Generator>, ModelsError> {
        Err(not_built(&spec.id, "http"))
    }
}

use hub::hub_local_entry;

#[cfg(feature = "http")]
fn open_api_encoder(
    spec: &miners_api::EmbeddingApiSpec,
    protocol: miners_api::Protocol,
) -> Result<Arc<dyn Encoder>, ModelsError> {
    let encoder =
        miners_api::ApiEncoder::open(spec, protocol).map_err(|source| ModelsError::Api {
            id: spec.id.clone(),
            source,
        })?;
    Ok(Arc::new(encoder))
}

#[cfg(not(feature = "http"))]
fn open_api_encoder(
    spec: &miners_api::EmbeddingApiSpec,
    _: miners_api::Protocol,
) -> Result<Arc<dyn Encoder>, ModelsError> {
    Err(not_built(&spec.id, "http"))
}

/// A catalog entry whose directory is missing has not been fetched.
fn ensure_fetched(id: &str, path: Option<&Path>) -> Result<(), ModelsError> {
    match path {
        Some(path) if !path.is_dir() => Err(ModelsError::NotFetched {
            id: id.to_owned(),
            path: path.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn unknown<'a>(
    kind: &'static str,
    reference: &str,
    known: impl Iterator<Item = &'a str>,
) -> ModelsError {
    ModelsError::Unknown {
        kind,
        reference: reference.to_owned(),
        known: known.collect::<Vec<_>>().join(", "),
    }
}

#[cfg(any(not(feature = "torch"), not(feature = "http")))]
fn not_built(id: &str, backend: &'static str) -> ModelsError {
    ModelsError::BackendNotBuilt {
        id: id.to_owned(),
        backend,
    }
}
