//! `miners data fetch` as a library call: each dataset from its pinned
//! original files, or from the Hub's parquet export, verified and converted
//! into the data directory.

use std::path::{Path, PathBuf};

use super::{
    Converted, convert, convertible,
    parquet::{self, HubDataset, HubSource, ParquetFile},
    write_index,
};
use crate::{
    DatasetError,
    sources::{self, Fetched, Mirror, SourceError, SourceFile},
};

/// Where Hub datasets' parquet files come from; `miners-hub`'s client does
/// it (feature `hub`), a test does it from a folder.
pub trait ParquetFiles {
    /// The commit `revision` of the dataset `repo` points at, and its files.
    fn listing(&self, repo: &str, revision: &str) -> Result<(String, Vec<String>), FetchError>;
    /// The file `name` of `repo` at `commit`, downloaded where it is not yet.
    fn file(&self, repo: &str, commit: &str, name: &str) -> Result<PathBuf, FetchError>;
}

/// What to fetch and where to put it (`miners data fetch`).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct FetchRequest {
    /// Where the originals come from: a URL prefix or a directory laid out as
    /// `github/<org>/<repo>/<commit>/<file>` (default: the public Git host).
    #[cfg_attr(feature = "clap", arg(long, value_parser = parse_mirror))]
    pub mirror: Option<Mirror>,
    /// Only this dataset (repeatable; default: every dataset with original files).
    #[cfg_attr(feature = "clap", arg(long = "dataset"))]
    pub datasets: Vec<String>,
    /// The data directory to write (default: $MINERS_DATA_DIR, else the data
    /// directory miners finds, else ./shared/data/miners).
    #[cfg_attr(feature = "clap", arg(long, env = "MINERS_DATA_DIR"))]
    pub out: Option<PathBuf>,
    /// Only datasets whose manifest the data directory lacks (a dataset's
    /// manifest is written last, so a half-converted one counts as missing).
    #[cfg_attr(feature = "clap", arg(long))]
    pub if_missing: bool,
    /// Hub datasets: the revision of the parquet export to read (default
    /// `refs/convert/parquet`; a commit pins it).
    #[cfg_attr(feature = "clap", arg(long, default_value = parquet::PARQUET_REVISION))]
    pub hub_revision: String,
    /// Datasets with both kinds of source (LinCE SA): read the Hub's parquet
    /// export instead of the original files.
    #[cfg_attr(feature = "clap", arg(long))]
    pub hub: bool,
    /// Where the verified original files are kept between runs.
    #[cfg_attr(feature = "clap", arg(long, default_value = ".cache/sources"))]
    pub originals: PathBuf,
}

/// A URL prefix or a directory.
#[cfg(feature = "clap")]
fn parse_mirror(text: &str) -> Result<Mirror, std::convert::Infallible> {
    Ok(Mirror::parse(text))
}

impl FetchRequest {
    /// The data directory written: the one named, else the one miners
    /// finds, else `shared/data/miners`.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            crate::DataDir::resolve(None).map_or_else(
                |_| PathBuf::from("shared/data/miners"),
                |d| d.path().to_owned(),
            )
        })
    }
}

/// What happens as datasets are fetched, for a progress display.
pub enum FetchEvent<'a> {
    /// Original files of `dataset` start: `files` of them.
    Originals {
        /// The dataset.
        dataset: &'a str,
        /// How many files it has.
        files: usize,
    },
    /// One more original file is in place.
    File,
    /// The originals of `dataset` are in place.
    Fetched(&'a str, Fetched),
    /// `dataset` is converted into the folder given.
    Converted(&'a str, Converted, &'a Path),
}

/// Errors of fetching datasets, each naming what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A dataset miners cannot fetch.
    #[error("--dataset {asked}: not a dataset miners can fetch; these are: {known}")]
    Unknown {
        /// The name asked for.
        asked: String,
        /// The names it can fetch.
        known: String,
    },
    /// The original files could not be had.
    #[error("fetching the originals of {dataset}: {source}")]
    Source {
        /// The dataset.
        dataset: String,
        /// Why.
        source: SourceError,
    },
    /// Converting failed.
    #[error("converting {dataset}: {source}")]
    Convert {
        /// The dataset.
        dataset: String,
        /// Why.
        source: DatasetError,
    },
    /// The Hub's export lacks the files the dataset reads.
    #[error("{repo}@{revision} ({commit}) has no parquet files for {configs} (splits {splits})")]
    NoParquet {
        /// The repository.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The commit it resolved to.
        commit: String,
        /// The configs read.
        configs: String,
        /// The splits read.
        splits: String,
    },
    /// The Hub client failed.
    #[error(transparent)]
    Hub(Box<dyn std::error::Error + Send + Sync>),
    /// The index of the data directory could not be written.
    #[error(transparent)]
    Index(#[from] DatasetError),
}

