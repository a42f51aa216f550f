//! Opening what runs use: encoders once each, the retrievers they make, and
//! one generator at a time.

use std::{collections::HashMap, path::Path, sync::Arc};

use miners_encoders::Encoder;
use miners_eval::EmbeddingCache;
use miners_icl::Generator;
use miners_models::{GeneratorEntry, Models};

use crate::RunError;

/// Models opened for a series of runs: each encoder once, shared by every
/// retriever that uses it; one generator in memory at a time.
pub struct Session<'a> {
    models: &'a Models,
    cache: Option<Arc<EmbeddingCache>>,
    encoders: HashMap<String, Arc<dyn Encoder>>,
    generator: Option<(GeneratorEntry, Box<dyn Generator>)>,
}

impl<'a> Session<'a> {
    /// Opens models through `models`, encoding through the embedding cache
    /// under `cache` when one is given.
    pub fn new(models: &'a Models, cache: Option<&Path>) -> Self {
        Self {
            models,
            cache: cache.map(|dir| Arc::new(EmbeddingCache::new(dir))),
            encoders: HashMap::new(),
            generator: None,
        }
    }

    /// Adds an encoder of one's own under `reference`, which retriever specs
    /// may then name like a catalog id (an encoder written outside the
    /// crates, through the public [`Encoder`] trait).
    pub fn with_encoder(mut self, reference: &str, encoder: Arc<dyn Encoder>) -> Self {
        self.encoders.insert(reference.to_owned(), encoder);
        self
    }

    /// The embedding cache encoders write through, if any.
    pub(crate) fn cache(&self) -> Option<Arc<EmbeddingCache>> {
        self.cache.clone()
    }

    /// The model catalog and how it runs.
    pub fn models(&self) -> &Models {
        self.models
    }

    /// The encoder a reference names, opened on first use.
    pub fn encoder(&mut self, reference: &str) -> Result<Arc<dyn Encoder>, RunError> {
        if let Some(encoder) = self.encoders.get(reference) {
            return Ok(encoder.clone());
        }
        let encoder = self.models.open_encoder(reference)?;
        self.encoders.insert(reference.to_owned(), encoder.clone());
        Ok(encoder)
    }

    /// The generator a reference names and its catalog entry; opening another
    /// one closes the last.
    pub fn generator(
        &mut self,
        reference: &str,
    ) -> Result<(&dyn Generator, &GeneratorEntry), RunError> {
        let entry = self.models.generator_entry(reference)?;
        if self
            .generator
            .as_ref()
            .is_none_or(|(open, _)| *open != entry)
        {
            self.generator = None;
            let generator =
                self.models
                    .open_generator(&entry)
                    .map_err(|source| RunError::Generator {
                        reference: reference.to_owned(),
                        source,
                    })?;
            self.generator = Some((entry, generator));
        }
        let (entry, generator) = self.generator.as_ref().expect("just opened");
        Ok((generator.as_ref(), entry))
    }
}
