//! The result record: one JSON file per evaluated cell (schema in docs/results.md).

use std::path::{Path, PathBuf};

use miners_core::Metric;
use serde::{Deserialize, Serialize};

use crate::{EvalError, metrics::Average};
use miners_icl::{Generation, Prompt, Scoring, Selection};

/// Which languages share learned weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TuneBy {
    /// All the languages of a dataset.
    Dataset,
    /// The languages of one top-level Glottolog family; codes of no known
    /// family form one group (see `miners_datasets::language_family`).
    Family,
}

impl TuneBy {
    /// The name in specs, ids and flags: `dataset` or `family`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dataset => "dataset",
            Self::Family => "family",
        }
    }
}

/// Version of the record layout; bumped on any incompatible change
/// (2: `model.fingerprint`; records of version 1 are redone on resume).
pub const SCHEMA_VERSION: u32 = 2;

/// The MINERS task a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Bitext retrieval.
    Bitext,
    /// Retrieval-based kNN classification.
    Classification,
    /// In-context-learning classification.
    Icl,
    /// BUCC-style bitext mining (results are [`crate::mining::MiningResult`]s,
    /// under `<out>/mining/`).
    Mining,
    /// The reference's fine-tuned baseline: the encoder with a classification
    /// head, trained on each language's training split (records carry k = 0).
    #[serde(rename = "finetune")]
    FineTune,
}

impl Task {
    /// Every task, in the order sweeps run and reports list them.
    pub const ALL: [Task; 4] = [
        Task::Bitext,
        Task::Classification,
        Task::Icl,
        Task::FineTune,
    ];

    /// The name used in records, paths, job names and tables.
    pub fn name(self) -> &'static str {
        match self {
            Task::Bitext => "bitext",
            Task::Classification => "classification",
            Task::Icl => "icl",
            Task::Mining => "mining",
            Task::FineTune => "finetune",
        }
    }

    /// Whether a registry dataset has what the task runs on: parallel pairs
    /// for bitext, labelled texts for classification and ICL.
    pub fn runs_on(self, dataset: &miners_datasets::DatasetSpec) -> bool {
        match self {
            Task::Bitext | Task::Mining => dataset.bitext.is_some(),
            Task::Classification | Task::Icl | Task::FineTune => dataset.classification.is_some(),
        }
    }

    /// Whether the task's cells are language pairs (bitext, mining), rather
    /// than test languages with a pool (classification, ICL).
    pub fn pairs_languages(self) -> bool {
        match self {
            Task::Bitext | Task::Mining => true,
            Task::Classification | Task::Icl | Task::FineTune => false,
        }
    }

    /// Whether a generator answers (ICL), rather than the neighbours alone.
    pub fn prompts_generator(self) -> bool {
        match self {
            Task::Icl => true,
            Task::Bitext | Task::Classification | Task::Mining | Task::FineTune => false,
        }
    }

    /// Whether each k of a cell runs apart (ICL builds a prompt per k), so
    /// that a cell's records do not share one run's time.
    pub fn runs_each_k(self) -> bool {
        self.prompts_generator()
    }

    /// The smallest k a record may carry: 0 for ICL (zero-shot) and
    /// fine-tuning (no neighbours), else 1.
    pub fn min_k(self) -> usize {
        match self {
            Task::Icl | Task::FineTune => 0,
            Task::Bitext | Task::Classification | Task::Mining => 1,
        }
    }

    /// Whether the paper reports F1 whatever the dataset's headline metric
    /// (bitext); otherwise the dataset's headline decides.
    pub fn reports_f1(self) -> bool {
        match self {
            Task::Bitext | Task::Mining => true,
            Task::Classification | Task::Icl | Task::FineTune => false,
        }
    }
}

