//! `miners`: run MINERS bitext retrieval, retrieval-based classification and ICL.

mod data;
mod progress;
mod report;
mod summary;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use miners_classify::Vote;
use miners_core::{Lang, Metric};
use miners_datasets::{DataDir, DatasetSpec};
use miners_encoders::spec::DType;
use miners_eval::{RetrieverParts, Task, tune::TuneBy};
use miners_fusion::Normalization;
use miners_icl::{ScoringKind, Selection};
use miners_index::HubnessChoice;
use miners_models::Models;
use miners_run::{
    BitextSpec, ClassificationSpec, IclSpec, MiningSpec, PairSelection, Pool, RetrieverSpec,
    RunSpec, RunTask, Session, Tuning,
};
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
            pairs,
            both_directions,
        } => {
            let pairs = PairSelection {
                source: src_lang,
                listed: pairs,
            };
            let task = RunTask::Bitext(BitextSpec {
                pairs,
                both_directions,
            });
            run_each_dataset(
                &common,
                common_models(&common)?,
                Task::Bitext,
                true,
                None,
                |_| Ok(Some(task.clone())),
            )?;
        }
        Command::Mine {
            mut common,
            pairs,
            seed,
        } => {
            if common.hubness.is_none() {
                common.hubness = Some(HubnessChoice::MarginRatio);
                if common.metric == Metric::Euclidean {
                    common.metric = Metric::Cosine;
                }
            }
            let pairs = PairSelection {
                source: None,
                listed: pairs,
            };
            let task = RunTask::Mining(MiningSpec { pairs, seed });
            let models = common_models(&common)?;
            run_each_dataset(&common, models, Task::Mining, true, None, |_| {
                Ok(Some(task.clone()))
            })?;
        }
        Command::Classify {
            mut common,
            languages,
            vote,
            tune_weights,
        } => {
            if tune_weights.is_some() && !common.weights.is_empty() {
                bail!(
                    "--tune-weights learns the DistFuse weights, so --weights would be ignored: give one or the other"
                );
            }
            if tune_weights.is_some() && common.models.len() < 2 {
                bail!("--tune-weights learns DistFuse weights; give two or more --model");
            }
            if tune_weights.is_some() {
                // Placeholders until the validation split decides.
                common.weights = vec![1.0; common.models.len()];
            }
            let tuning = tune_weights.map(|by| Tuning {
                by,
                langs: languages.langs(),
            });
            let all = common.all_datasets;
            let models = common_models(&common)?;
            run_each_dataset(
                &common,
                models,
                Task::Classification,
                true,
                tuning,
                |dataset| {
                    if languages.cross && all && single_language(dataset) {
                        eprintln!(
                            "skipping: {} has a single language; nothing to cross to",
                            dataset.name
                        );
                        return Ok(None);
                    }
                    Ok(Some(RunTask::Classification(ClassificationSpec {
                        langs: languages.langs(),
                        pool: languages.pool()?,
                        vote,
                    })))
                },
            )?;
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
            let selection = match (balanced, percentile) {
                (true, _) => Selection::Balanced,
                (false, Some(p)) => Selection::parse_percentile(&p)
                    .map_err(|e| anyhow::anyhow!("--percentile {p}: {e}"))?,
                (false, None) => Selection::Nearest,
            };
            let task = RunTask::Icl(IclSpec {
                generator,
                langs: languages.langs(),
                pool: languages.pool()?,
                selection,
                instruction,
                options,
                scoring,
                seed,
                greedy,
            });
            let models = common_models(&common)?.with_generator_dtype(generator_dtype);
            run_each_dataset(&common, models, Task::Icl, false, None, |_| {
                Ok(Some(task.clone()))
            })?;
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
                for line in miners_sweep::listing(&spec, &models, &options)? {
                    out!("{line}");
                }
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

/// Runs a `task` on each dataset `common` names, with the retriever its
/// flags give; `make` gives each dataset's task spec (`None` skips it) and
/// `prompts` is the command's default for `--prompts`.
fn run_each_dataset(
    common: &Common,
    models: Models,
    task: Task,
    prompts: bool,
    tuning: Option<Tuning>,
    make: impl Fn(&DatasetSpec) -> Result<Option<RunTask>>,
) -> Result<()> {
    let retriever = RetrieverSpec {
        encoders: common.models.clone(),
        parts: RetrieverParts {
            weights: common.weights.clone(),
            normalization: common.normalization,
            metric: common.metric,
            hubness: common.hubness.and_then(|h| h.with_k(common.hubness_k)),
            prompts: common.prompts.unwrap_or(prompts),
        },
        tuning,
    };
    let cache = common.cache.as_deref();
    let models = models.with_journal(Some(journal_dir(cache.unwrap_or(DEFAULT_CACHE.as_ref()))));
    let mut session = Session::new(&models, cache);
    retriever.open(&mut session).context("--model / --metric")?;
    ensure_writable(&common.out)?;
    let data = DataDir::resolve(common.data_dir.as_deref())?;
    for dataset in datasets(common, task, &data)? {
        let Some(task) = make(dataset)? else {
            continue;
        };
        let spec = RunSpec {
            dataset: dataset.name.to_owned(),
            label_option: common.label_option.clone(),
            retriever: retriever.clone(),
            ks: common.k.clone(),
            limit: common.limit,
            task,
        };
        let mut sink = summary::Writer::new(&common.out);
        miners_run::run(
            &spec,
            &mut session,
            &data,
            &progress::Bars::default(),
            &mut sink,
        )?;
        sink.finish()?;
    }
    Ok(())
}

/// Whether a classification dataset has one language, and so no cross-lingual setting.
fn single_language(dataset: &DatasetSpec) -> bool {
    dataset
        .classification
        .is_some_and(|plan| plan.cross_source.is_none())
}

/// The catalog named (which must exist), else `models.toml` when it exists,
/// on `device`, with an optional precision override for encoders.
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

/// The models of a task command, from its flags.
fn common_models(common: &Common) -> Result<Models> {
    models(common.catalog.as_deref(), &common.device, common.dtype)
}

/// The sweep's embedding cache, where `miners icl` journals API answers when
/// no `--cache` is given (a crash must not make a rerun pay twice).
const DEFAULT_CACHE: &str = ".cache/embeddings";

/// Where API generators journal their answers: beside the embeddings of a cache.
fn journal_dir(cache: &Path) -> PathBuf {
    cache.join("responses")
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
fn datasets(common: &Common, task: Task, data: &DataDir) -> Result<Vec<&'static DatasetSpec>> {
    let names = match &common.dataset {
        Some(name) => vec![name.clone()],
        None => {
            let (names, skipped) = miners_run::present_datasets(data, task, &[])?;
            for (_, error) in skipped {
                eprintln!("skipping: {error}");
            }
            names
        }
    };
    Ok(names
        .iter()
        .map(|name| DatasetSpec::find(name))
        .collect::<Result<_, _>>()?)
}

impl Languages {
    /// The test languages asked for (empty: all).
    fn langs(&self) -> Vec<Lang> {
        self.langs.iter().map(|l| Lang::from(l.as_str())).collect()
    }

    /// Where neighbours come from: `--cross` with `--src-lang` or the
    /// dataset's usual source, else each language's own pool.
    fn pool(&self) -> Result<Pool> {
        Ok(match (self.cross, &self.src_lang) {
            (false, Some(_)) => bail!("--src-lang needs --cross for classification"),
            (false, None) => Pool::Own,
            (true, source) => Pool::Cross {
                source: source.clone(),
            },
        })
    }
}

fn list_datasets(data_dir: Option<&Path>) -> Result<()> {
    let data = DataDir::resolve(data_dir).ok();
    for line in miners_datasets::registry_status(data.as_ref()) {
        out!("{line}");
    }
    Ok(())
}
