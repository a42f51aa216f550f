//! The sweep specification (`sweep.toml`).

use std::{collections::HashMap, path::Path};

use miners_eval::Setting;
use serde::{Deserialize, Serialize};

use crate::SweepError;

/// A sweep: which retrievers and generators run which tasks on which datasets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Encoder references (catalog ids or directories), each a retriever of its own.
    #[serde(default)]
    pub encoders: Vec<String>,
    /// DistFuse ensembles, each a retriever.
    #[serde(default)]
    pub ensembles: Vec<EnsembleSpec>,
    /// Bitext retrieval.
    #[serde(default)]
    pub bitext: Option<TaskSpec>,
    /// Retrieval-based classification.
    #[serde(default)]
    pub classification: Option<TaskSpec>,
    /// In-context learning.
    #[serde(default)]
    pub icl: Option<IclSpec>,
    /// BUCC-style bitext mining, by every encoder and ensemble of the spec
    /// under each ranking of `metrics` (or its own `metrics`).
    #[serde(default)]
    pub mining: Option<MiningSpec>,
    /// The fine-tuned baseline: each of `encoders` fine-tuned on each
    /// dataset's languages with the reference's recipe.
    #[serde(default)]
    pub finetune: Option<FineTuneSweep>,
    /// Keep only the first N items of each split read (smoke sweeps).
    #[serde(default)]
    pub limit: Option<usize>,
    /// How bitext and classification rank candidates, each a sweep axis
    /// (default: the reference's `euclidean` alone). ICL retrieval keeps the
    /// reference's ranking.
    #[serde(default = "reference_ranking")]
    pub metrics: Vec<Ranking>,
}

/// A ranking of candidates, as a sweep's `metrics` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ranking {
    /// L2 distance (the reference; DistFuse: the fused L2 distance).
    #[default]
    Euclidean,
    /// Cosine similarity (DistFuse: the fused cosine similarity, the
    /// `distfuse` package's `cosine`).
    Cosine,
    /// Inner product (DistFuse: the fused inner product).
    Dot,
    /// L1 distance (DistFuse: the fused L1 distance, the `distfuse`
    /// package's `manhattan`).
    Manhattan,
    /// LASER's ratio margin (k = 4) over cosine; for DistFuse, the distance
    /// margin over the fused distance.
    Margin,
    /// CSLS (k = 10) over cosine; for DistFuse, over the fused distance.
    Csls,
}

impl Ranking {
    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Euclidean => "euclidean",
            Self::Cosine => "cosine",
            Self::Dot => "dot",
            Self::Manhattan => "manhattan",
            Self::Margin => "margin",
            Self::Csls => "csls",
        }
    }

    /// The metric and hubness correction of a single encoder, or of DistFuse.
    pub(crate) fn parts(
        self,
        fusion: bool,
    ) -> (miners_core::Metric, Option<miners_index::Hubness>) {
        use miners_core::Metric;
        use miners_index::Hubness;
        let base = if fusion {
            Metric::Euclidean
        } else {
            Metric::Cosine
        };
        match self {
            Self::Euclidean => (Metric::Euclidean, None),
            Self::Cosine => (Metric::Cosine, None),
            Self::Dot => (Metric::Dot, None),
            Self::Manhattan => (Metric::Manhattan, None),
            Self::Margin if fusion => (base, Some(Hubness::DistanceMargin { k: 4 })),
            Self::Margin => (base, Some(Hubness::RatioMargin { k: 4 })),
            Self::Csls => (base, Some(Hubness::Csls { k: 10 })),
        }
    }
}

fn reference_ranking() -> Vec<Ranking> {
    vec![Ranking::Euclidean]
}

