//! A retriever: one encoder, or several fused by DistFuse.

use std::sync::Arc;

use miners_core::{Embeddings, Metric, Neighbours};
use miners_encoders::{Encoder, Overridden, Role};
use miners_fusion::{DistFuse, Member, Normalization};
use miners_index::{BlockScorer, Hubness, HubnessScorer, MetricScorer, SearchOptions, search};

use crate::{
    EvalError, Progress,
    cache::{EmbeddingCache, encode_all},
    record::TuneBy,
    record::{FusionMemberRecord, ModelRecord},
};

/// How a retriever is made of its encoders: the one recipe from which the
/// CLI and the sweep assemble every retriever ([`Retriever::assemble`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrieverParts {
    /// DistFuse's raw weights, one per encoder; empty for a single encoder.
    pub weights: Vec<f32>,
    /// DistFuse's distance normalisation.
    pub normalization: Normalization,
    /// How a single encoder ranks, or how each DistFuse member scores (the
    /// `distfuse` package's `dist_measure`; the paper: Euclidean).
    pub metric: Metric,
    /// A hubness correction of the scores.
    pub hubness: Option<Hubness>,
    /// Whether the encoders encode with their prompts (e5's `query: `).
    pub prompts: bool,
}

impl Default for RetrieverParts {
    /// The reference's: Euclidean, no hubness correction, with prompts.
    fn default() -> Self {
        Self {
            weights: Vec::new(),
            normalization: Normalization::None,
            metric: Metric::Euclidean,
            hubness: None,
            prompts: true,
        }
    }
}

/// One encoder with a metric, or a DistFuse of several encoders.
#[derive(Clone)]
pub struct Retriever {
    encoders: Vec<Arc<dyn Encoder>>,
    weights: Vec<f32>,
    normalization: Normalization,
    metric: Metric,
    hubness: Option<Hubness>,
    tuned: Option<(TuneBy, String)>,
    cache: Option<Arc<EmbeddingCache>>,
}

impl Retriever {
    /// The retriever `parts` make of `encoders` (several, or given weights,
    /// make a DistFuse whose members score by `parts.metric`), encoding
    /// through `cache` when one is given.
    pub fn assemble(
        encoders: Vec<Arc<dyn Encoder>>,
        parts: &RetrieverParts,
        cache: Option<Arc<EmbeddingCache>>,
    ) -> Result<Self, EvalError> {
        let fusion = encoders.len() > 1 || !parts.weights.is_empty();
        let retriever = match fusion {
            true => Self::distfuse(encoders, parts.weights.clone(), parts.normalization)?
                .with_metric(parts.metric),
            false if parts.normalization == Normalization::ZScore => {
                return Err(EvalError::Config(
                    "z-score normalisation rescales DistFuse members; it needs two or more encoders"
                        .into(),
                ));
            }
            false => {
                let encoder = encoders
                    .into_iter()
                    .next()
                    .ok_or_else(|| EvalError::Config("a retriever needs an encoder".into()))?;
                Self::single(encoder, parts.metric)
            }
        };
        if matches!(parts.hubness, Some(Hubness::RatioMargin { .. }))
            && !parts.metric.higher_is_better()
        {
            return Err(EvalError::Config(format!(
                "the ratio margin divides similarities and metric {} is a distance: \
                 use cosine or dot, or the distance margin",
                parts.metric
            )));
        }
        let retriever = match parts.hubness {
            Some(hubness) => retriever.with_hubness(hubness),
            None => retriever,
        };
        let retriever = match parts.prompts {
            true => retriever,
            false => retriever.without_prompts(),
        };
        Ok(match cache {
            Some(cache) => retriever.with_cache(cache),
            None => retriever,
        })
    }

    /// A single encoder ranked by `metric` (the reference uses Euclidean).
    pub fn single(encoder: Arc<dyn Encoder>, metric: Metric) -> Self {
        Self {
            encoders: vec![encoder],
            weights: vec![1.0],
            normalization: Normalization::None,
            metric,
            hubness: None,
            tuned: None,
            cache: None,
        }
    }

