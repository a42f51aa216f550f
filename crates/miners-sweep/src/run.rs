//! Running a sweep's jobs: resumable, one shard at a time, progress through a trait.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use miners_classify::Vote;
use miners_core::Lang;
use miners_datasets::{DataDir, Dataset, Pair};
use miners_eval::{
    ClassificationRun, IclRun, Progress, Quiet, ResultsDir, Retriever, RunOptions, Task,
    run_bitext, run_classification, run_icl,
};
use miners_icl::{Prompt, Selection};
use miners_models::Models;

use crate::{
    CellRef, Job, Shard, ShardPlan, SweepError, SweepSpec, jobs,
    marker::JobMarker,
    open::{Opened, cross_source, not_classification},
    plan,
};

/// Where and how to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Result directory (shared by shards).
    pub out: PathBuf,
    /// Embedding cache directory.
    pub cache: Option<PathBuf>,
    /// Data directory.
    pub data: DataDir,
    /// Redo finished jobs and cells.
    pub force: bool,
    /// This process's shard (all jobs when `None`).
    pub shard: Option<Shard>,
}

impl SweepOptions {
    /// Everything, into `out`, from `data`, without a cache.
    pub fn new(out: &Path, data: DataDir) -> Self {
        Self {
            out: out.to_owned(),
            cache: None,
            data,
            force: false,
            shard: None,
        }
    }
}

/// Hears how a sweep goes; every method does nothing by default.
pub trait SweepProgress: Sync {
    /// The sweep starts with `jobs` jobs for this shard.
    fn start(&self, _jobs: usize) {}
    /// A job starts.
    fn job_started(&self, _job: &Job) {}
    /// A job was already done and is skipped.
    fn job_skipped(&self, _job: &Job) {}
    /// A job finished in `seconds`.
    fn job_finished(&self, _job: &Job, _seconds: f64) {}
    /// A job failed; the sweep goes on with the next.
    fn job_failed(&self, _job: &Job, _error: &SweepError) {}
    /// Where encoding and scoring steps report their progress.
    fn steps(&self) -> &dyn Progress {
        &Quiet
    }
}

/// Progress that is not shown.
impl SweepProgress for Quiet {}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepSummary {
    /// Jobs run.
    pub run: usize,
    /// Cells of those jobs that were already done.
    pub cells_skipped: usize,
    /// Jobs already done.
    pub skipped: usize,
    /// Names of the jobs that failed.
    pub failed: Vec<String>,
    /// Wall time.
    pub seconds: f64,
}

