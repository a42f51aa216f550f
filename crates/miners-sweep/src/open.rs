//! Opening what a job runs with: its encoders (each once), the retriever they
//! make, and one generator at a time.

use std::{collections::HashMap, path::Path, sync::Arc};

use miners_core::Lang;
use miners_datasets::Dataset;
use miners_encoders::Encoder;
use miners_eval::{EmbeddingCache, Retriever, RetrieverParts, Setting};
use miners_fusion::Normalization;
use miners_icl::Generator;
use miners_models::{GeneratorEntry, Models};

use crate::{Job, RetrieverSpec, SweepError};

/// Encoders and the current generator, opened once and shared across jobs.
pub(crate) struct Opened<'a> {
    models: &'a Models,
    cache: Option<Arc<EmbeddingCache>>,
    encoders: HashMap<String, Arc<dyn Encoder>>,
    generator: Option<(GeneratorEntry, Box<dyn Generator>)>,
}

impl<'a> Opened<'a> {
    pub(crate) fn new(models: &'a Models, cache: Option<&Path>) -> Self {
        Self {
            models,
            cache: cache.map(|dir| Arc::new(EmbeddingCache::new(dir))),
            encoders: HashMap::new(),
            generator: None,
        }
    }

    fn encoder(&mut self, reference: &str) -> Result<Arc<dyn Encoder>, SweepError> {
        if let Some(encoder) = self.encoders.get(reference) {
            return Ok(encoder.clone());
        }
        let encoder = self.models.open_encoder(reference)?;
        self.encoders.insert(reference.to_owned(), encoder.clone());
        Ok(encoder)
    }

    /// The model catalog.
    pub(crate) fn models(&self) -> &Models {
        self.models
    }

    /// The job's retriever, with or without its models' prompts as the job says.
    pub(crate) fn retriever(&mut self, job: &Job) -> Result<Retriever, SweepError> {
        let fusion = matches!(job.retriever, RetrieverSpec::Ensemble(_));
        let (metric, hubness) = job.ranking.parts(fusion);
        let (weights, normalization) = match &job.retriever {
            RetrieverSpec::Single { .. } => (Vec::new(), Normalization::None),
            RetrieverSpec::Ensemble(e) => {
                let normalization = match e.z_score {
                    true => Normalization::ZScore,
                    false => Normalization::None,
                };
                (e.weights.clone(), normalization)
            }
        };
        let encoders = job
            .retriever
            .members()
            .iter()
            .map(|reference| self.encoder(reference))
            .collect::<Result<Vec<_>, _>>()?;
        let parts = RetrieverParts {
            weights,
            normalization,
            metric,
            hubness,
            prompts: job.prompts,
        };
        Ok(Retriever::assemble(encoders, &parts, self.cache.clone())?)
    }

    /// The generator a reference names and its catalog scoring; one generator
    /// is in memory at a time.
    pub(crate) fn generator(
        &mut self,
        reference: &str,
    ) -> Result<(&dyn Generator, &GeneratorEntry), SweepError> {
        let entry = self.models.generator_entry(reference)?;
        if self
            .generator
            .as_ref()
            .is_none_or(|(open, _)| *open != entry)
        {
            self.generator = None;
            let generator = self.models.open_generator(&entry)?;
            self.generator = Some((entry, generator));
        }
        let (entry, generator) = self.generator.as_ref().expect("just opened");
        Ok((generator.as_ref(), entry))
    }
}

/// The pool language of a cross-lingual classification or ICL job.
pub(crate) fn cross_source(job: &Job, dataset: &Dataset) -> Result<Option<Lang>, SweepError> {
    if job.task.pairs_languages() || job.setting != Setting::CrossLingual {
        return Ok(None);
    }
    let source = miners_eval::cross_source(dataset, None).map_err(|e| SweepError::Spec {
        origin: job.name(),
        message: e.to_string(),
    })?;
    Ok(Some(source))
}

pub(crate) fn not_classification(job: &Job) -> SweepError {
    SweepError::Spec {
        origin: job.name(),
        message: format!("{} is not a classification dataset", job.dataset),
    }
}