/// A DistFuse ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// Member encoder references.
    pub members: Vec<String>,
    /// One raw weight per member.
    pub weights: Vec<f32>,
    /// Distance normalisation before weighting.
    #[serde(default)]
    pub z_score: bool,
    /// Learn the weights on each classification dataset's validation split,
    /// for the whole dataset (`"dataset"`) or per language family
    /// (`"family"`); `weights` are then placeholders, and such an ensemble
    /// runs classification only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<miners_eval::tune::TuneBy>,
}

/// Datasets, settings and k values of a retrieval task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Dataset names; empty means every dataset of the task that is present.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Classification: `mono` and/or `cross` (code-switched datasets give
    /// `cs` / `cross-cs`). Bitext always crosses languages.
    #[serde(default = "mono_and_cross")]
    pub settings: Vec<Setting>,
    /// Neighbour counts.
    #[serde(default = "paper_ks")]
    pub ks: Vec<usize>,
    /// Encode with the models' prompts (e5's `query: `), as the reference's
    /// bitext and classification scripts do.
    #[serde(default = "yes")]
    pub prompts: bool,
    /// Bitext: also score each pair the other way round (records marked
    /// `reversed`); the reference scores one way.
    #[serde(default)]
    pub both_directions: bool,
}

impl Default for TaskSpec {
    /// Every present dataset, mono and cross, k = 1, 5, 10, with prompts, one way.
    fn default() -> Self {
        Self {
            datasets: Vec::new(),
            settings: mono_and_cross(),
            ks: paper_ks(),
            prompts: true,
            both_directions: false,
        }
    }
}

/// The mining part of a sweep: each pair of each dataset, both sides as
/// shuffled pools, mutual best pairs, the threshold tuned on one half of the
/// sources and scored on the other (`miners mine`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiningSpec {
    /// Bitext dataset names; empty means every one present.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Seed of the shuffles and of the split into halves.
    #[serde(default)]
    pub seed: u64,
    /// Rankings to mine under (default: the spec's `metrics`).
    #[serde(default)]
    pub metrics: Option<Vec<Ranking>>,
}

/// The fine-tuning part of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FineTuneSweep {
    /// Classification dataset names; empty means every one present.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Test languages per dataset (default: all of the dataset's).
    #[serde(default)]
    pub langs: HashMap<String, Vec<String>>,
    /// `mono` (each language trains its own model, the reference) and/or
    /// `cross` (one model trained on the dataset's usual source language).
    #[serde(default = "mono")]
    pub settings: Vec<Setting>,
    /// Epochs at most (the reference: 10, early stopping after 2 without a gain).
    #[serde(default = "ten")]
    pub epochs: usize,
    /// Seeds the heads, dropout and shuffles (the reference: 42).
    #[serde(default = "forty_two")]
    pub seed: u64,
}

fn mono() -> Vec<Setting> {
    vec![Setting::Monolingual]
}

fn ten() -> usize {
    10
}

fn forty_two() -> u64 {
    42
}

/// The ICL part of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IclSpec {
    /// Dataset names (classification datasets).
    pub datasets: Vec<String>,
    /// Generator references (`[[generator]]` catalog ids or directories).
    pub generators: Vec<String>,
    /// What retrieves demonstrations: an encoder, or an ensemble of
    /// `[[ensembles]]` by the id its records carry
    /// (`distfuse(e5-small*1+minilm-l6*1)`).
    pub retriever: String,
    /// Which retrieved texts become demonstrations: `"nearest"` (the
    /// paper's default), `"balanced"` (the k nearest of each label) or
    /// `{ percentile = [min, max] }` (the paper's percentile study); or a
    /// list of them, each its own jobs.
    #[serde(default)]
    pub selection: Selections,
    /// `mono` and/or `cross`.
    #[serde(default = "mono_only")]
    pub settings: Vec<Setting>,
    /// Numbers of demonstrations (0 = zero-shot).
    #[serde(default = "zero_and_one")]
    pub ks: Vec<usize>,
    /// Test examples scored per language (the pool stays whole).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Per dataset, the test languages (default: all).
    #[serde(default)]
    pub langs: HashMap<String, Vec<String>>,
    /// Retrieve demonstrations with the retriever's prompts; the reference's
    /// ICL scripts encode without them (default false).
    #[serde(default)]
    pub retriever_prompts: bool,
    /// Add the `Options:` line to log-probability prompts, a combination the
    /// reference never runs (it lists options only when generating); default false.
    #[serde(default)]
    pub options: bool,
    /// `logprob` or `generate` for every generator; default: each generator's
    /// catalog setting.
    #[serde(default)]
    pub scoring: Option<miners_icl::ScoringKind>,
    /// Generation scoring decodes greedily instead of the reference's sampling
    /// (temperature 0.2, top-p 1).
    #[serde(default)]
    pub greedy: bool,
    /// Seed of the sampled generations (the reference's default: 42).
    #[serde(default = "reference_seed")]
    pub seed: u64,
}