    /// DistFuse of `encoders` with one raw weight each.
    pub fn distfuse(
        encoders: Vec<Arc<dyn Encoder>>,
        weights: Vec<f32>,
        normalization: Normalization,
    ) -> Result<Self, EvalError> {
        if encoders.is_empty() || weights.len() != encoders.len() {
            return Err(EvalError::Config(format!(
                "DistFuse needs one weight per encoder ({} encoders, {} weights)",
                encoders.len(),
                weights.len()
            )));
        }
        miners_fusion::check_weights(&weights)
            .map_err(|e| EvalError::Config(format!("DistFuse: {e}")))?;
        Ok(Self {
            encoders,
            weights,
            normalization,
            metric: Metric::Euclidean,
            hubness: None,
            tuned: None,
            cache: None,
        })
    }

    fn is_fusion(&self) -> bool {
        self.encoders.len() > 1 || self.weights != [1.0]
    }

    /// The same retriever ranking by `metric`: a single encoder's, or each
    /// DistFuse member's (records name it, `~cosine`, unless Euclidean).
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// The metric used for ranking.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// How results name this retriever.
    pub fn record(&self) -> ModelRecord {
        let mut record = self.base_record();
        let mut suffix = String::new();
        if self.metric != Metric::Euclidean {
            suffix.push_str(&format!("~{}", self.metric.name()));
        }
        if let Some(hubness) = self.hubness {
            suffix.push_str(&format!("~{}{}", hubness.name(), hubness.k()));
        }
        if !suffix.is_empty() {
            record.id.push_str(&suffix);
            let mut fingerprint = miners_encoders::Fingerprint::new("scored-v1");
            fingerprint.field("base", record.fingerprint.as_deref().unwrap_or_default());
            fingerprint.field("scoring", &suffix);
            record.fingerprint = Some(fingerprint.finish());
        }
        record.hubness = self.hubness;
        if let Some((by, note)) = &self.tuned {
            record.tuned_by = Some(*by);
            record.tuned_on = Some(note.clone());
        }
        record
    }

    /// The record of the encoders alone, ranked by Euclidean distance.
    fn base_record(&self) -> ModelRecord {
        if !self.is_fusion() {
            return ModelRecord {
                id: self.encoders[0].id().to_owned(),
                members: None,
                normalization: None,
                fingerprint: Some(self.encoders[0].identity()),
                source: self.encoders[0].source().map(str::to_owned),
                hubness: None,
                tuned_on: None,
                tuned_by: None,
            };
        }
        let members: Vec<FusionMemberRecord> = self
            .encoders
            .iter()
            .zip(&self.weights)
            .map(|(e, &weight)| FusionMemberRecord {
                id: e.id().to_owned(),
                weight,
                source: e.source().map(str::to_owned),
            })
            .collect();
        let parts: Vec<String> = members
            .iter()
            .map(|m| format!("{}*{}", m.id, m.weight))
            .collect();
        let normalization = match self.normalization {
            Normalization::None => "none",
            Normalization::ZScore => "z_score",
        };
        let mut suffix = String::new();
        if normalization != "none" {
            suffix.push_str(&format!(",{normalization}"));
        }
        if let Some((by, _)) = &self.tuned {
            suffix.push_str(&format!(",tuned-per-{}", by.name()));
        }
        let id = format!("distfuse({}{suffix})", parts.join("+"));
        let mut fingerprint = miners_encoders::Fingerprint::new("distfuse-v1");
        fingerprint.field("id", &id);
        for encoder in &self.encoders {
            fingerprint.field("member", encoder.identity());
        }
        ModelRecord {
            id,
            members: Some(members),
            normalization: Some(normalization.into()),
            fingerprint: Some(fingerprint.finish()),
            source: None,
            hubness: None,
            tuned_on: None,
            tuned_by: None,
        }
    }

    /// The same DistFuse with other raw weights, one per member.
    pub fn with_weights(mut self, weights: Vec<f32>) -> Result<Self, EvalError> {
        if weights.len() != self.encoders.len() {
            return Err(EvalError::Config(format!(
                "{} weights for {} encoders",
                weights.len(),
                self.encoders.len()
            )));
        }
        miners_fusion::check_weights(&weights)
            .map_err(|e| EvalError::Config(format!("DistFuse: {e}")))?;
        self.weights = weights;
        Ok(self)
    }

