//! `miners sweep`: every configured model on every dataset and setting, from
//! a TOML spec; resumable, shardable, in one process.
//!
//! The spec expands into jobs (task × dataset × retriever × setting, plus the
//! generator for ICL), in a fixed order. Shard `i/N` runs the jobs whose index
//! is `i` modulo `N`. Inside a job every cell (language or language pair) is
//! skipped when its records exist, and a finished job leaves a marker under
//! `<out>/.sweep/` so a rerun skips it without loading anything.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use miners_classify::Vote;
use miners_core::{Lang, Metric};
use miners_datasets::{DataDir, Dataset, DatasetError, registry};
use miners_encoders::Encoder;
use miners_eval::{
    ClassificationRun, EmbeddingCache, IclRun, Retriever, RunOptions, run_bitext,
    run_classification, run_icl,
};
use miners_fusion::Normalization;
use miners_icl::{Generator, Prompt, Selection, default_instruction};
use serde::{Deserialize, Serialize};

use crate::{encoders, generators, progress, summary::Writer};

/// A sweep specification (`sweep.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Encoder ids (catalog entries or directories), each a retriever of its own.
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
    /// Keep only the first N items of each split read (smoke sweeps).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A DistFuse ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// Member encoder ids.
    pub members: Vec<String>,
    /// One raw weight per member.
    pub weights: Vec<f32>,
    /// Distance normalisation before weighting.
    #[serde(default)]
    pub z_score: bool,
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
    pub settings: Vec<String>,
    /// Neighbour counts.
    #[serde(default = "paper_ks")]
    pub ks: Vec<usize>,
}

/// The ICL part of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IclSpec {
    /// Dataset names (classification datasets).
    pub datasets: Vec<String>,
    /// Generator ids (`[[generator]]` catalog entries or directories).
    pub generators: Vec<String>,
    /// The encoder that retrieves demonstrations.
    pub retriever: String,
    /// `mono` and/or `cross`.
    #[serde(default = "mono_only")]
    pub settings: Vec<String>,
    /// Numbers of demonstrations (0 = zero-shot).
    #[serde(default = "zero_and_one")]
    pub ks: Vec<usize>,
    /// Test examples scored per language (the pool stays whole).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Per dataset, the test languages (default: all).
    #[serde(default)]
    pub langs: HashMap<String, Vec<String>>,
}

fn mono_and_cross() -> Vec<String> {
    vec!["mono".into(), "cross".into()]
}

fn mono_only() -> Vec<String> {
    vec!["mono".into()]
}

fn paper_ks() -> Vec<usize> {
    vec![1, 5, 10]
}

fn zero_and_one() -> Vec<usize> {
    vec![0, 1]
}

impl SweepSpec {
    /// Reads and checks a TOML spec.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let spec: Self = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        for ensemble in &spec.ensembles {
            if ensemble.members.len() != ensemble.weights.len() || ensemble.members.is_empty() {
                bail!(
                    "{}: ensemble {:?} needs one weight per member",
                    path.display(),
                    ensemble.members
                );
            }
        }
        Ok(spec)
    }
}

/// Which retriever a job uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RetrieverSpec {
    /// One encoder.
    Single {
        /// Encoder id.
        id: String,
    },
    /// DistFuse.
    Ensemble(EnsembleSpec),
}

impl RetrieverSpec {
    fn label(&self) -> String {
        match self {
            Self::Single { id } => id.clone(),
            Self::Ensemble(e) => format!("distfuse({})", e.members.join("+")),
        }
    }
}

/// One unit of work: a task on one dataset with one retriever in one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// `bitext`, `classification` or `icl`.
    pub task: String,
    /// Dataset name.
    pub dataset: String,
    /// The retriever.
    pub retriever: RetrieverSpec,
    /// `mono` or `cross` (bitext: `cross`).
    pub setting: String,
    /// ICL: the generator.
    pub generator: Option<String>,
    /// k values.
    pub ks: Vec<usize>,
    /// Item limit.
    pub limit: Option<usize>,
    /// Test languages (empty: all).
    pub langs: Vec<String>,
}