/// Fetches and converts the datasets `request` names; `hub` opens the Hub
/// client, only when a Hub dataset is asked for.
pub fn fetch_datasets(
    request: &FetchRequest,
    hub: &dyn Fn() -> Result<Box<dyn ParquetFiles>, FetchError>,
    events: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<(), FetchError> {
    let out = request.out_dir();
    let mut datasets = chosen(&request.datasets)?;
    if request.if_missing {
        datasets.retain(|d| !out.join(d).join("manifest.json").is_file());
    }
    for dataset in &datasets {
        let from_files = convertible().any(|d| d == dataset) && !request.hub;
        let converted = match parquet::hub_dataset(dataset).filter(|_| !from_files) {
            Some(dataset) => from_hub(dataset, &request.hub_revision, hub()?.as_ref(), &out)?,
            None => {
                let mirror = request.mirror.as_ref().unwrap_or(&Mirror::Upstream);
                fetch_originals(dataset, mirror, &request.originals, events)?;
                convert(dataset, &request.originals, &out).map_err(|source| {
                    FetchError::Convert {
                        dataset: dataset.clone(),
                        source,
                    }
                })?
            }
        };
        events(FetchEvent::Converted(
            dataset,
            converted,
            &out.join(dataset),
        ));
    }
    if !datasets.is_empty() {
        write_index(&out)?;
    }
    Ok(())
}

/// The datasets asked for; by default all that come from original files
/// (Hub datasets only when named: they need the Hub).
fn chosen(asked: &[String]) -> Result<Vec<String>, FetchError> {
    let from_files: Vec<&str> = convertible().collect();
    if asked.is_empty() {
        return Ok(from_files.iter().map(|d| (*d).to_owned()).collect());
    }
    let from_hub = parquet::HUB_DATASETS.iter().map(|d| d.name);
    let mut known: Vec<&str> = from_files.iter().copied().chain(from_hub).collect();
    // LinCE SA comes both ways: name it once.
    known.sort_unstable();
    known.dedup();
    match asked.iter().find(|d| !known.contains(&d.as_str())) {
        Some(unknown) => Err(FetchError::Unknown {
            asked: unknown.clone(),
            known: known.join(", "),
        }),
        None => Ok(asked.to_vec()),
    }
}

/// Fetches `dataset`'s pinned originals under `dir`.
fn fetch_originals(
    dataset: &str,
    mirror: &Mirror,
    dir: &Path,
    events: &mut dyn FnMut(FetchEvent<'_>),
) -> Result<(), FetchError> {
    let files = sources::of_dataset(dataset);
    events(FetchEvent::Originals {
        dataset,
        files: files.len(),
    });
    let fetched = sources::fetch(&files, mirror, dir, &mut |_: &SourceFile| {
        events(FetchEvent::File)
    })
    .map_err(|source| FetchError::Source {
        dataset: dataset.to_owned(),
        source,
    })?;
    events(FetchEvent::Fetched(dataset, fetched));
    Ok(())
}

/// A Hub dataset: its parquet export at `revision`, resolved to a commit,
/// downloaded and converted.
fn from_hub(
    dataset: &HubDataset,
    revision: &str,
    hub: &dyn ParquetFiles,
    out: &Path,
) -> Result<Converted, FetchError> {
    let (commit, listing) = hub.listing(dataset.repo, revision)?;
    let wanted = dataset.parquet_files(&listing);
    if wanted.is_empty() {
        return Err(FetchError::NoParquet {
            repo: dataset.repo.to_owned(),
            revision: revision.to_owned(),
            commit,
            configs: dataset.configs.join(", "),
            splits: dataset.splits.join(", "),
        });
    }
    let mut files = Vec::new();
    for (config, split, name) in wanted {
        let path = hub.file(dataset.repo, &commit, &name)?;
        files.push(ParquetFile {
            config,
            split,
            name,
            path,
        });
    }
    let source = HubSource {
        revision: revision.to_owned(),
        commit,
    };
    dataset
        .convert(&files, &source, out)
        .map_err(|source| FetchError::Convert {
            dataset: dataset.name.to_owned(),
            source,
        })
}

/// The Hub client serves Hub datasets' parquet files.
#[cfg(feature = "hub")]
impl ParquetFiles for miners_hub::Hub {
    fn listing(&self, repo: &str, revision: &str) -> Result<(String, Vec<String>), FetchError> {
        let reference = miners_hub::HubRef {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
        };
        self.dataset(&reference).map_err(hub_error)
    }

    fn file(&self, repo: &str, commit: &str, name: &str) -> Result<PathBuf, FetchError> {
        self.dataset_file(repo, commit, name).map_err(hub_error)
    }
}

/// Opens the Hub client from the environment (`HF_ENDPOINT`, `HF_HOME`,
/// the token), for [`fetch_datasets`].
#[cfg(feature = "hub")]
pub fn open_hub() -> Result<Box<dyn ParquetFiles>, FetchError> {
    Ok(Box::new(miners_hub::Hub::from_env().map_err(hub_error)?))
}

#[cfg(feature = "hub")]
fn hub_error(error: miners_hub::HubError) -> FetchError {
    FetchError::Hub(Box::new(error))
}