    /// DistFuse's distance normalisation.
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// The same retriever with learned weights: its id says which languages
    /// shared them (`,tuned-per-<by>`), its records where they were learned.
    pub fn tuned(mut self, by: TuneBy, note: impl Into<String>) -> Self {
        self.tuned = Some((by, note.into()));
        self
    }

    /// The same retriever with its scores corrected for hubness (margin or
    /// CSLS over its metric, or over the negated fused distance of DistFuse).
    pub fn with_hubness(mut self, hubness: Hubness) -> Self {
        self.hubness = Some(hubness);
        self
    }

    /// The same retriever with its encoders' prompts left out (the reference's
    /// ICL scripts encode with e5 without `query: `). The records keep the
    /// model id; the fingerprint tells the two apart.
    pub fn without_prompts(mut self) -> Self {
        self.encoders = self
            .encoders
            .into_iter()
            .map(|encoder| {
                let plain = Overridden::new(encoder).with_prompts(Default::default());
                Arc::new(plain) as Arc<dyn Encoder>
            })
            .collect();
        self
    }

    /// Uses `cache` for every encoding, so each text is encoded once per model and prompt.
    pub fn with_cache(mut self, cache: Arc<EmbeddingCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Whether encodings go through an embedding cache (kept across cells and runs).
    pub fn has_cache(&self) -> bool {
        self.cache.is_some()
    }

    /// The member encoders, in order (one for a single encoder).
    pub fn encoders(&self) -> &[Arc<dyn Encoder>] {
        &self.encoders
    }

    /// Per member encoder, whether each of `texts` is already in the cache
    /// (all `false` without one).
    pub fn cached(
        &self,
        texts: &[String],
        role: Role,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<bool>>, EvalError> {
        self.encoders
            .iter()
            .map(|encoder| match &self.cache {
                Some(cache) => cache.contains(encoder.as_ref(), texts, role, progress),
                None => Ok(vec![false; texts.len()]),
            })
            .collect()
    }

    /// Embeds `texts` with every member encoder.
    pub fn encode(
        &self,
        texts: &[String],
        role: Role,
        label: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<Embeddings>, EvalError> {
        self.encoders
            .iter()
            .map(|encoder| match &self.cache {
                Some(cache) => cache.encode(encoder.as_ref(), texts, role, label, progress),
                None => encode_all(encoder.as_ref(), texts, role, label, progress),
            })
            .collect()
    }

    /// The `k` best candidates of each query, from per-member embeddings.
    pub fn search(
        &self,
        queries: &[Embeddings],
        candidates: &[Embeddings],
        k: usize,
    ) -> Result<Neighbours, EvalError> {
        if !self.is_fusion() {
            let forward = MetricScorer::new(&queries[0], &candidates[0], self.metric)?;
            return self.ranked(&forward, k, || {
                MetricScorer::new(&candidates[0], &queries[0], self.metric).map_err(EvalError::from)
            });
        }
        let forward_members = self.members(queries, candidates);
        let forward = DistFuse::new(&forward_members, self.metric, self.normalization)?;
        let backward_members = self.members(candidates, queries);
        self.ranked(&forward, k, || {
            DistFuse::new(&backward_members, self.metric, self.normalization)
                .map_err(EvalError::from)
        })
    }

    /// DistFuse members of `queries` against `candidates`, one per encoder.
    fn members<'e>(
        &self,
        queries: &'e [Embeddings],
        candidates: &'e [Embeddings],
    ) -> Vec<Member<'e>> {
        queries
            .iter()
            .zip(candidates)
            .zip(&self.weights)
            .map(|((q, c), &w)| Member::new(q, c, w))
            .collect()
    }

    /// The `k` best of `forward`, corrected for hubness with `backward` (the
    /// sides swapped) when the retriever says so.
    fn ranked<S: BlockScorer>(
        &self,
        forward: &S,
        k: usize,
        backward: impl FnOnce() -> Result<S, EvalError>,
    ) -> Result<Neighbours, EvalError> {
        let options = SearchOptions::default();
        match self.hubness {
            None => Ok(search(forward, k, options)?),
            Some(hubness) => {
                let corrected = HubnessScorer::new(forward, &backward()?, hubness, options)?;
                Ok(search(&corrected, k, options)?)
            }
        }
    }
}