/// Runs the jobs of `spec` (with a shard, the cells the shard plan gives it),
/// opening models through `models`; a failed job is reported and the sweep
/// goes on.
pub fn run(
    spec: &SweepSpec,
    models: &Models,
    options: &SweepOptions,
    progress: &dyn SweepProgress,
) -> Result<SweepSummary, SweepError> {
    let all = jobs(spec, &options.data)?;
    let markers = options.out.join(".sweep");
    std::fs::create_dir_all(&markers).map_err(|source| SweepError::io(&markers, source))?;
    // Writers killed mid-write (kill -9, a lost node) leave temporaries behind.
    for dir in std::iter::once(&options.out).chain(&options.cache) {
        miners_core::remove_stale_temporaries(dir).map_err(|source| SweepError::io(dir, source))?;
    }
    let started = Instant::now();
    let mut opened = Opened::new(models, options.cache.as_deref());
    let work: Vec<(&Job, Option<Vec<CellRef>>)> = match options.shard {
        None => all.iter().map(|job| (job, None)).collect(),
        Some(shard) => frozen_plan(&all, shard.count, options, &mut opened)?
            .work(shard.index)
            .into_iter()
            .map(|(job, cells)| (&all[job], Some(cells)))
            .collect(),
    };
    let mut summary = SweepSummary::default();
    progress.start(work.len());
    for (job, cells) in work {
        let cells = cells.as_deref();
        let outcome = opened.retriever(job).and_then(|retriever| {
            let fingerprint = retriever.record().fingerprint;
            let marker = JobMarker::path(&options.out, job, cells);
            if !options.force && JobMarker::is_current(&marker, job, cells, fingerprint.as_deref())
            {
                return Ok(None);
            }
            progress.job_started(job);
            let job_started = Instant::now();
            let sink = run_job(
                job,
                cells,
                &retriever,
                &mut opened,
                options,
                progress.steps(),
            )?;
            JobMarker::write(
                &marker,
                &options.out,
                job,
                cells,
                fingerprint,
                &sink.files(),
            )?;
            Ok(Some((sink.skipped(), job_started.elapsed().as_secs_f64())))
        });
        match outcome {
            Ok(None) => {
                summary.skipped += 1;
                progress.job_skipped(job);
            }
            Ok(Some((cells_skipped, seconds))) => {
                summary.run += 1;
                summary.cells_skipped += cells_skipped;
                progress.job_finished(job, seconds);
            }
            Err(error) => {
                progress.job_failed(job, &error);
                summary.failed.push(job.name());
            }
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The plan that `shards` shards of `spec` follow, with the sweep's jobs: the
/// one frozen in `options.out` if a shard already made it, else the one a
/// shard starting now would make (without freezing it).
pub fn shard_plan(
    spec: &SweepSpec,
    models: &Models,
    options: &SweepOptions,
    shards: usize,
) -> Result<(Vec<Job>, ShardPlan), SweepError> {
    let all = jobs(spec, &options.data)?;
    let cells = plan::cells(&all, &options.data)?;
    let plan = match ShardPlan::read_frozen(&options.out, &cells, shards)? {
        Some(plan) => plan,
        None => {
            let mut opened = Opened::new(models, options.cache.as_deref());
            plan::plan(&all, cells, shards, &mut opened, &options.data)?
        }
    };
    Ok((all, plan))
}

/// The plan frozen in the result directory, else a new one, frozen there
/// unless another shard froze one first.
fn frozen_plan(
    all: &[Job],
    shards: usize,
    options: &SweepOptions,
    opened: &mut Opened<'_>,
) -> Result<ShardPlan, SweepError> {
    let cells = plan::cells(all, &options.data)?;
    if let Some(plan) = ShardPlan::read_frozen(&options.out, &cells, shards)? {
        return Ok(plan);
    }
    plan::plan(all, cells, shards, opened, &options.data)?.freeze(&options.out)
}

/// Runs one job (only `cells`, when given) with `retriever`; returns the
/// sink, which knows the job's record files and how many cells were already done.
fn run_job(
    job: &Job,
    cells: Option<&[CellRef]>,
    retriever: &Retriever,
    opened: &mut Opened<'_>,
    options: &SweepOptions,
    progress: &dyn Progress,
) -> Result<ResultsDir, SweepError> {
    let dataset = Dataset::open(&options.data, &job.dataset)?;
    let mut sink = ResultsDir::new(&options.out).resuming(!options.force);
    let cross_source = cross_source(job, &dataset)?;
    let langs: Vec<Lang> = match cells {
        Some(cells) => cells.iter().filter_map(CellRef::lang).collect(),
        None => job.langs.iter().map(|l| Lang::from(l.as_str())).collect(),
    };
    let pairs: Vec<Pair> = cells
        .unwrap_or_default()
        .iter()
        .filter_map(CellRef::pair)
        .collect();
    let run_options = RunOptions {
        ks: job.ks.clone(),
        limit: job.limit,
        both_directions: job.both_directions,
    };
    match job.task {
        Task::Bitext => run_bitext(
            &dataset,
            retriever,
            &pairs,
            &run_options,
            progress,
            &mut sink,
        )?,
        Task::Classification => {
            let groups = match job.retriever.tuning() {
                Some(by) => {
                    // The job's languages, not this shard's cells: every shard
                    // learns the same weights.
                    let job_langs: Vec<Lang> =
                        job.langs.iter().map(|l| Lang::from(l.as_str())).collect();
                    let k = job.ks.iter().copied().max().unwrap_or(10);
                    miners_eval::tune::tuned_retrievers(
                        &dataset, retriever, &job_langs, k, by, progress,
                    )?
                    .into_iter()
                    .map(|group| (group.retriever, Some(group.langs)))
                    .collect()
                }
                None => vec![(retriever.clone(), None)],
            };
            for (retriever, group) in groups {
                // A group runs the languages of this shard it has (all of
                // them without a shard); an empty list would mean all.
                let tuned = group.is_some();
                let langs: Vec<Lang> = match (group, cells) {
                    (None, _) => langs.clone(),
                    (Some(group), None) => group,
                    (Some(group), Some(_)) => langs
                        .iter()
                        .filter(|l| group.contains(l))
                        .cloned()
                        .collect(),
                };
                if tuned && langs.is_empty() {
                    continue;
                }
                let run = ClassificationRun {
                    langs,
                    cross_source: cross_source.clone(),
                    vote: Vote::Majority,
                };
                run_classification(
                    &dataset,
                    &retriever,
                    &run,
                    &run_options,
                    progress,
                    &mut sink,
                )?
            }
        }
        Task::Mining => {
            // A finished job is skipped by its marker, which checks the
            // retriever's fingerprint; mining results carry none, so a job
            // that runs mines every pair again.
            let pairs = match cells {
                Some(_) => pairs,
                None => dataset.bitext_pairs()?,
            };
            for pair in &pairs {
                let mined = miners_eval::mining::run_mining(
                    &dataset, retriever, pair, job.seed, job.limit, progress,
                )?;
                sink.accept_mining(&mined)?;
            }
        }
        Task::Icl => {
            let reference = job.generator.as_deref().ok_or_else(|| SweepError::Spec {
                origin: job.name(),
                message: "an ICL job names a generator".into(),
            })?;
            let (generator, entry) = opened.generator(reference)?;
            let scoring = entry.run_scoring(job.scoring, job.seed, job.greedy);
            let plan = dataset
                .spec()
                .classification
                .ok_or_else(|| not_classification(job))?;
            let run = IclRun {
                langs,
                cross_source,
                selection: Selection::Nearest,
                prompt: Prompt::new(plan.instruction).with_options(job.options),
                scoring,
                ks: job.ks.clone(),
                limit: job.limit,
            };
            run_icl(&dataset, retriever, generator, &run, progress, &mut sink)?
        }
    }
    Ok(sink)
}
