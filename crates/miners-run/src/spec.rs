//! What a run is: a task on a dataset with a retriever, its k values and
//! its own settings.

use miners_classify::Vote;
use miners_core::{Lang, Metric};
use miners_eval::{RetrieverParts, Task, tune::TuneBy};
use miners_fusion::Normalization;
use miners_icl::{ScoringKind, Selection};
use miners_index::HubnessChoice;

use crate::{CustomTask, TaskRun};

/// One run: a task on one dataset with one retriever. The CLI fills it from
/// flags, the sweep from a job and its cells, and a program by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Dataset name, as the registry spells it.
    pub dataset: String,
    /// A named label option of the dataset (`fold-not-tamil`), a recorded
    /// deviation from the reference.
    pub label_option: Option<String>,
    /// The retriever.
    pub retriever: RetrieverSpec,
    /// Neighbour (or demonstration) counts to score.
    pub ks: Vec<usize>,
    /// Only the first N items of each split read (ICL: N test examples spread
    /// over the split); `None` runs everything.
    pub limit: Option<usize>,
    /// The task, with what only it needs.
    pub task: RunTask,
}

/// The encoders of a retriever and how they are put together: what a user
/// chooses, resolved into [`RetrieverParts`] when the retriever is opened.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct RetrieverSpec {
    /// Encoder: an id of the catalog or a model directory; several make a DistFuse.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "model",
            value_name = "MODEL",
            visible_alias = "retriever",
            required = true
        )
    )]
    pub encoders: Vec<String>,
    /// DistFuse weights, one per encoder (comma-separated; default: equal).
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub weights: Vec<f32>,
    /// DistFuse distance normalisation.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = Normalization::None))]
    pub normalization: Normalization,
    /// Ranking metric of a single encoder (the reference ranks by euclidean).
    #[cfg_attr(feature = "clap", arg(long, default_value = "euclidean"))]
    pub metric: Metric,
    /// Correct the scores for hubness: the ratio or distance margin of
    /// Artetxe & Schwenk (2019) or CSLS (Conneau et al., 2018), over the
    /// metric (the ratio margin needs cosine or dot) or DistFuse's fused
    /// distance; recorded as `<model>~<hubness><k>`.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub hubness: Option<HubnessChoice>,
    /// Neighbourhood size of the hubness correction (default: 4 for the
    /// margins, 10 for CSLS); at least 1.
    #[cfg_attr(feature = "clap", arg(long, requires = "hubness", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)))]
    pub hubness_k: Option<usize>,
    /// Encode with the models' prompts (e5's `query: `). Default: the
    /// task's, as the reference does: yes for bitext and classification, no
    /// for ICL retrieval.
    #[cfg_attr(feature = "clap", arg(long))]
    pub prompts: Option<bool>,
    /// DistFuse weights learned on the validation split instead of `weights`.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub tuning: Option<Tuning>,
}

/// Where DistFuse weights are learned: which languages share weights, and
/// whose validation split teaches them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// One set of weights per dataset or per language family.
    pub by: TuneBy,
    /// The languages learned on (empty: all of the dataset's). Every shard of
    /// a sweep learns on the job's languages, so all learn the same weights.
    pub langs: Vec<Lang>,
}

impl RetrieverSpec {
    /// One encoder ranked by the reference's Euclidean distance.
    pub fn single(encoder: &str) -> Self {
        Self {
            encoders: vec![encoder.to_owned()],
            weights: Vec::new(),
            normalization: Normalization::None,
            metric: Metric::Euclidean,
            hubness: None,
            hubness_k: None,
            prompts: None,
            tuning: None,
        }
    }

    /// What [`Retriever::assemble`](miners_eval::Retriever::assemble) puts
    /// together, with prompts as `prompts` says or else `default_prompts`.
    pub fn parts(&self, default_prompts: bool) -> RetrieverParts {
        RetrieverParts {
            weights: self.weights.clone(),
            normalization: self.normalization,
            metric: self.metric,
            hubness: self.hubness.and_then(|h| h.with_k(self.hubness_k)),
            prompts: self.prompts.unwrap_or(default_prompts),
        }
    }
}

/// The task of a run, with what only it needs.
#[derive(Debug, Clone)]
pub enum RunTask {
    /// Bitext retrieval.
    Bitext(BitextSpec),
    /// Retrieval-based classification.
    Classification(ClassificationSpec),
    /// In-context learning.
    Icl(IclSpec),
    /// BUCC-style bitext mining.
    Mining(MiningSpec),
    /// A task of one's own, through the [`TaskRun`] trait.
    Custom(CustomTask),
}

