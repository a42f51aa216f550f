//! `miners data fetch`: the datasets from where they live — the original
//! files at their pinned commits, verified and converted into the layout of
//! `docs/data.md`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use miners_datasets::{
    DataDir,
    convert::fetch::{FetchError, FetchEvent, FetchRequest, ParquetFiles, fetch_datasets},
    sources::Mirror,
};

/// Where data goes when no data directory exists yet.
const DEFAULT_OUT: &str = "shared/data/miners";

/// `miners data …`
#[derive(Subcommand)]
pub enum DataCommand {
    /// Fetch the original files of datasets (pinned commits, SHA-256
    /// checked) and convert them into the data directory. Resumable: files
    /// already fetched and verified are kept.
    Fetch(FetchArgs),
}

/// Options of `miners data fetch`.
#[derive(Args)]
pub struct FetchArgs {
    /// Where the originals come from: a URL prefix or a directory laid out as
    /// `github/<org>/<repo>/<commit>/<file>` (default: the public Git host).
    #[arg(long)]
    mirror: Option<String>,
    /// Only this dataset (repeatable; default: every dataset with original files).
    #[arg(long = "dataset")]
    datasets: Vec<String>,
    /// The data directory to write (default: $MINERS_DATA_DIR, else the data
    /// directory `miners` finds, else ./shared/data/miners).
    #[arg(long, env = "MINERS_DATA_DIR")]
    out: Option<PathBuf>,
    /// Only datasets whose manifest the data directory lacks (a dataset's
    /// manifest is written last, so a half-converted one counts as missing).
    #[arg(long)]
    if_missing: bool,
    /// Hub datasets: the revision of the parquet export to read (default
    /// `refs/convert/parquet`; a commit pins it).
    #[arg(long, default_value = miners_datasets::convert::parquet::PARQUET_REVISION)]
    hub_revision: String,
    /// Datasets with both kinds of source (LinCE SA): read the Hub's parquet
    /// export instead of the original files.
    #[arg(long)]
    hub: bool,
    /// Where the verified original files are kept between runs.
    #[arg(long, default_value = ".cache/sources")]
    originals: PathBuf,
}

/// Runs a `miners data` command.
pub fn run(command: DataCommand) -> Result<()> {
    let DataCommand::Fetch(args) = command;
    let out = args.out.unwrap_or_else(|| {
        DataDir::resolve(None).map_or_else(|_| PathBuf::from(DEFAULT_OUT), |d| d.path().to_owned())
    });
    let request = FetchRequest {
        mirror: args
            .mirror
            .as_deref()
            .map_or(Mirror::Upstream, Mirror::parse),
        datasets: args.datasets,
        out: out.clone(),
        if_missing: args.if_missing,
        hub_revision: args.hub_revision,
        hub: args.hub,
        originals: args.originals,
    };
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
        FetchEvent::Converted(dataset, converted) => eprintln!(
            "{dataset}: {} files, {} rows, {} bytes in {}",
            converted.files,
            converted.rows,
            converted.bytes,
            out.join(dataset).display()
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
