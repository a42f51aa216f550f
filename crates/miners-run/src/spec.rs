//! What a run is: a task on a dataset with a retriever, its k values and
//! its own settings.

use miners_core::Metric;
use miners_eval::{Retriever, RetrieverParts, Task};
use miners_fusion::Normalization;
use miners_index::HubnessChoice;

use crate::{
    BitextSpec, ClassificationSpec, CustomTask, FineTuneSpec, IclSpec, MiningSpec, RunError,
    Session, TaskRun, Tuning,
};

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

    /// Learns the DistFuse weights as `tuning` says instead of taking them
    /// from `weights`, which must therefore be empty; needs two or more
    /// encoders.
    pub fn learn_weights(&mut self, tuning: Tuning) -> Result<(), RunError> {
        if !self.weights.is_empty() {
            return Err(RunError::Config(
                "learned DistFuse weights replace the weights given (`weights`): give one or the other".into(),
            ));
        }
        if self.encoders.len() < 2 {
            return Err(RunError::Config(
                "learning DistFuse weights needs two or more encoders".into(),
            ));
        }
        // Placeholders until the validation split decides.
        self.weights = vec![1.0; self.encoders.len()];
        self.tuning = Some(tuning);
        Ok(())
    }

    /// What [`Retriever::assemble`](miners_eval::Retriever::assemble) puts
    /// together, with prompts as `prompts` says or else `default_prompts`.
    pub fn parts(&self, default_prompts: bool) -> RetrieverParts {
        let equal = match self.encoders.len() {
            0 | 1 => Vec::new(),
            n => vec![1.0; n],
        };
        RetrieverParts {
            weights: match self.weights.is_empty() {
                true => equal,
                false => self.weights.clone(),
            },
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
    /// The fine-tuned baseline.
    FineTune(FineTuneSpec),
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
            Self::FineTune(spec) => spec,
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
            (Self::FineTune(a), Self::FineTune(b)) => a == b,
            (Self::Custom(a), Self::Custom(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
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
        Ok(Retriever::assemble(encoders, &parts, session.cache())?)
    }
}
