//! `miners data fetch`: the datasets from where they live — the original
//! files at their pinned commits, verified and converted into the layout of
//! `docs/data.md`.

use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use miners_datasets::convert::fetch::{FetchEvent, FetchRequest, fetch_datasets, open_hub};

/// `miners data …`
#[derive(Subcommand)]
pub enum DataCommand {
    /// Fetch the original files of datasets (pinned commits, SHA-256
    /// checked) and convert them into the data directory. Resumable: files
    /// already fetched and verified are kept.
    Fetch(FetchRequest),
}

/// Runs a `miners data` command.
pub fn run(command: DataCommand) -> Result<()> {
    let DataCommand::Fetch(request) = command;
    let mut bar: Option<ProgressBar> = None;
    fetch_datasets(&request, &open_hub, &mut |event| match event {
        FetchEvent::Originals { dataset, files } => {
            let style = ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} files")
                .expect("valid template")
                .progress_chars("=> ");
            let files = ProgressBar::new(files as u64).with_message(dataset.to_owned());
            bar = Some(files.with_style(style));
        }
        FetchEvent::File => bar.iter().for_each(|bar| bar.inc(1)),
        FetchEvent::Fetched(dataset, fetched) => {
            bar.take().iter().for_each(ProgressBar::finish_and_clear);
            if fetched.fetched > 0 {
                eprintln!(
                    "{dataset}: fetched {} original files ({} already in place)",
                    fetched.fetched, fetched.present
                );
            }
        }
        FetchEvent::Converted(dataset, converted, dir) => eprintln!(
            "{dataset}: {} files, {} rows, {} bytes in {}",
            converted.files,
            converted.rows,
            converted.bytes,
            dir.display()
        ),
    })?;
    Ok(())
}
