//! `miners`: run MINERS bitext retrieval, retrieval-based classification and ICL.

mod data;
mod progress;
mod report;
mod summary;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use miners_classify::Vote;
use miners_core::{Lang, Metric};
use miners_datasets::{DataDir, Dataset, DatasetError, Pair, registry};
use miners_encoders::{Encoder, spec::DType};
use miners_eval::{
    ClassificationRun, EmbeddingCache, IclRun, Retriever, RetrieverParts, RunOptions, Task,
    run_bitext, run_classification, run_icl,
    tune::{TuneBy, TunedGroup},
};
use miners_fusion::Normalization;
use miners_icl::{Prompt, ScoringKind, Selection};
use miners_index::HubnessChoice;
use miners_models::Models;
use miners_sweep::{Shard, SweepOptions, SweepSpec};

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
        /// Only these pairs, as `SOURCE-TARGET` (repeatable).
        #[arg(long = "pair")]
        pairs: Vec<String>,
        /// Also score each pair the other way round (targets retrieve
        /// sources; records marked `reversed`), as LASER's xsim does.
        #[arg(long)]
        both_directions: bool,
    },
    /// BUCC-style bitext mining: both sides of each pair as shuffled pools,
    /// mutual best pairs by LASER's ratio margin (k = 4, over cosine) unless
    /// --hubness says otherwise, the F1-best threshold tuned on one half of
    /// the sources and scored on the other; records under `<out>/mining/`.
    Mine {
        #[command(flatten)]
        common: Common,
        /// Only these pairs, as `SOURCE-TARGET` (repeatable).
        #[arg(long = "pair")]
        pairs: Vec<String>,
        /// Seed of the shuffles and of the split into halves.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Retrieval-based classification: the k nearest labelled texts vote.
    Classify {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        languages: Languages,
        /// Voting rule.
        #[arg(long, value_enum, default_value_t = Vote::Majority)]
        vote: Vote,
        /// Learn DistFuse's weights on each dataset's validation split (a
        /// grid over the simplex, step 0.1, the headline metric at the
        /// largest --k, the run's languages monolingually), for the whole
        /// dataset (`dataset`, the default) or per language family
        /// (`family`, Glottolog's top level), then score the test split with
        /// them; the weights and where they were learned are recorded. Needs
        /// two or more --model.
        #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "dataset")]
        tune_weights: Option<TuneBy>,
    },
    /// In-context learning: retrieved demonstrations in a prompt, a generator scores the labels.
    Icl {
        #[command(flatten)]
        common: Common,
        /// Generator: a `[[generator]]` id of the --catalog, `hf:<org>/<name>[@<revision>]`
        /// or a model directory.
        #[arg(long)]
        generator: String,
        /// How the generator's weights are held (recorded as `<generator>@<dtype>`;
        /// default float32, as the reference loads its generators; bfloat16 halves
        /// the memory on a GPU). Activations stay float32.
        #[arg(long, value_enum)]
        generator_dtype: Option<DType>,
        #[command(flatten)]
        languages: Languages,
        /// The k nearest demonstrations of each label, grouped by label.
        #[arg(long, conflicts_with = "percentile")]
        balanced: bool,
        /// Demonstrations from a similarity percentile window instead of the top:
        /// `P` (from P to 100) or `MIN-MAX`.
        #[arg(long)]
        percentile: Option<String>,
        /// Instruction text (default: the paper's for the dataset).
        #[arg(long)]
        instruction: Option<String>,
        /// Add the `Options:` line listing the labels to log-probability prompts;
        /// the reference lists options only when generating, so off by default.
        #[arg(long)]
        options: bool,
        /// How answers are read: `logprob` (each label's log-probability) or
        /// `generate` (chat template, generation, exact match). Default: the
        /// generator's catalog setting.
        #[arg(long, value_enum)]
        scoring: Option<ScoringKind>,
        /// Generation: decode greedily instead of the reference's sampling
        /// (temperature 0.2, top-p 1).
        #[arg(long)]
        greedy: bool,
        /// Generation: seed of the sampled answers.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Run a sweep spec (`sweep.toml`): every model, dataset and setting it
    /// lists; resumable (finished cells and jobs are skipped) and shardable.
    Sweep {
        /// The sweep specification.
        #[arg(long, default_value = "sweep.toml")]
        spec: PathBuf,
        /// Directory for result records (shards may share it).
        #[arg(long, default_value = "results")]
        out: PathBuf,
        #[command(flatten)]
        sources: Sources,
        /// Device for transformer models (a list splits generators' layers, as for `miners icl`).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Redo finished jobs and cells.
        #[arg(long)]
        force: bool,
        /// Run only shard i of N (`i/N`, 0-based); default: from
        /// SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT when set.
        #[arg(long)]
        shard: Option<String>,
        /// Print the jobs and exit; with a shard, every shard's estimated
        /// cost and this shard's cells.
        #[arg(long)]
        list: bool,
    },
    /// Aggregate result records into the paper's tables, k-curves and
    /// (optionally) t-SNE plots: REPORT.md, tables/*.{md,csv,json}, plots/*.svg.
    Report {
        /// Result directory to read.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Report directory (default: RESULTS/report).
        #[arg(long)]
        out: Option<PathBuf>,
        /// t-SNE scatter of a classification dataset's test texts embedded by an
        /// encoder, coloured by label and by language: `DATASET:ENCODER` (repeatable).
        #[arg(long)]
        tsne: Vec<String>,
        /// Texts per t-SNE plot (spread evenly over languages).
        #[arg(long, default_value_t = 1200)]
        tsne_points: usize,
        #[command(flatten)]
        sources: Sources,
    },
    /// Merge shard result directories into one.
    Merge {
        /// Target result directory.
        #[arg(long)]
        into: PathBuf,
        /// Shard result directories.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
    },
    /// Get datasets from where they live (`miners data fetch`).
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// List the datasets of the registry and whether the data directory has them.
    Datasets {
        /// Data directory (default: $MINERS_DATA_DIR, ./shared/data/miners, ../shared/data/miners).
        #[arg(long, env = "MINERS_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// Where data, models and cached embeddings come from (sweeps and reports).
#[derive(Args)]
struct Sources {
    /// Embedding cache directory.
    #[arg(long, env = "MINERS_CACHE", default_value = DEFAULT_CACHE)]
    cache: PathBuf,
    /// Data directory (default: $MINERS_DATA_DIR, ./shared/data/miners, ../shared/data/miners).
    #[arg(long, env = "MINERS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Model catalog (default: models.toml when it exists).
    #[arg(long, env = "MINERS_CATALOG")]
    catalog: Option<PathBuf>,
}

/// Which test languages, and the pool language of a cross-lingual run.
#[derive(Args)]
struct Languages {
    /// Cross-lingual: every test language uses the pool (neighbours or
    /// demonstrations) of --src-lang.
    #[arg(long)]
    cross: bool,
    /// Pool language of --cross (default: the dataset's usual source).
    #[arg(long)]
    src_lang: Option<String>,
    /// Only these test languages (repeatable; default all).
    #[arg(long = "lang")]
    langs: Vec<String>,
}

#[derive(Args)]
struct Common {
    /// Dataset name (see `miners datasets`).
    #[arg(long, required_unless_present = "all_datasets")]
    dataset: Option<String>,
    /// Every dataset of the task that the data directory has.
    #[arg(long, conflicts_with = "dataset")]
    all_datasets: bool,
    /// Encoder: an id of the --catalog or a model directory; repeat for DistFuse.
    #[arg(long = "model", visible_alias = "retriever", required = true)]
    models: Vec<String>,
    /// Encode with the models' prompts (e5's `query: `). Default: true for
    /// bitext and classification, false for ICL retrieval, as the reference does.
    #[arg(long)]
    prompts: Option<bool>,
    /// A label option of the dataset, a named deviation from the reference
    /// recorded in the results (`fold-not-tamil` for FIRE).
    #[arg(long)]
    label_option: Option<String>,
    /// DistFuse weights, one per --model (comma-separated).
    #[arg(long, value_delimiter = ',')]
    weights: Vec<f32>,
    /// DistFuse distance normalisation.
    #[arg(long, value_enum, default_value_t = Normalization::None)]
    normalization: Normalization,
    /// Retrieval metric of a single model (the reference uses euclidean).
    #[arg(long, default_value = "euclidean")]
    metric: Metric,
    /// Correct the scores for hubness: the ratio or distance margin of
    /// Artetxe & Schwenk (2019) or CSLS (Conneau et al., 2018), over --metric
    /// (the ratio margin needs cosine or dot) or DistFuse's fused distance;
    /// recorded as `<model>~<hubness><k>`.
    #[arg(long, value_enum)]
    hubness: Option<HubnessChoice>,
    /// Neighbourhood size of --hubness (default: 4 for the margins, 10 for CSLS); at least 1.
    #[arg(long, requires = "hubness", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    hubness_k: Option<usize>,
    /// Neighbour counts to score (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    k: Vec<usize>,
    /// Evaluate only the first N items of each split read (smoke runs; ICL: N
    /// test examples spread evenly over the split, the pool stays whole).
    #[arg(long)]
    limit: Option<usize>,
    /// Directory for result records.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Data directory (default: $MINERS_DATA_DIR, ./shared/data/miners, ../shared/data/miners).
    #[arg(long, env = "MINERS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Embedding cache directory: each text is encoded once per model and prompt, across runs (API generators journal their answers under `<cache>/responses`, by default `.cache/embeddings/responses`).
    #[arg(long, env = "MINERS_CACHE")]
    cache: Option<PathBuf>,
    /// Model catalog (TOML `[[model]]` specs; ids usable as --model; default:
    /// models.toml when it exists).
    #[arg(long, env = "MINERS_CATALOG")]
    catalog: Option<PathBuf>,
    /// Device for transformer models: cpu, cuda, cuda:N or auto; a list
    /// (`cuda:0,cuda:1`) splits a generator's layers over those devices by free
    /// memory (`auto`: over every GPU), encoders run on the first.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Precision override for transformer models (recorded as `<model>@<dtype>`): bfloat16 runs on CUDA or a CPU with AMX / AVX512-BF16, float16 on CUDA only, int8 is weight-only (linear layers).
    #[arg(long, value_enum)]
    dtype: Option<DType>,
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        if closed_stdout(&error) {
            // `miners datasets | head -1`: the reader has what it wanted.
            return;
        }
        eprintln!("error: {}", describe(&error));
        std::process::exit(1);
    }
}

/// Whether the error is a write to a standard output whose reader has gone.
fn closed_stdout(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The error and its causes, each said once: a cause whose text the message
/// already contains (`path: reason` errors) is not repeated.
fn describe(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}

/// Prints a line to standard output; a closed pipe ends the program quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bitext {
            common,
            src_lang,
            pairs: wanted,
            both_directions,
        } => {
            let (retriever, mut options) = prepare(&common, true)?;
            options.both_directions = both_directions;
            for dataset in datasets(&common, Task::Bitext)? {
                let pairs = selected_pairs(&dataset, src_lang.as_deref(), &wanted)?;
                let mut sink = summary::Writer::new(&common.out);
                let bars = progress::Bars::default();
                run_bitext(&dataset, &retriever, &pairs, &options, &bars, &mut sink)?;
                sink.finish()?;
            }
        }
        Command::Mine {
            mut common,
            pairs: wanted,
            seed,
        } => {
            if common.hubness.is_none() {
                common.hubness = Some(HubnessChoice::MarginRatio);
                if common.metric == Metric::Euclidean {
                    common.metric = Metric::Cosine;
                }
            }
            let (retriever, options) = prepare(&common, true)?;
            let bars = progress::Bars::default();
            for dataset in datasets(&common, Task::Mining)? {
                for pair in selected_pairs(&dataset, None, &wanted)? {
                    let mined = miners_eval::mining::run_mining(
                        &dataset,
                        &retriever,
                        &pair,
                        seed,
                        options.limit,
                        &bars,
                    )?;
                    mined.write(&common.out)?;
                    out!(
                        "{} {} {}: {} sentences, {} mutual, threshold {:.4}, test P {:.2} R {:.2} F1 {:.2}",
                        mined.dataset,
                        mined.pair,
                        mined.model,
                        mined.sentences,
                        mined.mutual,
                        mined.threshold,
                        100.0 * mined.test.precision,
                        100.0 * mined.test.recall,
                        100.0 * mined.test.f1
                    );
                }
            }
        }
        Command::Classify {
            mut common,
            languages,
            vote,
            tune_weights,
        } => {
            let tune_by = tune_weights;
            if tune_by.is_some() && !common.weights.is_empty() {
                bail!(
                    "--tune-weights learns the DistFuse weights, so --weights would be ignored: give one or the other"
                );
            }
            if tune_by.is_some() {
                // Placeholders until the validation split decides.
                common.weights = vec![1.0; common.models.len()];
            }
            let (base, options) = prepare(&common, true)?;
            if tune_by.is_some() && base.encoders().len() < 2 {
                bail!("--tune-weights learns DistFuse weights; give two or more --model");
            }
            for dataset in datasets(&common, Task::Classification)? {
                let single_language = dataset
                    .spec()
                    .classification
                    .is_some_and(|p| p.cross_source.is_none());
                if languages.cross && common.all_datasets && single_language {
                    eprintln!(
                        "skipping: {} has a single language; nothing to cross to",
                        dataset.spec().name
                    );
                    continue;
                }
                let (langs, cross_source) = languages.resolve(&dataset)?;
                let groups = match tune_by {
                    Some(by) => tuned(&dataset, &base, &langs, by, &options)?,
                    None => vec![(base.clone(), langs)],
                };
                let mut sink = summary::Writer::new(&common.out);
                let bars = progress::Bars::default();
                for (retriever, langs) in groups {
                    let run = ClassificationRun {
                        langs,
                        cross_source: cross_source.clone(),
                        vote,
                    };
                    run_classification(&dataset, &retriever, &run, &options, &bars, &mut sink)?;
                }
                sink.finish()?;
            }
        }
        Command::Icl {
            common,
            generator,
            generator_dtype,
            languages,
            balanced,
            percentile,
            instruction,
            options,
            scoring,
            greedy,
            seed,
        } => {
            let (retriever, _) = prepare(&common, false)?;
            let models = models(common.catalog.as_deref(), &common.device, generator_dtype)?
                .with_journal(Some(journal_dir(
                    common.cache.as_deref().unwrap_or(DEFAULT_CACHE.as_ref()),
                )));
            let entry = models.generator_entry(&generator)?;
            let selection = match (balanced, percentile) {
                (true, _) => Selection::Balanced,
                (false, Some(p)) => parse_percentile(&p)?,
                (false, None) => Selection::Nearest,
            };
            let generator = models
                .open_generator(&entry)
                .with_context(|| format!("--generator {generator}"))?;
            let scoring = entry.run_scoring(scoring, seed, greedy);
            for dataset in datasets(&common, Task::Icl)? {
                let name = dataset.spec().name;
                let Some(plan) = dataset.spec().classification else {
                    bail!("--dataset {name}: ICL needs a classification dataset");
                };
                let instruction = instruction.as_deref().unwrap_or(plan.instruction);
                let (langs, cross_source) = languages.resolve(&dataset)?;
                let run = IclRun {
                    langs,
                    cross_source,
                    selection: selection.clone(),
                    prompt: Prompt::new(instruction).with_options(options),
                    scoring,
                    ks: common.k.clone(),
                    limit: common.limit,
                };
                let mut sink = summary::Writer::new(&common.out);
                let bars = progress::Bars::default();
                run_icl(
                    &dataset,
                    &retriever,
                    generator.as_ref(),
                    &run,
                    &bars,
                    &mut sink,
                )?;
                sink.finish()?;
            }
        }
        Command::Sweep {
            spec,
            out,
            sources:
                Sources {
                    cache,
                    data_dir,
                    catalog,
                },
            device,
            force,
            shard,
            list,
        } => {
            let spec = SweepSpec::read(&spec)?;
            let shard = match shard {
                Some(text) => Some(Shard::parse(&text).context("--shard")?),
                None => Shard::from_slurm()?,
            };
            if !list {
                ensure_writable(&out)?;
            }
            let options = SweepOptions {
                out,
                cache: Some(cache.clone()),
                data: DataDir::resolve(data_dir.as_deref())?,
                force,
                shard,
            };
            let models = models(catalog.as_deref(), &device, None)?;
            if list {
                list_sweep(&spec, &models, &options)?;
            } else {
                let models = models.with_journal(Some(journal_dir(&cache)));
                let bars = progress::SweepBars::default();
                let summary = miners_sweep::run(&spec, &models, &options, &bars)?;
                bars.finish(&summary);
                if !summary.failed.is_empty() {
                    bail!(
                        "{} jobs failed: {}",
                        summary.failed.len(),
                        summary.failed.join(", ")
                    );
                }
            }
        }
        Command::Report {
            results,
            out,
            tsne,
            tsne_points,
            sources:
                Sources {
                    cache,
                    data_dir,
                    catalog,
                },
        } => {
            let out = out.unwrap_or_else(|| results.join("report"));
            for request in &tsne {
                let data = DataDir::resolve(data_dir.as_deref())?;
                let models = models(catalog.as_deref(), "cpu", None)?;
                report::tsne_plots(request, tsne_points, &data, &models, &cache, &out)?;
            }
            let records = miners_report::load_records(&results)?;
            let mined = miners_report::load_mining(&results)?;
            let summary = miners_report::write_report(&records, &mined, &out)?;
            eprintln!(
                "report: {} records, {} mining results -> {} tables, {} k-curves in {}",
                records.len(),
                mined.len(),
                summary.tables,
                summary.plots,
                out.join("REPORT.md").display()
            );
        }
        Command::Merge { into, sources } => {
            let merged = miners_sweep::merge(&into, &sources)?;
            eprintln!(
                "merge: {} files copied, {} already present and equal",
                merged.copied, merged.same
            );
        }
        Command::Data { command } => data::run(command)?,
        Command::Datasets { data_dir } => list_datasets(data_dir.as_deref())?,
    }
    Ok(())
}