/// A demonstration selection as a spec writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SelectionSpec {
    /// `"nearest"` or `"balanced"`.
    Named(SelectionName),
    /// `{ percentile = [min, max] }`.
    Window {
        /// Lower and upper percentile.
        percentile: [f64; 2],
    },
}

impl Default for SelectionSpec {
    fn default() -> Self {
        Self::Named(SelectionName::Nearest)
    }
}

/// The selections a spec names by word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionName {
    /// The k nearest.
    Nearest,
    /// The k nearest of each label.
    Balanced,
}

/// One selection, or a list of them (the percentile study's windows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Selections {
    /// A single selection.
    One(SelectionSpec),
    /// Several, run in the order given.
    Many(Vec<SelectionSpec>),
}

impl Default for Selections {
    fn default() -> Self {
        Self::One(SelectionSpec::default())
    }
}

impl Selections {
    /// Every selection, each window checked; none listed twice.
    pub fn selections(&self) -> Result<Vec<miners_icl::Selection>, String> {
        let specs = match self {
            Self::One(spec) => std::slice::from_ref(spec),
            Self::Many(specs) => specs.as_slice(),
        };
        if specs.is_empty() {
            return Err("[icl] selection lists no selection".into());
        }
        let mut selections: Vec<miners_icl::Selection> = Vec::with_capacity(specs.len());
        for spec in specs {
            let selection = spec.selection()?;
            if selections.contains(&selection) {
                return Err(format!("[icl] selection lists {spec:?} twice"));
            }
            selections.push(selection);
        }
        Ok(selections)
    }
}

impl SelectionSpec {
    /// The selection, its window checked.
    pub fn selection(&self) -> Result<miners_icl::Selection, String> {
        use miners_icl::Selection;
        match self {
            Self::Named(SelectionName::Nearest) => Ok(Selection::Nearest),
            Self::Named(SelectionName::Balanced) => Ok(Selection::Balanced),
            Self::Window {
                percentile: [min, max],
            } => Selection::percentile(*min, *max)
                .map_err(|e| format!("[icl] selection percentile [{min}, {max}]: {e}")),
        }
    }
}

fn reference_seed() -> u64 {
    42
}

fn mono_and_cross() -> Vec<Setting> {
    vec![Setting::Monolingual, Setting::CrossLingual]
}

fn yes() -> bool {
    true
}

fn mono_only() -> Vec<Setting> {
    vec![Setting::Monolingual]
}

fn paper_ks() -> Vec<usize> {
    vec![1, 5, 10]
}

fn zero_and_one() -> Vec<usize> {
    vec![0, 1]
}

impl Default for SweepSpec {
    /// Nothing to run yet, ranked as the reference ranks.
    fn default() -> Self {
        Self {
            encoders: Vec::new(),
            ensembles: Vec::new(),
            bitext: None,
            classification: None,
            icl: None,
            mining: None,
            finetune: None,
            limit: None,
            metrics: reference_ranking(),
        }
    }
}