/// The evaluation setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Setting {
    /// Pool and test in the same language.
    #[serde(rename = "mono")]
    Monolingual,
    /// Across languages.
    #[serde(rename = "cross")]
    CrossLingual,
    /// Code-switched text, same language pool.
    #[serde(rename = "cs")]
    CodeSwitched,
    /// Code-switched text, pool in another language.
    #[serde(rename = "cross-cs")]
    CrossCodeSwitched,
}

impl Setting {
    /// The setting of a run, from whether it crosses languages and whether the text is code-switched.
    pub fn of(cross: bool, code_switched: bool) -> Self {
        match (cross, code_switched) {
            (false, false) => Setting::Monolingual,
            (true, false) => Setting::CrossLingual,
            (false, true) => Setting::CodeSwitched,
            (true, true) => Setting::CrossCodeSwitched,
        }
    }

    /// The short name used in records and paths.
    pub fn name(self) -> &'static str {
        match self {
            Setting::Monolingual => "mono",
            Setting::CrossLingual => "cross",
            Setting::CodeSwitched => "cs",
            Setting::CrossCodeSwitched => "cross-cs",
        }
    }
}

/// One fused model and its weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusionMemberRecord {
    /// Encoder id.
    pub id: String,
    /// Raw DistFuse weight.
    pub weight: f32,
    /// Where its files came from (`hf:<org>/<name>@<commit>`), if not a local directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The retriever that produced a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Encoder id, or `distfuse(<id>*<w>+...[,z_score][,tuned-per-<by>])` for
    /// a fusion; a scoring other
    /// than the reference's Euclidean ranking adds `~<metric>` and
    /// `~<hubness><k>` (`e5-small~cosine~margin_ratio4`), so its records
    /// never mix with the reference's.
    pub id: String,
    /// Fused members, for DistFuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<FusionMemberRecord>>,
    /// DistFuse normalisation (`none` or `z_score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<String>,
    /// A hash of the encoders' identities (weights, tokenizer, settings,
    /// precision, text preparation, prompts): records under one id but another
    /// fingerprint come from a different model. Absent in records before schema 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Where a single model's files came from (`hf:<org>/<name>@<commit>`,
    /// the commit its revision resolved to), if not a local directory; DistFuse
    /// records it per member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The hubness correction of the scores (margin or CSLS), when one is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubness: Option<miners_index::Hubness>,
    /// Where DistFuse's weights were learned, when they were
    /// (`validation split of nusax (Austronesian: ace, ban, …), simplex step
    /// 0.1, headline metric at k = 10`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned_on: Option<String>,
    /// Which languages shared the learned weights (the id says it too:
    /// `distfuse(…,tuned-per-family)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned_by: Option<TuneBy>,
}

/// Scores of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// Accuracy.
    pub accuracy: f64,
    /// Precision, averaged as `averaging` says.
    pub precision: f64,
    /// Recall, averaged as `averaging` says.
    pub recall: f64,
    /// F1, averaged as `averaging` says.
    pub f1: f64,
    /// `weighted` for bitext (over sentence indices), `macro` for classification.
    pub averaging: Average,
    /// Bitext only: fraction of queries whose gold target is in the top k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_at_k: Option<f64>,
}

