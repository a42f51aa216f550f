//! `miners data fetch`: the datasets from where they live — the original
//! files at their pinned commits, verified and converted into the layout of
//! `docs/data.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use miners_datasets::{
    DataDir,
    convert::{self, parquet},
    sources,
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
    match command {
        DataCommand::Fetch(args) => fetch(&args),
    }
}

fn fetch(args: &FetchArgs) -> Result<()> {
    let mirror = args
        .mirror
        .as_deref()
        .map_or(sources::Mirror::Upstream, sources::Mirror::parse);
    let out = args.out.clone().unwrap_or_else(|| {
        DataDir::resolve(None).map_or_else(|_| PathBuf::from(DEFAULT_OUT), |d| d.path().to_owned())
    });
    let mut datasets = chosen(&args.datasets)?;
    if args.if_missing {
        datasets.retain(|d| !out.join(d).join("manifest.json").is_file());
    }
    for dataset in &datasets {
        let from_files = convert::convertible().any(|d| d == dataset) && !args.hub;
        let converted = match parquet::hub_dataset(dataset).filter(|_| !from_files) {
            Some(hub) => fetch_from_hub(hub, &args.hub_revision, &out)?,
            None => {
                fetch_originals(dataset, &mirror, &args.originals)?;
                convert::convert(dataset, &args.originals, &out)
                    .with_context(|| format!("converting {dataset}"))?
            }
        };
        eprintln!(
            "{dataset}: {} files, {} rows, {} bytes in {}",
            converted.files,
            converted.rows,
            converted.bytes,
            out.join(dataset).display()
        );
    }
    if !datasets.is_empty() {
        convert::write_index(&out)?;
    }
    Ok(())
}

/// The datasets asked for; by default all that come from original files
/// (Hub datasets only when named: they need the Hub).
fn chosen(asked: &[String]) -> Result<Vec<String>> {
    let from_files: Vec<&str> = convert::convertible().collect();
    if asked.is_empty() {
        return Ok(from_files.iter().map(|d| (*d).to_owned()).collect());
    }
    let from_hub = parquet::HUB_DATASETS.iter().map(|d| d.name);
    let mut known: Vec<&str> = from_files.iter().copied().chain(from_hub).collect();
    // LinCE SA comes both ways: name it once.
    known.sort_unstable();
    known.dedup();
    for dataset in asked {
        if !known.contains(&dataset.as_str()) {
            bail!(
                "--dataset {dataset}: not a dataset miners can fetch; these are: {}",
                known.join(", ")
            );
        }
    }
    Ok(asked.to_vec())
}

/// Fetches `dataset`'s pinned originals under `dir`, with a progress bar.
fn fetch_originals(dataset: &str, mirror: &sources::Mirror, dir: &Path) -> Result<()> {
    let files = sources::of_dataset(dataset);
    let bar = ProgressBar::new(files.len() as u64).with_message(dataset.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} files")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let fetched = sources::fetch(&files, mirror, dir, &mut |_| bar.inc(1));
    bar.finish_and_clear();
    let fetched = fetched.with_context(|| format!("fetching the originals of {dataset}"))?;
    if fetched.fetched > 0 {
        eprintln!(
            "{dataset}: fetched {} original files ({} already in place)",
            fetched.fetched, fetched.present
        );
    }
    Ok(())
}

/// A Hub dataset: its parquet export at `revision`, resolved to a commit,
/// downloaded into the Hub cache and converted.
fn fetch_from_hub(
    hub: &parquet::HubDataset,
    revision: &str,
    out: &Path,
) -> Result<convert::Converted> {
    let client = miners_hub::Hub::from_env()?;
    let reference = miners_hub::HubRef {
        repo: hub.repo.to_owned(),
        revision: revision.to_owned(),
    };
    let (commit, listing) = client.dataset(&reference)?;
    let wanted = hub.parquet_files(&listing);
    if wanted.is_empty() {
        bail!(
            "{}@{revision} ({commit}) has no parquet files for {} (splits {})",
            hub.repo,
            hub.configs.join(", "),
            hub.splits.join(", ")
        );
    }
    let mut files = Vec::new();
    for (config, split, name) in wanted {
        let path = client.dataset_file(hub.repo, &commit, &name)?;
        files.push(parquet::ParquetFile {
            config,
            split,
            name,
            path,
        });
    }
    let source = parquet::HubSource {
        revision: revision.to_owned(),
        commit,
    };
    hub.convert(&files, &source, out)
        .with_context(|| format!("converting {}", hub.name))
}
