//! `miners data fetch`: the datasets from where they live — the original
//! files at their pinned commits, verified and converted into the layout of
//! `docs/data.md`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use miners_datasets::convert::fetch::{
    FetchError, FetchEvent, FetchRequest, ParquetFiles, fetch_datasets,
};

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
    let open_hub = || -> Result<Box<dyn ParquetFiles>, FetchError> {
        Ok(Box::new(Hub(miners_hub::Hub::from_env().map_err(boxed)?)))
    };
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

/// The Hub client, as the fetch of Hub datasets wants it.
struct Hub(miners_hub::Hub);

impl ParquetFiles for Hub {
    fn listing(&self, repo: &str, revision: &str) -> Result<(String, Vec<String>), FetchError> {
        let reference = miners_hub::HubRef {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
        };
        self.0.dataset(&reference).map_err(boxed)
    }

    fn file(&self, repo: &str, commit: &str, name: &str) -> Result<PathBuf, FetchError> {
        self.0.dataset_file(repo, commit, name).map_err(boxed)
    }
}

fn boxed(error: miners_hub::HubError) -> FetchError {
    FetchError::Hub(Box::new(error))
}
