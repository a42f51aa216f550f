//! `miners`: run MINERS bitext retrieval and retrieval-based classification.

mod progress;
mod summary;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use miners_classify::Vote;
use miners_core::{Lang, Metric};
use miners_datasets::{DataDir, Dataset, DatasetError, Pair, registry};
use miners_encoders::Encoder;
use miners_eval::{
    ClassificationRun, ResultRecord, Retriever, RunOptions, run_bitext, run_classification,
};
use miners_fusion::Normalization;

#[derive(Parser)]
#[command(
    name = "miners",
    version,
    about = "Multilingual language models as semantic retrievers (MINERS)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bitext retrieval: each source sentence retrieves its translation.
    Bitext {
        #[command(flatten)]
        common: Common,
        /// Only pairs whose source language is this.
        #[arg(long)]
        src_lang: Option<String>,
    },
    /// Retrieval-based classification: the k nearest labelled texts vote.
    Classify {
        #[command(flatten)]
        common: Common,
        /// Cross-lingual: every language is classified with the pool of --src-lang.
        #[arg(long)]
        cross: bool,
        /// Pool language of --cross (default: the dataset's usual source).
        #[arg(long)]
        src_lang: Option<String>,
        /// Only these test languages (repeatable; default all).
        #[arg(long = "lang")]
        langs: Vec<String>,
        /// Voting rule.
        #[arg(long, value_enum, default_value_t = VoteArg::Majority)]
        vote: VoteArg,
    },
    /// List the datasets of the registry and whether the data directory has them.
    Datasets {
        /// Data directory (default: $MINERS_DATA_DIR, ./shared/data/miners, ../shared/data/miners).
        #[arg(long, env = "MINERS_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct Common {
    /// Dataset name (see `miners datasets`).
    #[arg(long, required_unless_present = "all_datasets")]
    dataset: Option<String>,
    /// Every dataset of the task that the data directory has.
    #[arg(long, conflicts_with = "dataset")]
    all_datasets: bool,
    /// Encoder: an id under --models-dir or a model directory; repeat for DistFuse.
    #[arg(long = "model", required = true)]
    models: Vec<String>,
    /// DistFuse weights, one per --model (comma-separated).
    #[arg(long, value_delimiter = ',')]
    weights: Vec<f32>,
    /// DistFuse distance normalisation.
    #[arg(long, value_enum, default_value_t = NormalizationArg::None)]
    normalization: NormalizationArg,
    /// Retrieval metric of a single model (the reference uses euclidean).
    #[arg(long, default_value = "euclidean")]
    metric: Metric,
    /// Neighbour counts to score (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    k: Vec<usize>,
    /// Evaluate only the first N items of each split read (smoke runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Directory for result records.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Data directory (default: $MINERS_DATA_DIR, ./shared/data/miners, ../shared/data/miners).
    #[arg(long, env = "MINERS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory of fetched models (`cargo xtask fetch-models` fills ./models).
    #[arg(long, env = "MINERS_MODELS_DIR", default_value = "models")]
    models_dir: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum VoteArg {
    Majority,
    DistanceWeighted,
}

#[derive(Clone, Copy, ValueEnum)]
enum NormalizationArg {
    None,
    ZScore,
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bitext { common, src_lang } => {
            let (retriever, options) = prepare(&common)?;
            for dataset in datasets(&common, "bitext")? {
                let pairs: Vec<Pair> = dataset
                    .bitext_pairs()?
                    .into_iter()
                    .filter(|p| src_lang.as_deref().is_none_or(|s| p.source.as_str() == s))
                    .collect();
                if pairs.is_empty() {
                    bail!(
                        "--src-lang {src_lang:?}: no {} pair has that source",
                        dataset.spec().name
                    );
                }
                let records = run_bitext(
                    &dataset,
                    &retriever,
                    &pairs,
                    &options,
                    &progress::Bars::default(),
                )?;
                finish(&common.out, &records)?;
            }
        }
        Command::Classify {
            common,
            cross,
            src_lang,
            langs,
            vote,
        } => {
            let (retriever, options) = prepare(&common)?;
            for dataset in datasets(&common, "classification")? {
                let single_language = dataset
                    .spec()
                    .classification
                    .is_some_and(|p| p.cross_source.is_none());
                if cross && common.all_datasets && single_language {
                    eprintln!(
                        "skipping: {} has a single language; nothing to cross to",
                        dataset.spec().name
                    );
                    continue;
                }
                let run = classification_run(&dataset, cross, src_lang.as_deref(), &langs, vote)?;
                let records = run_classification(
                    &dataset,
                    &retriever,
                    &run,
                    &options,
                    &progress::Bars::default(),
                )?;
                finish(&common.out, &records)?;
            }
        }
        Command::Datasets { data_dir } => list_datasets(data_dir.as_deref())?,
    }
    Ok(())
}

