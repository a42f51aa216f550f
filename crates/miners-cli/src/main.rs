//! `miners`: flags into `miners-run`'s run specs, the sweep's and the
//! report's options; progress bars and printing. Nothing here runs a task.

mod data;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use miners_datasets::{DataDir, Dataset};
use miners_encoders::spec::DType;
use miners_eval::{EmbeddingCache, ResultsDir, tune::TuneBy};
use miners_icl::SelectionArgs;
use miners_models::{ModelSources, Models};
use miners_report::{Summarised, ViewOptions};
use miners_run::{
    BitextSpec, ClassificationSpec, FineTuneSpec, IclSpec, MiningSpec, PoolArgs, RetrieverSpec,
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
        run: RunArgs,
        #[command(flatten)]
        task: BitextSpec,
    },
    /// BUCC-style bitext mining: mutual best pairs by LASER's ratio margin
    /// (k = 4, over cosine) unless --hubness says otherwise; records under
    /// `<out>/mining/`.
    Mine {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        task: MiningSpec,
    },
    /// Retrieval-based classification: the k nearest labelled texts vote.
    Classify {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        task: ClassificationSpec,
        #[command(flatten)]
        pool: PoolArgs,
        /// Learn DistFuse's weights on each dataset's validation split (a
        /// grid over the simplex, step 0.1, the headline metric at the
        /// largest --k), for the whole dataset (`dataset`, the default) or per
        /// language family (`family`, Glottolog's top level), then score the
        /// test split with them, recording where they were learned. Needs two
        /// or more --model.
        #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "dataset")]
        tune_weights: Option<TuneBy>,
    },
    /// The reference's fine-tuned baseline: the encoder with a classification
    /// head, trained on each language's training split (transformers'
    /// `Trainer` recipe), scored on its test split; records carry k = 0.
    Finetune {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        task: FineTuneSpec,
        /// `--cross`: one model trained on --src-lang scores every other
        /// language (the reference's `--cross` trains per language anyway;
        /// records say `cross` and the source).
        #[command(flatten)]
        pool: PoolArgs,
    },
    /// In-context learning: retrieved demonstrations in a prompt, a generator scores the labels.
    Icl {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        task: IclSpec,
        #[command(flatten)]
        pool: PoolArgs,
        /// How the generator's weights are held (recorded as `<generator>@<dtype>`;
        /// default float32, as the reference loads its generators).
        #[arg(long, value_enum)]
        generator_dtype: Option<DType>,
        #[command(flatten)]
        selection: SelectionArgs,
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
        sources: CachedSources,
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
        #[command(flatten)]
        views: ViewOptions,
        #[command(flatten)]
        sources: CachedSources,
    },
    /// Write result records in another tool's results format: `mteb` writes
    /// MTEB 2.x `TaskResult` files (`<model>/<revision>/<Task>.json`) for
    /// every record whose data MTEB carries (docs/results.md).
    Export {
        /// The format.
        #[arg(long, value_enum)]
        format: ResultsFormat,
        /// Result directory (or packed records) to read.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Directory for the exported files.
        #[arg(long)]
        out: PathBuf,
        /// Also export kNN classification at this k, as MTEB experiments
        /// (MTEB itself scores classification with a logistic regression).
        #[arg(long)]
        knn_k: Option<usize>,
    },
    /// Read another tool's results into a result directory, so that reports
    /// put them beside miners' own: `mteb` reads MTEB results
    /// (`<model>/<revision>/<Task>.json`) of the tasks that carry MINERS' data.
    Import {
        /// The format.
        #[arg(long, value_enum)]
        format: ResultsFormat,
        /// The directory of results to read.
        #[arg(long)]
        results: PathBuf,
        /// Result directory to write records into.
        #[arg(long, default_value = "results")]
        out: PathBuf,
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

/// A results format of another tool.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ResultsFormat {
    /// MTEB 2.x `TaskResult` files.
    Mteb,
}

