//! Progress bars for encoding and sweeps (drawn only on a terminal).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use miners_eval::Progress;

/// One bar per encoding step, drawn on stderr when it is a terminal.
#[derive(Default)]
pub struct Bars(Mutex<Option<ProgressBar>>);

impl Progress for Bars {
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
}

/// The bar over a sweep's jobs, with the current job as its message.
pub fn sweep_bar(jobs: usize) -> ProgressBar {
    let bar = ProgressBar::new(jobs as u64);
    let style = ProgressStyle::with_template(
        "sweep [{bar:30}] {pos}/{len} jobs · {elapsed_precise} · eta {eta_precise} · {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}