/// `base` with DistFuse weights learned on `dataset`'s validation split, per
/// group of languages under `by`, each choice printed against equal weights.
fn tuned(
    dataset: &Dataset,
    base: &Retriever,
    langs: &[Lang],
    by: TuneBy,
    options: &RunOptions,
) -> Result<Vec<(Retriever, Vec<Lang>)>> {
    let k = options.ks.iter().copied().max().unwrap_or(10);
    let bars = progress::Bars::default();
    let groups = miners_eval::tune::tuned_retrievers(dataset, base, langs, k, by, &bars)?;
    for TunedGroup { group, tuned, .. } in &groups {
        let equal = tuned
            .grid
            .iter()
            .find(|(w, _)| w.windows(2).all(|p| p[0] == p[1]));
        out!(
            "{} ({group}): weights {:?} learned on the validation split ({:.2} at k = {k}; equal weights {})",
            dataset.spec().name,
            tuned.weights,
            100.0 * tuned.score,
            equal.map_or("not on the grid".into(), |(_, s)| format!(
                "{:.2}",
                100.0 * s
            ))
        );
    }
    Ok(groups.into_iter().map(|g| (g.retriever, g.langs)).collect())
}

/// The pairs of `dataset` asked for: those with source `src_lang`, or those
/// listed (all when none are); an unknown pair is an error listing the pairs.
fn selected_pairs(
    dataset: &Dataset,
    src_lang: Option<&str>,
    wanted: &[String],
) -> Result<Vec<Pair>> {
    let available = dataset.bitext_pairs()?;
    let pairs: Vec<Pair> = available
        .iter()
        .filter(|p| src_lang.is_none_or(|s| p.source.as_str() == s))
        .filter(|p| wanted.is_empty() || wanted.contains(&p.to_string()))
        .cloned()
        .collect();
    let unknown: Vec<&String> = wanted
        .iter()
        .filter(|w| !available.iter().any(|p| &p.to_string() == *w))
        .collect();
    if pairs.is_empty() || !unknown.is_empty() {
        let asked = match (src_lang, unknown.is_empty()) {
            (Some(s), true) => format!("--src-lang {s}"),
            _ => format!("--pair {}", join(&unknown)),
        };
        let names: Vec<String> = available.iter().map(Pair::to_string).collect();
        bail!(
            "{asked}: {} has no such pair; its pairs are {}",
            dataset.spec().name,
            names.join(", ")
        );
    }
    Ok(pairs)
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `P` (P to 100) or `MIN-MAX`, percentiles within 0..=100.
fn parse_percentile(text: &str) -> Result<Selection> {
    let parse = |s: &str| -> Result<f64> {
        let value: f64 = s
            .trim()
            .parse()
            .with_context(|| format!("--percentile {text}: `{s}` is not a number"))?;
        if !(0.0..=100.0).contains(&value) {
            bail!("--percentile {text}: {value} is outside 0..=100");
        }
        Ok(value)
    };
    let (min, max) = match text.split_once('-') {
        Some((min, max)) => (parse(min)?, parse(max)?),
        None => (parse(text)?, 100.0),
    };
    if min >= max {
        bail!("--percentile {text}: the window is empty");
    }
    Ok(Selection::Percentile { min, max })
}

/// The catalog named (which must exist), else `models.toml` when it exists,
/// on `device`, with an optional precision override.
fn models(catalog: Option<&Path>, device: &str, dtype: Option<DType>) -> Result<Models> {
    let default = Path::new("models.toml");
    let models = match catalog {
        Some(path) => Models::from_file(path).context("--catalog")?,
        None if default.is_file() => Models::from_file(default)?,
        None => Models::default(),
    };
    let devices = miners_encoders::spec::parse_devices(device)
        .map_err(anyhow::Error::msg)
        .context("--device")?;
    Ok(models.on_devices(devices).with_dtype(dtype))
}

/// The sweep's embedding cache, where `miners icl` journals API answers when
/// no `--cache` is given (a crash must not make a rerun pay twice).
const DEFAULT_CACHE: &str = ".cache/embeddings";

/// Where API generators journal their answers: beside the embeddings of a cache.
fn journal_dir(cache: &Path) -> PathBuf {
    cache.join("responses")
}

/// The retriever and run options of a command; `prompts` is the command's
/// default for `--prompts`.
fn prepare(common: &Common, prompts: bool) -> Result<(Retriever, RunOptions)> {
    let models = models(common.catalog.as_deref(), &common.device, common.dtype)?;
    // Each distinct --model is opened once; a repeated one is shared.
    let mut opened: HashMap<&str, Arc<dyn Encoder>> = HashMap::new();
    let mut encoders = Vec::new();
    for name in &common.models {
        let encoder = match opened.get(name.as_str()) {
            Some(encoder) => encoder.clone(),
            None => models.open_encoder(name)?,
        };
        opened.insert(name, encoder.clone());
        encoders.push(encoder);
    }
    ensure_writable(&common.out)?;
    let parts = RetrieverParts {
        weights: common.weights.clone(),
        normalization: common.normalization,
        metric: common.metric,
        hubness: common.hubness.and_then(|h| h.with_k(common.hubness_k)),
        prompts: common.prompts.unwrap_or(prompts),
    };
    let cache = common
        .cache
        .as_deref()
        .map(|dir| Arc::new(EmbeddingCache::new(dir)));
    let retriever = Retriever::assemble(encoders, &parts, cache).context("--model / --metric")?;
    let options = RunOptions {
        ks: common.k.clone(),
        limit: common.limit,
        both_directions: false,
    };
    Ok((retriever, options))
}

/// Fails now, before any work, if records cannot be written under `out`.
fn ensure_writable(out: &Path) -> Result<()> {
    // One probe per process: shards start side by side on one directory.
    let probe = out.join(format!(".miners-write-probe.{}", std::process::id()));
    std::fs::create_dir_all(out)
        .and_then(|()| miners_core::atomic_write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("--out {}: cannot write results there", out.display()))
}

/// The dataset asked for, or every dataset of the task present in the data directory.
fn datasets(common: &Common, task: Task) -> Result<Vec<Dataset>> {
    let data = DataDir::resolve(common.data_dir.as_deref())?;
    let with_option = |dataset: Dataset| -> Result<Dataset> {
        Ok(match &common.label_option {
            Some(option) => dataset.with_label_option(option)?,
            None => dataset,
        })
    };
    if let Some(name) = &common.dataset {
        return Ok(vec![with_option(Dataset::open(&data, name)?)?]);
    }
    let mut found = Vec::new();
    for spec in registry().iter().filter(|spec| task.runs_on(spec)) {
        match Dataset::open(&data, spec.name) {
            Ok(dataset) => found.push(with_option(dataset)?),
            Err(error @ DatasetError::Missing { .. }) => eprintln!("skipping: {error}"),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(found)
}

impl Languages {
    /// The test languages and the cross-lingual pool language for `dataset`
    /// (`--cross` without `--src-lang`: the dataset's usual source).
    fn resolve(&self, dataset: &Dataset) -> Result<(Vec<Lang>, Option<Lang>)> {
        let cross_source = match (self.cross, self.src_lang.as_deref()) {
            (false, Some(_)) => bail!("--src-lang needs --cross for classification"),
            (false, None) => None,
            (true, source) => Some(miners_eval::cross_source(dataset, source).context(
                if source.is_some() {
                    "--src-lang"
                } else {
                    "--cross"
                },
            )?),
        };
        let langs = self.langs.iter().map(|l| Lang::from(l.as_str())).collect();
        Ok((langs, cross_source))
    }
}

/// `miners sweep --list`: the jobs; with a shard, the plan's shard costs
/// (billions of multiply-adds) and this shard's cells.
fn list_sweep(spec: &SweepSpec, models: &Models, options: &SweepOptions) -> Result<()> {
    let Some(shard) = options.shard else {
        for (i, job) in miners_sweep::jobs(spec, &options.data)?.iter().enumerate() {
            out!("{i:>4} {}", job.name());
        }
        return Ok(());
    };
    let (jobs, plan) = miners_sweep::shard_plan(spec, models, options, shard.count)?;
    let costs = plan.costs();
    let mean = costs.iter().sum::<f64>() / costs.len() as f64;
    for (i, cost) in costs.iter().enumerate() {
        let cells = plan.cells.iter().filter(|c| c.shard == i).count();
        let mark = if i == shard.index { "*" } else { " " };
        out!(
            "shard {i}/{} {mark} {cells:>5} cells {:>12.1} GMAC {:>6.3} of the mean",
            shard.count,
            cost / 1e9,
            cost / mean.max(f64::MIN_POSITIVE)
        );
    }
    out!(
        "largest shard / mean: {:.3} (whole jobs by index modulo {}: {:.3})",
        plan.imbalance(),
        shard.count,
        plan.whole_jobs_imbalance
    );
    for cell in plan.cells.iter().filter(|c| c.shard == shard.index) {
        let job = jobs[cell.job].name();
        out!(
            "{:>4} {job} {} {:.3} GMAC",
            cell.job,
            cell.cell,
            cell.cost / 1e9
        );
    }
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
        out!(
            "{:<28} {:<22} {status}{substitute}",
            spec.name,
            tasks.join(",")
        );
    }
    Ok(())
}
