//! What a run is: a task on a dataset with a retriever, its k values and
//! its own settings.

use miners_classify::Vote;
use miners_core::Lang;
use miners_eval::{RetrieverParts, Task, tune::TuneBy};
use miners_icl::{ScoringKind, Selection};

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

/// The encoders of a retriever and how they are put together.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrieverSpec {
    /// Encoder references (catalog ids or directories); several make a DistFuse.
    pub encoders: Vec<String>,
    /// Weights, normalisation, metric, hubness correction and prompts.
    pub parts: RetrieverParts,
    /// DistFuse weights learned on the validation split instead of `parts.weights`.
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
    /// One encoder ranked as `parts` says.
    pub fn single(encoder: &str, parts: RetrieverParts) -> Self {
        Self {
            encoders: vec![encoder.to_owned()],
            parts,
            tuning: None,
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
pub struct PairSelection {
    /// Only pairs with this source language.
    pub source: Option<String>,
    /// Only these pairs, as `SOURCE-TARGET` (empty: all).
    pub listed: Vec<String>,
}

/// Bitext retrieval: each source sentence retrieves its translation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BitextSpec {
    /// The pairs.
    pub pairs: PairSelection,
    /// Also score each pair the other way round (LASER's xsim does).
    pub both_directions: bool,
}

/// BUCC-style mining: mutual best pairs over shuffled pools, a threshold
/// tuned on one half and scored on the other.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MiningSpec {
    /// The pairs.
    pub pairs: PairSelection,
    /// Seed of the shuffles and of the split into halves.
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
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationSpec {
    /// Test languages (empty: all).
    pub langs: Vec<Lang>,
    /// Where the neighbours come from.
    pub pool: Pool,
    /// The voting rule.
    pub vote: Vote,
}

/// In-context learning: retrieved demonstrations in a prompt, a generator
/// scores or generates the label.
#[derive(Debug, Clone, PartialEq)]
pub struct IclSpec {
    /// Generator reference: a catalog id, `hf:<org>/<name>` or a directory.
    pub generator: String,
    /// Test languages (empty: all).
    pub langs: Vec<Lang>,
    /// Where the demonstrations come from.
    pub pool: Pool,
    /// Which retrieved texts become demonstrations.
    pub selection: Selection,
    /// Instruction text (default: the paper's for the dataset).
    pub instruction: Option<String>,
    /// Whether log-probability prompts list the labels (`Options:`).
    pub options: bool,
    /// Log-probability or generation (default: the generator's catalog setting).
    pub scoring: Option<ScoringKind>,
    /// Seed of sampled generations.
    pub seed: u64,
    /// Greedy decoding instead of the reference's sampling.
    pub greedy: bool,
}