/// One evaluated cell: (task, dataset, setting, model, languages, k).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The task.
    pub task: Task,
    /// Dataset name as in the registry (substitutes keep their own name).
    pub dataset: String,
    /// The original this dataset substitutes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_for: Option<String>,
    /// The setting.
    pub setting: Setting,
    /// The retriever.
    pub model: ModelRecord,
    /// Distance or similarity used for retrieval.
    pub metric: Metric,
    /// Bitext and cross-lingual runs: the query (bitext) or pool (classification) language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_lang: Option<String>,
    /// Bitext and cross-lingual runs: the candidate (bitext) or test (classification) language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_lang: Option<String>,
    /// Monolingual classification: the language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Neighbours considered.
    pub k: usize,
    /// Number of queries scored.
    pub n: usize,
    /// `--limit` in force, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The scores.
    pub metrics: MetricsRecord,
    /// Wall time: bitext and classification, the language (pair) with all its k;
    /// ICL, prompting and scoring of this k.
    pub seconds: f64,
    /// CPU time of the process over the same span (every thread), in
    /// seconds to 0.01 (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// ICL: the generator, demonstration selection and prompt template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorRecord>,
    /// Peak resident memory of the process while the cell ran, in MiB (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
    /// ICL: gold labels, predictions and prompts per example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icl: Option<IclOutputs>,
    /// Fine-tuning: the recipe and how each epoch went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<FineTuneRecord>,
    /// Bitext scored against the dataset's direction: the target sentences
    /// retrieve the sources (`source_lang` / `target_lang` then name the
    /// languages as queried). The reference's direction is the headline.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reversed: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// The training side of a fine-tuning record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneRecord {
    /// The recipe (the reference's `Trainer` arguments unless changed).
    pub recipe: miners_classify::FineTuning,
    /// Labels of the head (those the language's splits use).
    pub labels: Vec<String>,
    /// Texts trained on, and validated on (0: no validation split, the last
    /// epoch kept).
    pub train: usize,
    /// Texts validated on.
    pub valid: usize,
    /// Each epoch run: mean loss, validation accuracy, seconds.
    pub epochs: Vec<miners_classify::EpochLog>,
    /// The epoch whose weights were tested.
    pub best_epoch: Option<usize>,
}

/// The generator side of an ICL record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorRecord {
    /// Generator id.
    pub id: String,
    /// Where the generator came from (`hf:<org>/<name>@<commit>`), when from the Hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How demonstrations were chosen.
    pub selection: Selection,
    /// The prompt template.
    pub prompt: Prompt,
    /// How the answer was read (records before it was recorded: log-probability).
    #[serde(default)]
    pub scoring: Scoring,
}

/// Per-example outputs of an ICL cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IclOutputs {
    /// Gold labels, in test order.
    pub gold: Vec<String>,
    /// Predicted labels.
    pub predictions: Vec<String>,
    /// The full prompts.
    pub prompts: Vec<String>,
    /// Demonstrations dropped (farthest first) to fit the context window, per example.
    pub dropped_demonstrations: Vec<usize>,
    /// Prompt tokens scored (labels excluded).
    pub prompt_tokens: usize,
    /// Generation scoring: what the model generated for each example (the
    /// prompt after the chat template is in `prompts`' place otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations: Option<Vec<Generation>>,
}

/// What identifies a cell's records, all but k: where they live and whether
/// a rerun can skip the cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// The task.
    pub task: Task,
    /// Dataset name.
    pub dataset: String,
    /// ICL: `<generator>[+balanced|+pMIN-MAX][+generate]`.
    pub generator: Option<String>,
    /// Retriever id.
    pub model: String,
    /// The setting.
    pub setting: Setting,
    /// `<source>-<target>` or the language.
    pub cell: String,
}

impl CellKey {
    /// `<out>/<task>/<dataset>[/<generator>]/<model>/<setting>/<cell>.k<k>.json`.
    pub fn path(&self, out: &Path, k: usize) -> PathBuf {
        let mut dir = out.join(self.task.name()).join(&self.dataset);
        if let Some(generator) = &self.generator {
            dir = dir.join(slug(generator));
        }
        dir.join(slug(&self.model))
            .join(self.setting.name())
            .join(format!("{}.k{k}.json", slug(&self.cell)))
    }

    /// The ICL generator directory name for `id`, `selection` and `scoring`
    /// (`+generate` for generation scoring).
    pub fn generator_dir(id: &str, selection: &Selection, scoring: &Scoring) -> String {
        let scoring = match scoring {
            Scoring::LogProb => "",
            Scoring::Generate { .. } => "+generate",
        };
        format!("{id}{}{scoring}", selection_suffix(selection))
    }
}