/// What every task command takes besides its task: datasets, the retriever,
/// k and the item limit, where records go and where models come from.
#[derive(Args)]
struct RunArgs {
    /// Dataset name (see `miners datasets`).
    #[arg(long, required_unless_present = "all_datasets")]
    dataset: Option<String>,
    /// Every dataset of the task that the data directory has.
    #[arg(long, conflicts_with = "dataset")]
    all_datasets: bool,
    #[command(flatten)]
    retriever: RetrieverSpec,
    /// A label option of the dataset, a named deviation from the reference
    /// recorded in the results (`fold-not-tamil` for FIRE).
    #[arg(long)]
    label_option: Option<String>,
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
    /// Embedding cache directory: each text is encoded once per model and
    /// prompt, across runs (API generators journal their answers under
    /// `<cache>/responses`, by default `.cache/embeddings/responses`).
    #[arg(long, env = "MINERS_CACHE")]
    cache: Option<PathBuf>,
    #[command(flatten)]
    sources: Sources,
    /// Precision override for transformer encoders (recorded as
    /// `<model>@<dtype>`): bfloat16 runs on CUDA or a CPU with AMX /
    /// AVX512-BF16, float16 on CUDA only, int8 is weight-only.
    #[arg(long, value_enum)]
    dtype: Option<DType>,
}

/// Where data and models come from, and the device models run on.
#[derive(Args)]
struct Sources {
    /// Data directory (default: $MINERS_DATA_DIR, ./shared/data/miners, ../shared/data/miners).
    #[arg(long, env = "MINERS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    models: ModelSources,
}

