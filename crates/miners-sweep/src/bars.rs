//! Progress bars on stderr, drawn only on a terminal (feature `bars`): one
//! per encoding or scoring step, and the sweep's over its jobs, which logs a
//! line per job where no bar is drawn (Slurm, nohup).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use miners_eval::Progress;

use crate::{Job, SweepError, SweepProgress, SweepSummary};

/// One bar per encoding step, drawn on stderr when it is a terminal.
#[derive(Default)]
pub struct StepBars(Mutex<Option<ProgressBar>>);

impl Progress for StepBars {
    fn begin(&self, label: &str, total: usize) {
        let bar = ProgressBar::new(total as u64).with_message(label.to_owned());
        let style =
            ProgressStyle::with_template("{msg:>32} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> ");
        bar.set_style(style);
        *self.0.lock().expect("progress lock") = Some(bar);
    }

    fn advance(&self, n: usize) {
        if let Some(bar) = &*self.0.lock().expect("progress lock") {
            bar.inc(n as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }

    /// Printed above the bar, which stays.
    fn warn(&self, message: &str) {
        self.above(|| eprintln!("warning: {message}"));
    }

    /// Printed to standard output, above the bar.
    fn note(&self, message: &str) {
        use std::io::Write as _;
        // A closed pipe is not a failure of the run.
        self.above(|| drop(writeln!(std::io::stdout().lock(), "{message}")));
    }
}

impl StepBars {
    fn above(&self, print: impl FnOnce()) {
        match &*self.0.lock().expect("progress lock") {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

/// The bar over a sweep's jobs, with the current job as its message.
fn sweep_bar(jobs: usize) -> ProgressBar {
    let bar = ProgressBar::new(jobs as u64);
    let style = ProgressStyle::with_template(
        "sweep [{bar:30}] {pos}/{len} jobs · {elapsed_precise} · eta {eta_precise} · {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// The sweep's bar over jobs (a line per job in logs, where no bar is drawn),
/// with a bar per encoding step below it.
pub struct SweepBars {
    jobs: ProgressBar,
    steps: StepBars,
    started: std::time::Instant,
}

impl Default for SweepBars {
    fn default() -> Self {
        Self {
            jobs: sweep_bar(0),
            steps: StepBars::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl SweepBars {
    /// Clears the bar and prints what the sweep did.
    pub fn finish(&self, summary: &SweepSummary) {
        self.jobs.finish_and_clear();
        eprintln!(
            "sweep: {} jobs run ({} of their cells already done), \
             {} jobs already done, {} failed, in {:.1} s",
            summary.run,
            summary.cells_skipped,
            summary.skipped,
            summary.failed.len(),
            summary.seconds
        );
    }
}

impl SweepProgress for SweepBars {
    fn start(&self, jobs: usize) {
        self.jobs.set_length(jobs as u64);
    }

    fn job_started(&self, job: &Job) {
        self.jobs.set_message(job.name());
    }

    fn job_skipped(&self, _job: &Job) {
        self.jobs.inc(1);
    }

    fn job_finished(&self, job: &Job, seconds: f64) {
        if self.jobs.is_hidden() {
            // Logs (Slurm, nohup) get a line per job instead of the bar.
            eprintln!(
                "sweep: [{}/{}] {} done in {seconds:.1} s ({:.0} s elapsed)",
                self.jobs.position() + 1,
                self.jobs.length().unwrap_or(0),
                job.name(),
                self.started.elapsed().as_secs_f64()
            );
        }
        self.jobs.inc(1);
    }

    fn job_failed(&self, job: &Job, error: &SweepError) {
        let mut message = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(inner) = cause {
            // Errors that show their source already (`{path}: {source}`) say it once.
            let said = inner.to_string();
            if !message.ends_with(&said) {
                message.push_str(&format!(": {said}"));
            }
            cause = inner.source();
        }
        self.jobs
            .suspend(|| eprintln!("sweep: {} failed: {message}", job.name()));
        self.jobs.inc(1);
    }

    fn steps(&self) -> &dyn Progress {
        &self.steps
    }
}