impl RunTask {
    /// The task its records belong to.
    pub fn task(&self) -> Task {
        self.runner().task()
    }

    /// The task that runs this spec.
    pub fn runner(&self) -> &dyn TaskRun {
        match self {
            Self::Bitext(spec) => spec,
            Self::Classification(spec) => spec,
            Self::Icl(spec) => spec,
            Self::Mining(spec) => spec,
            Self::Custom(task) => task.as_ref(),
        }
    }
}

/// Built-in specs compare by value, custom tasks by identity.
impl PartialEq for RunTask {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Bitext(a), Self::Bitext(b)) => a == b,
            (Self::Classification(a), Self::Classification(b)) => a == b,
            (Self::Icl(a), Self::Icl(b)) => a == b,
            (Self::Mining(a), Self::Mining(b)) => a == b,
            (Self::Custom(a), Self::Custom(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Which language pairs of a bitext dataset run.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct PairSelection {
    /// Only pairs whose source language is this.
    #[cfg_attr(feature = "clap", arg(long = "src-lang"))]
    pub source: Option<String>,
    /// Only these pairs, as `SOURCE-TARGET` (repeatable; default all).
    #[cfg_attr(feature = "clap", arg(long = "pair"))]
    pub listed: Vec<String>,
}

/// Bitext retrieval: each source sentence retrieves its translation.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct BitextSpec {
    /// The pairs.
    #[cfg_attr(feature = "clap", command(flatten))]
    pub pairs: PairSelection,
    /// Also score each pair the other way round (targets retrieve sources;
    /// records marked `reversed`), as LASER's xsim does.
    #[cfg_attr(feature = "clap", arg(long))]
    pub both_directions: bool,
}

/// BUCC-style mining: both sides of each pair as shuffled pools, mutual best
/// pairs, the F1-best threshold tuned on one half of the sources and scored
/// on the other.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct MiningSpec {
    /// The pairs.
    #[cfg_attr(feature = "clap", command(flatten))]
    pub pairs: PairSelection,
    /// Seed of the shuffles and of the split into halves.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 0))]
    pub seed: u64,
}

/// Where a classification or ICL run draws its neighbours from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Pool {
    /// Each test language from its own pool (monolingual; code-switched data
    /// records its own setting).
    #[default]
    Own,
    /// Every test language from the pool of `source` (default: the dataset's
    /// usual source language).
    Cross {
        /// The pool language.
        source: Option<String>,
    },
}

/// Retrieval-based classification: the k nearest labelled texts vote.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ClassificationSpec {
    /// Only these test languages (repeatable; default all).
    #[cfg_attr(feature = "clap", arg(long = "lang"))]
    pub langs: Vec<Lang>,
    /// Where the neighbours come from.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub pool: Pool,
    /// Voting rule.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = Vote::Majority))]
    pub vote: Vote,
}

/// In-context learning: retrieved demonstrations in a prompt, a generator
/// scores or generates the label.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct IclSpec {
    /// Generator: a `[[generator]]` id of the catalog, `hf:<org>/<name>[@<revision>]`
    /// or a model directory.
    #[cfg_attr(feature = "clap", arg(long))]
    pub generator: String,
    /// Only these test languages (repeatable; default all).
    #[cfg_attr(feature = "clap", arg(long = "lang"))]
    pub langs: Vec<Lang>,
    /// Where the demonstrations come from.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub pool: Pool,
    /// Which retrieved texts become demonstrations.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub selection: Selection,
    /// Instruction text (default: the paper's for the dataset).
    #[cfg_attr(feature = "clap", arg(long))]
    pub instruction: Option<String>,
    /// Add the `Options:` line listing the labels to log-probability prompts;
    /// the reference lists options only when generating, so off by default.
    #[cfg_attr(feature = "clap", arg(long))]
    pub options: bool,
    /// How answers are read: `logprob` (each label's log-probability) or
    /// `generate` (chat template, generation, exact match). Default: the
    /// generator's catalog setting.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub scoring: Option<ScoringKind>,
    /// Generation: seed of the sampled answers.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 42))]
    pub seed: u64,
    /// Generation: decode greedily instead of the reference's sampling
    /// (temperature 0.2, top-p 1).
    #[cfg_attr(feature = "clap", arg(long))]
    pub greedy: bool,
}
