//! Long calls from Python: the work runs on a worker thread with the GIL
//! released, drawing miners' progress bars on stderr, while this thread looks
//! for Ctrl-C; on one, the work is asked to stop between batches (finished
//! cells and cached vectors are kept), and `KeyboardInterrupt` is raised once
//! it has.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use miners_eval::Progress;
use miners_sweep::{Job, StepBars, SweepBars, SweepError, SweepProgress, SweepSummary};
use pyo3::{exceptions::PyRuntimeError, prelude::*};

/// How often this thread looks for a Ctrl-C while the work runs.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// Runs `work` on a worker thread with the GIL released, handing it the
/// flag a Ctrl-C sets; raises `KeyboardInterrupt` after the work has
/// stopped, whatever it returned.
pub(crate) fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&AtomicBool) -> T + Send,
) -> PyResult<T> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| work(&stop));
        let mut interrupt = None;
        while !worker.is_finished() {
            if interrupt.is_none()
                && let Err(error) = py.check_signals()
            {
                stop.store(true, Ordering::Release);
                interrupt = Some(error);
            }
            py.detach(|| std::thread::sleep(LOOK_EVERY));
        }
        let done = worker
            .join()
            .map_err(|_| PyRuntimeError::new_err("miners: the worker thread panicked"))?;
        match interrupt {
            Some(error) => Err(error),
            None => Ok(done),
        }
    })
}

/// Step bars on stderr that stop the work when the flag is set.
pub(crate) struct Bars<'a> {
    bars: StepBars,
    stop: &'a AtomicBool,
}

impl<'a> Bars<'a> {
    /// Bars that look at `stop`.
    pub(crate) fn new(stop: &'a AtomicBool) -> Self {
        Self {
            bars: StepBars::default(),
            stop,
        }
    }
}

impl Progress for Bars<'_> {
    fn begin(&self, label: &str, total: usize) {
        self.bars.begin(label, total);
    }

    fn advance(&self, n: usize) {
        self.bars.advance(n);
    }

    fn finish(&self) {
        self.bars.finish();
    }

    fn warn(&self, message: &str) {
        self.bars.warn(message);
    }

    fn note(&self, message: &str) {
        self.bars.note(message);
    }

    fn cancelled(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The sweep's bars (jobs, then steps) that stop the sweep when the flag is set.
pub(crate) struct SweepBarsStoppable<'a> {
    jobs: SweepBars,
    steps: Bars<'a>,
}

impl<'a> SweepBarsStoppable<'a> {
    /// Bars that look at `stop`.
    pub(crate) fn new(stop: &'a AtomicBool) -> Self {
        Self {
            jobs: SweepBars::default(),
            steps: Bars::new(stop),
        }
    }
}

impl SweepBarsStoppable<'_> {
    /// Clears the bars and prints what the sweep did.
    pub(crate) fn finish(&self, summary: &SweepSummary) {
        self.jobs.finish(summary);
    }
}

impl SweepProgress for SweepBarsStoppable<'_> {
    fn start(&self, jobs: usize) {
        self.jobs.start(jobs);
    }

    fn job_started(&self, job: &Job) {
        self.jobs.job_started(job);
    }

    fn job_skipped(&self, job: &Job) {
        self.jobs.job_skipped(job);
    }

    fn job_finished(&self, job: &Job, seconds: f64) {
        self.jobs.job_finished(job, seconds);
    }

    fn job_failed(&self, job: &Job, error: &SweepError) {
        self.jobs.job_failed(job, error);
    }

    fn steps(&self) -> &dyn Progress {
        &self.steps
    }
}