fn prepare(common: &Common) -> Result<(Retriever, RunOptions)> {
    let encoders = load_encoders(&common.models, &common.models_dir)?;
    let retriever = if encoders.len() == 1 && common.weights.is_empty() {
        Retriever::single(
            encoders.into_iter().next().expect("one encoder"),
            common.metric,
        )
    } else {
        let normalization = match common.normalization {
            NormalizationArg::None => Normalization::None,
            NormalizationArg::ZScore => Normalization::ZScore,
        };
        Retriever::distfuse(encoders, common.weights.clone(), normalization)?
    };
    let options = RunOptions {
        ks: common.k.clone(),
        limit: common.limit,
    };
    Ok((retriever, options))
}

/// Loads each distinct model once.
fn load_encoders(names: &[String], models_dir: &Path) -> Result<Vec<Arc<dyn Encoder>>> {
    let mut loaded: HashMap<&str, Arc<dyn Encoder>> = HashMap::new();
    names
        .iter()
        .map(|name| {
            if let Some(encoder) = loaded.get(name.as_str()) {
                return Ok(encoder.clone());
            }
            let (dir, id) = resolve_model(name, models_dir)?;
            let encoder: Arc<dyn Encoder> = miners_encoders::load(&dir, &id)
                .with_context(|| format!("--model {name}"))?
                .into();
            loaded.insert(name, encoder.clone());
            Ok(encoder)
        })
        .collect()
}

/// A model directory given directly, or an id under the models directory.
fn resolve_model(name: &str, models_dir: &Path) -> Result<(PathBuf, String)> {
    let direct = Path::new(name);
    if direct.is_dir() {
        let id = direct
            .file_name()
            .map_or(name.into(), |n| n.to_string_lossy().into_owned());
        return Ok((direct.to_owned(), id));
    }
    let dir = models_dir.join(name);
    if dir.is_dir() {
        return Ok((dir, name.to_owned()));
    }
    bail!(
        "--model {name}: neither a directory nor a model in {} (run `cargo xtask fetch-models`)",
        models_dir.display()
    )
}

/// The dataset asked for, or every dataset of the task present in the data directory.
fn datasets(common: &Common, task: &str) -> Result<Vec<Dataset>> {
    let data = DataDir::resolve(common.data_dir.as_deref())?;
    if let Some(name) = &common.dataset {
        return Ok(vec![Dataset::open(&data, name)?]);
    }
    let has_task = |d: &&miners_datasets::DatasetSpec| match task {
        "bitext" => d.bitext.is_some(),
        _ => d.classification.is_some(),
    };
    let mut found = Vec::new();
    for spec in registry().iter().filter(has_task) {
        match Dataset::open(&data, spec.name) {
            Ok(dataset) => found.push(dataset),
            Err(error @ DatasetError::Missing { .. }) => eprintln!("skipping: {error}"),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(found)
}

fn classification_run(
    dataset: &Dataset,
    cross: bool,
    src_lang: Option<&str>,
    langs: &[String],
    vote: VoteArg,
) -> Result<ClassificationRun> {
    let cross_source = match (cross, src_lang) {
        (false, Some(_)) => bail!("--src-lang needs --cross for classification"),
        (false, None) => None,
        (true, Some(lang)) => Some(Lang::from(lang)),
        (true, None) => {
            let plan = dataset
                .spec()
                .classification
                .expect("classification datasets have a plan");
            let source = plan.cross_source.with_context(|| {
                format!(
                    "--cross: {} has a single language; nothing to cross to",
                    dataset.spec().name
                )
            })?;
            Some(Lang::from(source))
        }
    };
    if let Some(source) = &cross_source {
        let available = dataset.classification_langs()?;
        if !available.contains(source) {
            bail!(
                "--src-lang {source}: not a language of {}",
                dataset.spec().name
            );
        }
    }
    Ok(ClassificationRun {
        langs: langs.iter().map(|l| Lang::from(l.as_str())).collect(),
        cross_source,
        vote: match vote {
            VoteArg::Majority => Vote::Majority,
            VoteArg::DistanceWeighted => Vote::DistanceWeighted,
        },
    })
}

fn finish(out: &Path, records: &[ResultRecord]) -> Result<()> {
    for record in records {
        record.write(out)?;
    }
    print!("{}", summary::table(records));
    Ok(())
}

fn list_datasets(data_dir: Option<&Path>) -> Result<()> {
    let data = DataDir::resolve(data_dir).ok();
    for spec in registry() {
        let tasks: Vec<&str> = [
            spec.bitext.map(|_| "bitext"),
            spec.classification.map(|_| "classification"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let status = match &data {
            Some(data) => match Dataset::open(data, spec.name) {
                Ok(_) => "present".to_owned(),
                Err(e) => format!("missing ({e})"),
            },
            None => "no data directory".to_owned(),
        };
        let substitute = spec
            .substitute_for
            .map(|s| format!(" [substitute for {s}]"))
            .unwrap_or_default();
        println!(
            "{:<28} {:<22} {status}{substitute}",
            spec.name,
            tasks.join(",")
        );
    }
    Ok(())
}