/// The sweep's and the report's sources: models and data, with a cache.
#[derive(Args)]
struct CachedSources {
    /// Embedding cache directory.
    #[arg(long, env = "MINERS_CACHE", default_value = DEFAULT_CACHE)]
    cache: PathBuf,
    #[command(flatten)]
    inputs: Sources,
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
    for text in error.chain().map(ToString::to_string) {
        if !message.contains(&text) {
            let separator = if message.is_empty() { "" } else { ": " };
            message = format!("{message}{separator}{text}");
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
        Command::Bitext { run, task } => run.each_dataset(None, RunTask::Bitext(task))?,
        Command::Mine { mut run, task } => {
            miners_run::laser_ranking(&mut run.retriever);
            run.each_dataset(None, RunTask::Mining(task))?
        }
        Command::Classify {
            mut run,
            mut task,
            pool,
            tune_weights,
        } => {
            if let Some(by) = tune_weights {
                let langs = task.langs.clone();
                (run.retriever.learn_weights(Tuning { by, langs })).context("--tune-weights")?;
            }
            task.pool = pool.pool();
            run.each_dataset(None, RunTask::Classification(task))?
        }
        Command::Finetune {
            mut run,
            mut task,
            pool,
        } => {
            run.k = vec![0];
            task.pool = pool.pool();
            run.each_dataset(None, RunTask::FineTune(task))?
        }
        Command::Icl {
            run,
            mut task,
            pool,
            generator_dtype,
            selection,
        } => {
            task.pool = pool.pool();
            task.selection = selection.selection().map_err(anyhow::Error::msg)?;
            run.each_dataset(generator_dtype, RunTask::Icl(task))?
        }
        Command::Sweep {
            spec,
            out,
            sources,
            force,
            shard,
            list,
        } => {
            let spec = SweepSpec::read(&spec)?;
            let shard = match shard {
                Some(text) => Some(Shard::parse(&text).context("--shard")?),
                None => Shard::from_slurm()?,
            };
            let models = sources.inputs.models(None)?;
            let options = SweepOptions {
                out,
                cache: Some(sources.cache.clone()),
                data: sources.inputs.data()?,
                force,
                shard,
            };
            if list {
                for line in miners_sweep::listing(&spec, &models, &options)? {
                    out!("{line}");
                }
                return Ok(());
            }
            ensure_writable(&options.out)?;
            let models = models.with_journal(Some(sources.cache.join("responses")));
            let bars = miners_sweep::SweepBars::default();
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
        Command::Report {
            results,
            out,
            tsne,
            views,
            sources,
        } => {
            let out = out.unwrap_or_else(|| results.join("report"));
            for request in &tsne {
                tsne_plots(request, &views, &sources, &out)
                    .with_context(|| format!("--tsne {request}"))?;
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
        Command::Export {
            format: ResultsFormat::Mteb,
            results,
            out,
            knn_k,
        } => {
            let records = miners_report::load_records(&results)?;
            let options = miners_report::mteb::ExportOptions { knn_k };
            let summary = miners_report::mteb::export(&records, &options, &out)?;
            eprintln!(
                "export: {} records into {} MTEB result files under {}",
                summary.records,
                summary.files,
                out.display()
            );
            for (reason, count) in &summary.skipped {
                eprintln!("export: {count} records left out: {reason}");
            }
        }
        Command::Import {
            format: ResultsFormat::Mteb,
            results,
            out,
        } => {
            let imported = miners_report::mteb::import(&results)?;
            for record in &imported.records {
                record.write(&out)?;
            }
            eprintln!(
                "import: {} records from MTEB results under {} into {}",
                imported.records.len(),
                results.display(),
                out.display()
            );
            for (reason, count) in &imported.skipped {
                eprintln!("import: {count} left out: {reason}");
            }
        }
        Command::Merge { into, sources } => {
            let merged = miners_sweep::merge(&into, &sources)?;
            eprintln!(
                "merge: {} files copied, {} already present and equal",
                merged.copied, merged.same
            );
        }
        Command::Data { command } => data::run(command)?,
        Command::Datasets { data_dir } => {
            let data = DataDir::resolve(data_dir.as_deref()).ok();
            for line in miners_datasets::registry_status(data.as_ref()) {
                out!("{line}");
            }
        }
    }
    Ok(())
}

impl RunArgs {
    /// Runs `task` on the dataset asked for, or on every dataset of the task
    /// the data directory has, with generators held in `generator_dtype`;
    /// prints each dataset's summary.
    fn each_dataset(&self, generator_dtype: Option<DType>, task: RunTask) -> Result<()> {
        let cache = self.cache.as_deref().unwrap_or(DEFAULT_CACHE.as_ref());
        let models = self
            .sources
            .models(self.dtype)?
            .with_generator_dtype(generator_dtype)
            .with_journal(Some(cache.join("responses")));
        let mut session = Session::new(&models, self.cache.as_deref());
        // Model and ranking errors come before any work.
        self.retriever
            .open(&mut session)
            .context("--model / --metric")?;
        ensure_writable(&self.out)?;
        let data = self.sources.data()?;
        let spec = RunSpec {
            dataset: self.dataset.clone().unwrap_or_default(),
            label_option: self.label_option.clone(),
            retriever: self.retriever.clone(),
            ks: self.k.clone(),
            limit: self.limit,
            task,
        };
        let specs = match self.dataset {
            Some(_) => vec![spec],
            None => {
                let (specs, skipped) = miners_run::on_present_datasets(&spec, &data)?;
                skipped.iter().for_each(|why| eprintln!("skipping: {why}"));
                specs
            }
        };
        for spec in &specs {
            let mut sink = Summarised::new(ResultsDir::new(&self.out));
            let bars = miners_sweep::StepBars::default();
            miners_run::run(spec, &mut session, &data, &bars, &mut sink)?;
            use std::io::Write as _;
            write!(std::io::stdout().lock(), "{}", sink.table())?;
        }
        Ok(())
    }
}

impl Sources {
    /// The models, with encoders in `dtype`.
    fn models(&self, dtype: Option<DType>) -> Result<Models> {
        Ok(self.models.models()?.with_dtype(dtype))
    }

    /// The data directory.
    fn data(&self) -> Result<DataDir> {
        Ok(DataDir::resolve(self.data_dir.as_deref())?)
    }
}

/// The sweep's embedding cache, where `miners icl` journals API answers when
/// no `--cache` is given (a crash must not make a rerun pay twice).
const DEFAULT_CACHE: &str = ".cache/embeddings";

/// Fails now, before any work, if records cannot be written under `out`.
fn ensure_writable(out: &Path) -> Result<()> {
    ResultsDir::new(out)
        .check_writable()
        .with_context(|| format!("--out {}: cannot write results there", out.display()))
}

/// `plots/tsne-<dataset>-<encoder>-*.svg` under `out` for `DATASET:ENCODER`.
fn tsne_plots(
    request: &str,
    views: &ViewOptions,
    sources: &CachedSources,
    out: &Path,
) -> Result<()> {
    let (dataset, encoder) = request
        .split_once(':')
        .context("expected DATASET:ENCODER")?;
    let dataset = Dataset::open(&sources.inputs.data()?, dataset)?;
    let encoder = sources.inputs.models(None)?.open_encoder(encoder)?;
    let cache = Some(std::sync::Arc::new(EmbeddingCache::new(&sources.cache)));
    miners_report::tsne_views(&dataset, encoder, cache, views, &out.join("plots"))?;
    Ok(())
}