impl Job {
    /// A stable, file-name-safe name.
    pub fn name(&self) -> String {
        let generator = self
            .generator
            .as_ref()
            .map(|g| format!("{g}+"))
            .unwrap_or_default();
        let raw = format!(
            "{}.{}.{generator}{}.{}",
            self.task,
            self.dataset,
            self.retriever.label(),
            self.setting
        );
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// The jobs of `spec`, in order: bitext, classification (datasets in registry
/// order, then retrievers and settings in spec order), ICL (generators, then
/// datasets, then settings).
pub fn jobs(spec: &SweepSpec, data: &DataDir) -> Result<Vec<Job>> {
    let retrievers: Vec<RetrieverSpec> = spec
        .encoders
        .iter()
        .map(|id| RetrieverSpec::Single { id: id.clone() })
        .chain(spec.ensembles.iter().cloned().map(RetrieverSpec::Ensemble))
        .collect();
    let mut jobs = Vec::new();
    if let Some(task) = &spec.bitext {
        for dataset in present(data, &task.datasets, |d| d.bitext.is_some())? {
            for retriever in &retrievers {
                jobs.push(Job {
                    task: "bitext".into(),
                    dataset: dataset.clone(),
                    retriever: retriever.clone(),
                    setting: "cross".into(),
                    generator: None,
                    ks: task.ks.clone(),
                    limit: spec.limit,
                    langs: Vec::new(),
                });
            }
        }
    }
    if let Some(task) = &spec.classification {
        for dataset in present(data, &task.datasets, |d| d.classification.is_some())? {
            for retriever in &retrievers {
                for setting in settings_of(&dataset, &task.settings)? {
                    jobs.push(Job {
                        task: "classification".into(),
                        dataset: dataset.clone(),
                        retriever: retriever.clone(),
                        setting,
                        generator: None,
                        ks: task.ks.clone(),
                        limit: spec.limit,
                        langs: Vec::new(),
                    });
                }
            }
        }
    }
    if let Some(icl) = &spec.icl {
        let datasets = present(data, &icl.datasets, |d| d.classification.is_some())?;
        // Generator-major, so each generator is loaded once.
        for generator in &icl.generators {
            for dataset in &datasets {
                for setting in settings_of(dataset, &icl.settings)? {
                    jobs.push(Job {
                        task: "icl".into(),
                        dataset: dataset.clone(),
                        retriever: RetrieverSpec::Single {
                            id: icl.retriever.clone(),
                        },
                        setting,
                        generator: Some(generator.clone()),
                        ks: icl.ks.clone(),
                        limit: icl.limit.or(spec.limit),
                        langs: icl.langs.get(dataset).cloned().unwrap_or_default(),
                    });
                }
            }
        }
    }
    Ok(jobs)
}

/// Datasets of a task, in registry order: the listed ones (all must exist),
/// or every present one when the list is empty.
fn present(
    data: &DataDir,
    wanted: &[String],
    has_task: impl Fn(&miners_datasets::DatasetSpec) -> bool,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for spec in registry().iter().filter(|s| has_task(s)) {
        let listed = wanted.iter().any(|w| w == spec.name);
        if !wanted.is_empty() && !listed {
            continue;
        }
        match Dataset::open(data, spec.name) {
            Ok(_) => names.push(spec.name.to_owned()),
            Err(error @ DatasetError::Missing { .. }) if !listed => {
                eprintln!("sweep: skipping {}: {error}", spec.name)
            }
            Err(error) => return Err(error.into()),
        }
    }
    for name in wanted {
        if !names.contains(name) {
            bail!("sweep spec: dataset `{name}` has no such task or is not in the registry");
        }
    }
    Ok(names)
}

/// The settings a dataset supports among `wanted` (cross needs a source language).
fn settings_of(dataset: &str, wanted: &[String]) -> Result<Vec<String>> {
    let spec = miners_datasets::DatasetSpec::find(dataset)?;
    let crossable = spec
        .classification
        .is_some_and(|p| p.cross_source.is_some());
    let mut settings = Vec::new();
    for setting in wanted {
        match setting.as_str() {
            "mono" => settings.push(setting.clone()),
            "cross" if crossable => settings.push(setting.clone()),
            "cross" => {}
            other => bail!("sweep spec: unknown setting `{other}` (mono, cross)"),
        }
    }
    Ok(settings)
}

/// `i/N`, from `--shard` or Slurm's job-array variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Parses `i/N`.
    pub fn parse(text: &str) -> Result<Self> {
        let (i, n) = text
            .split_once('/')
            .with_context(|| format!("--shard {text}: expected i/N"))?;
        let index: usize = i
            .trim()
            .parse()
            .with_context(|| format!("--shard {text}"))?;
        let count: usize = n
            .trim()
            .parse()
            .with_context(|| format!("--shard {text}"))?;
        if count == 0 || index >= count {
            bail!("--shard {text}: need 0 <= i < N");
        }
        Ok(Self { index, count })
    }

    /// `SLURM_ARRAY_TASK_ID` / `SLURM_ARRAY_TASK_COUNT` (0-based task ids,
    /// as with `--array=0-(N-1)`), when both are set.
    pub fn from_slurm() -> Result<Option<Self>> {
        let (Ok(id), Ok(count)) = (
            std::env::var("SLURM_ARRAY_TASK_ID"),
            std::env::var("SLURM_ARRAY_TASK_COUNT"),
        ) else {
            return Ok(None);
        };
        let min: usize = std::env::var("SLURM_ARRAY_TASK_MIN")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let id: usize = id.parse().context("SLURM_ARRAY_TASK_ID")?;
        Self::parse(&format!("{}/{count}", id.saturating_sub(min))).map(Some)
    }

    /// Whether job `index` belongs to this shard.
    pub fn owns(&self, index: usize) -> bool {
        index % self.count == self.index
    }
}

/// Where and how to run.
pub struct SweepOptions {
    /// Result directory (shared by shards).
    pub out: PathBuf,
    /// Embedding cache directory.
    pub cache: Option<PathBuf>,
    /// Data directory.
    pub data: DataDir,
    /// Model catalog.
    pub catalog: Option<PathBuf>,
    /// Device for transformer models.
    pub device: String,
    /// Redo finished jobs and cells.
    pub force: bool,
    /// This process's shard.
    pub shard: Option<Shard>,
}

/// Runs the jobs of `spec` that belong to this shard.
pub fn run(spec: &SweepSpec, options: &SweepOptions) -> Result<()> {
    let all = jobs(spec, &options.data)?;
    let mine: Vec<&Job> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| options.shard.is_none_or(|s| s.owns(*i)))
        .map(|(_, j)| j)
        .collect();
    let markers = options.out.join(".sweep");
    std::fs::create_dir_all(&markers).with_context(|| markers.display().to_string())?;
    let started = Instant::now();
    let bar = progress::sweep_bar(mine.len());
    let mut opened = Opened::new(options);
    let (mut done, mut skipped, mut cells_skipped, mut failed) = (0, 0, 0, Vec::new());
    for job in mine {
        bar.set_message(job.name());
        let marker = markers.join(format!("{}.done", job.name()));
        let signature = serde_json::to_string(job)?;
        if !options.force && std::fs::read_to_string(&marker).is_ok_and(|s| s == signature) {
            skipped += 1;
            bar.inc(1);
            continue;
        }
        let job_started = Instant::now();
        match run_job(job, &mut opened, options) {
            Ok(cells) => {
                cells_skipped += cells;
                write_atomically(&marker, signature.as_bytes())?;
                done += 1;
                if bar.is_hidden() {
                    // Logs (Slurm, nohup) get a line per job instead of the bar.
                    eprintln!(
                        "sweep: [{}/{}] {} done in {:.1} s ({:.0} s elapsed)",
                        bar.position() + 1,
                        bar.length().unwrap_or(0),
                        job.name(),
                        job_started.elapsed().as_secs_f64(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            Err(error) => {
                bar.suspend(|| eprintln!("sweep: {} failed: {error:#}", job.name()));
                failed.push(job.name());
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "sweep: {done} jobs run ({cells_skipped} of their cells already done), \
         {skipped} jobs already done, {} failed, in {:.1} s",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("{} jobs failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Encoders and generators opened so far, shared across jobs.
struct Opened<'a> {
    options: &'a SweepOptions,
    encoders: HashMap<String, Arc<dyn Encoder>>,
    generators: HashMap<String, (Box<dyn Generator>, bool)>,
}

impl<'a> Opened<'a> {
    fn new(options: &'a SweepOptions) -> Self {
        Self {
            options,
            encoders: HashMap::new(),
            generators: HashMap::new(),
        }
    }

    fn encoder(&mut self, id: &str) -> Result<Arc<dyn Encoder>> {
        if let Some(encoder) = self.encoders.get(id) {
            return Ok(encoder.clone());
        }
        let options = encoders::ModelOptions {
            catalog: self.options.catalog.clone(),
            device: self.options.device.clone(),
            dtype: None,
        };
        let encoder = encoders::open_all(&[id.to_owned()], &options)?
            .pop()
            .expect("one encoder");
        self.encoders.insert(id.to_owned(), encoder.clone());
        Ok(encoder)
    }

    fn retriever(&mut self, spec: &RetrieverSpec) -> Result<Retriever> {
        let retriever = match spec {
            RetrieverSpec::Single { id } => Retriever::single(self.encoder(id)?, Metric::Euclidean),
            RetrieverSpec::Ensemble(e) => {
                let members = e
                    .members
                    .iter()
                    .map(|m| self.encoder(m))
                    .collect::<Result<Vec<_>>>()?;
                let normalization = match e.z_score {
                    true => Normalization::ZScore,
                    false => Normalization::None,
                };
                Retriever::distfuse(members, e.weights.clone(), normalization)?
            }
        };
        Ok(match &self.options.cache {
            Some(dir) => retriever.with_cache(Arc::new(EmbeddingCache::new(dir))),
            None => retriever,
        })
    }

    fn generator(&mut self, id: &str) -> Result<(&dyn Generator, bool)> {
        if !self.generators.contains_key(id) {
            let spec = generators::resolve(id, self.options.catalog.as_deref())?;
            let generator = generators::open(&spec, &self.options.device)?;
            // One generator in memory at a time.
            self.generators.clear();
            self.generators
                .insert(id.to_owned(), (generator, spec.instruct));
        }
        let (generator, instruct) = &self.generators[id];
        Ok((generator.as_ref(), *instruct))
    }
}

/// Runs one job; returns how many of its cells were already done.
fn run_job(job: &Job, opened: &mut Opened<'_>, options: &SweepOptions) -> Result<usize> {
    let dataset = Dataset::open(&options.data, &job.dataset)?;
    let retriever = opened.retriever(&job.retriever)?;
    let mut sink = Writer::new(&options.out).resuming(!options.force);
    let bars = progress::Bars::default();
    let run_options = RunOptions {
        ks: job.ks.clone(),
        limit: job.limit,
    };
    let cross_source = match job.setting.as_str() {
        "cross" if job.task != "bitext" => {
            let plan = dataset
                .spec()
                .classification
                .context("classification plan")?;
            Some(Lang::from(
                plan.cross_source.context("a cross-lingual source")?,
            ))
        }
        _ => None,
    };
    let langs: Vec<Lang> = job.langs.iter().map(|l| Lang::from(l.as_str())).collect();
    match job.task.as_str() {
        "bitext" => run_bitext(&dataset, &retriever, &[], &run_options, &bars, &mut sink)?,
        "classification" => {
            let run = ClassificationRun {
                langs,
                cross_source,
                vote: Vote::Majority,
            };
            run_classification(&dataset, &retriever, &run, &run_options, &bars, &mut sink)?
        }
        "icl" => {
            let generator_id = job
                .generator
                .as_deref()
                .context("an ICL job names a generator")?;
            let (generator, instruct) = opened.generator(generator_id)?;
            let instruction = default_instruction(&job.dataset)
                .with_context(|| format!("no ICL instruction for {}", job.dataset))?;
            let run = IclRun {
                langs,
                cross_source,
                selection: Selection::Nearest,
                prompt: Prompt::new(instruction).with_options(instruct),
                ks: job.ks.clone(),
                limit: job.limit,
            };
            run_icl(&dataset, &retriever, generator, &run, &bars, &mut sink)?
        }
        other => bail!("unknown task `{other}`"),
    }
    Ok(sink.skipped())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("marker paths have a parent")?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.persist(path)?;
    Ok(())
}

/// Copies the records (and job markers) of `sources` into `into`; a record
/// present in both must have the same metrics.
pub fn merge(into: &Path, sources: &[PathBuf]) -> Result<(usize, usize)> {
    let (mut copied, mut same) = (0, 0);
    for source in sources {
        for file in files(source)? {
            let relative = file.strip_prefix(source).expect("walked from source");
            let target = into.join(relative);
            let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
            if target.is_file() {
                let existing = std::fs::read(&target)?;
                if relative.starts_with(".sweep") || same_metrics(&existing, &bytes) {
                    same += 1;
                    continue;
                }
                bail!(
                    "{} and {} disagree on the metrics of the same cell",
                    file.display(),
                    target.display()
                );
            }
            std::fs::create_dir_all(target.parent().expect("files have a parent"))?;
            write_atomically(&target, &bytes)?;
            copied += 1;
        }
    }
    Ok((copied, same))
}

fn same_metrics(a: &[u8], b: &[u8]) -> bool {
    let parse = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a["metrics"] == b["metrics"])
}

/// Every JSON file under `dir`, recursively, in sorted order.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json" || e == "done") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