impl ResultRecord {
    /// The cell's name within its setting: `source-target` or the language.
    pub fn cell(&self) -> String {
        match (&self.source_lang, &self.target_lang, &self.lang) {
            (Some(s), Some(t), _) => format!("{s}-{t}"),
            (_, _, Some(l)) => l.clone(),
            _ => "all".into(),
        }
    }

    /// The cell this record belongs to.
    pub fn key(&self) -> CellKey {
        CellKey {
            task: self.task,
            dataset: self.dataset.clone(),
            generator: self
                .generator
                .as_ref()
                .map(|g| CellKey::generator_dir(&g.id, &g.selection, &g.scoring)),
            model: self.model.id.clone(),
            setting: self.setting,
            cell: self.cell(),
        }
    }

    /// The record with what the machine measured (wall and CPU seconds,
    /// peak memory) zeroed: two runs of one cell on any machines, sharded or
    /// not, agree on this.
    pub fn without_clocks(&self) -> Self {
        Self {
            seconds: 0.0,
            cpu_seconds: None,
            peak_rss_mib: None,
            ..self.clone()
        }
    }

    /// Where the record lives under `out` ([`CellKey::path`]).
    pub fn path(&self, out: &Path) -> PathBuf {
        self.key().path(out, self.k)
    }

    /// Checks that `path` is where this record belongs under the result
    /// directory `root`: a record's path must agree with its content (task,
    /// dataset, generator, model, setting, cell, k), so that a copy under
    /// another name or folder is refused by name, not averaged twice.
    pub fn check_path(&self, root: &Path, path: &Path) -> Result<(), String> {
        agree(root, path, &self.path(root))
    }

    /// Reads a record file and [checks](ResultRecord::check) it.
    pub fn read(path: &Path) -> Result<Self, String> {
        Self::parse(&std::fs::read(path).map_err(|e| e.to_string())?)
    }

    /// Parses a record file's bytes and [checks](ResultRecord::check) the record.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let record: ResultRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        record.check()?;
        Ok(record)
    }

    /// What parsing cannot check: a known schema (1 to [`SCHEMA_VERSION`]),
    /// n of at least 1, k of at least 1 (0 for zero-shot ICL), plain names
    /// ([`miners_core::is_plain_name`]) for the dataset and languages, and
    /// every score a number in [0, 1].
    pub fn check(&self) -> Result<(), String> {
        if !(1..=SCHEMA_VERSION).contains(&self.schema) {
            return Err(format!(
                "schema {} is not one this version reads (1 to {SCHEMA_VERSION})",
                self.schema
            ));
        }
        if self.k < self.task.min_k() || self.n == 0 {
            return Err(format!(
                "k = {} and n = {} must be at least 1",
                self.k, self.n
            ));
        }
        let names = [
            ("dataset", Some(&self.dataset)),
            ("substitute_for", self.substitute_for.as_ref()),
            ("lang", self.lang.as_ref()),
            ("source_lang", self.source_lang.as_ref()),
            ("target_lang", self.target_lang.as_ref()),
        ];
        for (field, value) in names {
            if let Some(value) = value.filter(|v| !miners_core::is_plain_name(v)) {
                return Err(format!(
                    "{field} `{value}` is not a plain name (letters, digits, `-_.+`, no leading `.`); \
                     reports build file names from it"
                ));
            }
        }
        let m = &self.metrics;
        let scores = [
            ("accuracy", Some(m.accuracy)),
            ("precision", Some(m.precision)),
            ("recall", Some(m.recall)),
            ("f1", Some(m.f1)),
            ("recall_at_k", m.recall_at_k),
        ];
        for (name, value) in scores {
            if let Some(value) = value.filter(|v| !(0.0..=1.0).contains(v)) {
                return Err(format!("metrics.{name} = {value} is outside [0, 1]"));
            }
        }
        Ok(())
    }

    /// Writes the record atomically (temporary file, then rename) and returns
    /// its path; refuses a record that fails [`ResultRecord::check`], and to
    /// replace the record of another cell whose ids share this one's folder
    /// names ([`slug`]).
    pub fn write(&self, out: &Path) -> Result<PathBuf, EvalError> {
        let path = self.path(out);
        // Never write what a reader would refuse.
        self.check()
            .map_err(|message| EvalError::Config(format!("{}: {message}", path.display())))?;
        // Whatever parses is some cell's record, checked or not.
        let there = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<ResultRecord>(&bytes).ok());
        if let Some(there) = there.filter(|there| there.key() != self.key()) {
            return Err(folders_collide(&path, &there.key(), &self.key()));
        }
        let io = |source| EvalError::Io {
            path: path.clone(),
            source,
        };
        let dir = path.parent().unwrap_or(out);
        std::fs::create_dir_all(dir).map_err(io)?;
        miners_core::atomic_write(&path, &self.file_bytes()).map_err(io)?;
        Ok(path)
    }

    /// The record as its file holds it: pretty JSON and a newline.
    pub fn file_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("records serialise");
        bytes.push(b'\n');
        bytes
    }
}