impl SweepSpec {
    /// Reads and checks a TOML spec.
    pub fn read(path: &Path) -> Result<Self, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|source| SweepError::Io {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| SweepError::Spec {
            origin: path.display().to_string(),
            message,
        };
        let spec: Self = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        spec.check().map_err(invalid)?;
        Ok(spec)
    }

    /// Checks what the types cannot: something to run, one usable weight per
    /// ensemble member, k values without repeats, a limit of at least 1, and
    /// only `mono` / `cross` as settings.
    pub fn check(&self) -> Result<(), String> {
        let retrieval =
            self.bitext.is_some() || self.classification.is_some() || self.mining.is_some();
        if !retrieval && self.icl.is_none() && self.finetune.is_none() {
            return Err(
                "no task: add [bitext], [classification], [icl], [mining] or [finetune]".into(),
            );
        }
        if self.finetune.is_some() && self.encoders.is_empty() {
            return Err("[finetune] trains each of `encoders`, which is empty".into());
        }
        if self.finetune.as_ref().is_some_and(|f| f.epochs == 0) {
            return Err("[finetune] `epochs` is 0: give at least 1".into());
        }
        if self
            .mining
            .as_ref()
            .is_some_and(|m| m.metrics.as_ref().is_some_and(Vec::is_empty))
        {
            return Err("[mining] `metrics` is empty: list at least one, or leave it out".into());
        }
        if retrieval && self.encoders.is_empty() && self.ensembles.is_empty() {
            return Err("`encoders` and `ensembles` are both empty: nothing would run".into());
        }
        for ensemble in &self.ensembles {
            if ensemble.members.len() != ensemble.weights.len() || ensemble.members.is_empty() {
                return Err(format!(
                    "ensemble {:?} needs one weight per member",
                    ensemble.members
                ));
            }
            miners_fusion::check_weights(&ensemble.weights)
                .map_err(|e| format!("ensemble {:?}: {e}", ensemble.members))?;
        }
        if self
            .classification
            .as_ref()
            .is_some_and(|c| c.both_directions)
        {
            return Err("`both_directions` is a [bitext] setting".into());
        }
        if self.metrics.is_empty() {
            return Err("`metrics` is empty: list at least one (the reference: euclidean)".into());
        }
        if let Some(m) = self
            .metrics
            .iter()
            .enumerate()
            .find_map(|(i, m)| self.metrics[..i].contains(m).then_some(m))
        {
            return Err(format!("metric `{}` is listed twice", m.name()));
        }
        if self.limit == Some(0) || self.icl.as_ref().is_some_and(|i| i.limit == Some(0)) {
            return Err("limit 0 keeps no items; give at least 1, or no limit".into());
        }
        if let Some(icl) = &self.icl {
            if icl.generators.is_empty() {
                return Err("[icl] lists no generators".into());
            }
            icl.selection.selections()?;
        }
        let ks = [&self.bitext, &self.classification]
            .into_iter()
            .flatten()
            .map(|t| &t.ks)
            .chain(self.icl.iter().map(|i| &i.ks));
        for ks in ks {
            if let Some(k) = ks
                .iter()
                .enumerate()
                .find_map(|(i, k)| ks[..i].contains(k).then_some(k))
            {
                return Err(format!("k = {k} is listed twice in {ks:?}"));
            }
        }
        let task_settings = [&self.bitext, &self.classification]
            .into_iter()
            .flatten()
            .flat_map(|t| &t.settings);
        let icl_settings = self.icl.iter().flat_map(|i| &i.settings);
        match task_settings
            .chain(icl_settings)
            .find(|s| !matches!(s, Setting::Monolingual | Setting::CrossLingual))
        {
            Some(other) => Err(format!(
                "setting `{}`: a spec names mono or cross (code-switched datasets give cs / cross-cs)",
                other.name()
            )),
            None => Ok(()),
        }
    }
}
