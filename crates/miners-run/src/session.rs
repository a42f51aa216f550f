//! Opening what runs use: encoders once each, the retrievers they make, and
//! one generator at a time.

use std::{collections::HashMap, path::Path, sync::Arc};

use miners_encoders::Encoder;
use miners_eval::{EmbeddingCache, Retriever};
use miners_icl::Generator;
use miners_models::{GeneratorEntry, Models};

use crate::{RetrieverSpec, RunError};

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

impl RetrieverSpec {
    /// The retriever this spec describes, its encoders opened through
    /// `session`, with prompts unless the spec says otherwise: the one place
    /// a retriever is assembled.
    pub fn open(&self, session: &mut Session<'_>) -> Result<Retriever, RunError> {
        self.open_for(session, true)
    }

    /// [`RetrieverSpec::open`], with prompts by default only when
    /// `default_prompts` (a task's default).
    pub fn open_for(
        &self,
        session: &mut Session<'_>,
        default_prompts: bool,
    ) -> Result<Retriever, RunError> {
        if self.tuning.is_some() && self.encoders.len() < 2 {
            return Err(RunError::Config(
                "learning DistFuse weights needs two or more encoders".into(),
            ));
        }
        let encoders = self
            .encoders
            .iter()
            .map(|reference| session.encoder(reference))
            .collect::<Result<Vec<_>, _>>()?;
        let parts = self.parts(default_prompts);
        Ok(Retriever::assemble(
            encoders,
            &parts,
            session.cache.clone(),
        )?)
    }
}