/// That `path` is `expected`, else why not (both relative to `root`).
pub(crate) fn agree(root: &Path, path: &Path, expected: &Path) -> Result<(), String> {
    if path == expected {
        return Ok(());
    }
    let relative = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    Err(format!(
        "its content belongs at {}, not {}: a result's path must agree with what it holds",
        relative(expected),
        relative(path)
    ))
}

/// The error of two cells whose ids map to one record file.
fn folders_collide(path: &Path, there: &CellKey, new: &CellKey) -> EvalError {
    let name = |key: &CellKey| {
        let generator = key
            .generator
            .as_deref()
            .map(|g| format!("{g} / "))
            .unwrap_or_default();
        format!("{generator}{} / {}", key.model, key.cell)
    };
    EvalError::Config(format!(
        "{}: holds the results of `{}`, and `{}` maps to the same file; give one of them another id",
        path.display(),
        name(there),
        name(new)
    ))
}

/// `+balanced`, `+p<min>-<max>` or nothing for the default nearest-first selection.
fn selection_suffix(selection: &Selection) -> String {
    match selection {
        Selection::Nearest => String::new(),
        Selection::Balanced => "+balanced".into(),
        Selection::Percentile { min, max } => format!("+p{min}-{max}"),
    }
}

/// A file-name-safe version of an id: ASCII letters, digits and `-_.+` kept,
/// anything else `_`; a name of dots alone (`.`, `..`) or nothing becomes
/// underscores. Several ids can share one (`a/b` and `a_b`): the writers
/// refuse to put one id's results where another's are
/// ([`ResultRecord::write`], [`crate::mining::MiningResult::write`]).
pub fn slug(id: &str) -> String {
    let slug: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Never the current or the parent folder, nor nothing.
    match slug.chars().all(|c| c == '.') {
        true => "_".repeat(slug.len().max(1)),
        false => slug,
    }
}

/// One fingerprint per task and model id, the rule tables and merges share:
/// records under one id made by different models must not be averaged.
#[derive(Debug)]
pub struct FingerprintLedger<O> {
    first: std::collections::HashMap<(Task, String), (Option<String>, O)>,
}

impl<O> Default for FingerprintLedger<O> {
    fn default() -> Self {
        Self {
            first: std::collections::HashMap::new(),
        }
    }
}

impl<O> FingerprintLedger<O> {
    /// Notes `record`, found at `origin`; if its task and id were first seen
    /// with another fingerprint, the origin of that first record.
    pub fn admit(&mut self, record: &ResultRecord, origin: O) -> Result<(), &O> {
        let (fingerprint, first) = self
            .first
            .entry((record.task, record.model.id.clone()))
            .or_insert_with(|| (record.model.fingerprint.clone(), origin));
        match *fingerprint == record.model.fingerprint {
            true => Ok(()),
            false => Err(first),
        }
    }
}
