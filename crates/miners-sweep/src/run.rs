//! Running a sweep's jobs: resumable, one shard at a time, progress through a trait.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use miners_datasets::DataDir;
use miners_eval::{Progress, Quiet, ResultsDir};
use miners_models::Models;
use miners_run::Session;

use crate::{CellRef, Job, Shard, ShardPlan, SweepError, SweepSpec, jobs, marker::JobMarker, plan};

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
    let mut session = Session::new(models, options.cache.as_deref());
    let work: Vec<(&Job, Option<Vec<CellRef>>)> = match options.shard {
        None => all.iter().map(|job| (job, None)).collect(),
        Some(shard) => frozen_plan(&all, shard.count, options, &mut session)?
            .work(shard.index)
            .into_iter()
            .map(|(job, cells)| (&all[job], Some(cells)))
            .collect(),
    };
    let mut summary = SweepSummary::default();
    progress.start(work.len());
    for (job, cells) in work {
        if progress.steps().cancelled() {
            return Err(miners_eval::EvalError::Cancelled.into());
        }
        let cells = cells.as_deref();
        let outcome = open_retriever(job, &mut session).and_then(|retriever| {
            let fingerprint = retriever.record().fingerprint;
            let marker = JobMarker::path(&options.out, job, cells);
            if !options.force && JobMarker::is_current(&marker, job, cells, fingerprint.as_deref())
            {
                return Ok(None);
            }
            progress.job_started(job);
            let job_started = Instant::now();
            let sink = run_job(job, cells, &mut session, options, progress.steps())?;
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
            // A stopped job did not fail: the sweep stops, resumable.
            Err(_) if progress.steps().cancelled() => {
                return Err(miners_eval::EvalError::Cancelled.into());
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

/// The retriever of `job`, whose fingerprint its marker checks.
fn open_retriever(
    job: &Job,
    session: &mut Session<'_>,
) -> Result<miners_eval::Retriever, SweepError> {
    Ok(job.retriever_spec().open(session)?)
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
            let mut session = Session::new(models, options.cache.as_deref());
            plan::plan(&all, cells, shards, &mut session, &options.data)?
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
    session: &mut Session<'_>,
) -> Result<ShardPlan, SweepError> {
    let cells = plan::cells(all, &options.data)?;
    if let Some(plan) = ShardPlan::read_frozen(&options.out, &cells, shards)? {
        return Ok(plan);
    }
    plan::plan(all, cells, shards, session, &options.data)?.freeze(&options.out)
}

/// Runs one job (only `cells`, when given) through the run layer; returns
/// the sink, which knows the job's record files and how many cells were
/// already done.
fn run_job(
    job: &Job,
    cells: Option<&[CellRef]>,
    session: &mut Session<'_>,
    options: &SweepOptions,
    progress: &dyn Progress,
) -> Result<ResultsDir, SweepError> {
    let mut sink = ResultsDir::new(&options.out).resuming(!options.force);
    let spec = job.run_spec(cells)?;
    miners_run::run(&spec, session, &options.data, progress, &mut sink)?;
    Ok(sink)
}
/// What `miners sweep --list` prints: the jobs; with a shard, every shard's
/// estimated cost (billions of multiply-adds) and this shard's cells.
pub fn listing(
    spec: &SweepSpec,
    models: &Models,
    options: &SweepOptions,
) -> Result<Vec<String>, SweepError> {
    let mut lines = Vec::new();
    let Some(shard) = options.shard else {
        for (i, job) in jobs(spec, &options.data)?.iter().enumerate() {
            lines.push(format!("{i:>4} {}", job.name()));
        }
        return Ok(lines);
    };
    let (jobs, plan) = shard_plan(spec, models, options, shard.count)?;
    let costs = plan.costs();
    let mean = costs.iter().sum::<f64>() / costs.len() as f64;
    for (i, cost) in costs.iter().enumerate() {
        let cells = plan.cells.iter().filter(|c| c.shard == i).count();
        let mark = if i == shard.index { "*" } else { " " };
        lines.push(format!(
            "shard {i}/{} {mark} {cells:>5} cells {:>12.1} GMAC {:>6.3} of the mean",
            shard.count,
            cost / 1e9,
            cost / mean.max(f64::MIN_POSITIVE)
        ));
    }
    lines.push(format!(
        "largest shard / mean: {:.3} (whole jobs by index modulo {}: {:.3})",
        plan.imbalance(),
        shard.count,
        plan.whole_jobs_imbalance
    ));
    for cell in plan.cells.iter().filter(|c| c.shard == shard.index) {
        let job = jobs[cell.job].name();
        lines.push(format!(
            "{:>4} {job} {} {:.3} GMAC",
            cell.job,
            cell.cell,
            cell.cost / 1e9
        ));
    }
    Ok(lines)
}
