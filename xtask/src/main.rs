//! `cargo xtask`: everything needed to go from a fresh clone to results.

mod libtorch;
mod models;
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
    /// The full test suite: fetch models, fmt, clippy, tests (release).
    Test,
    /// Fetch models, build, and run the `miners` CLI with the given arguments.
    Miners {
        /// Arguments for `miners`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The full MINERS sweep over every available model and dataset.
    BenchAll {
        /// Result directory.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Keep only the first N items of each evaluated split (smoke runs).
        #[arg(long)]
        limit: Option<usize>,
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
        Task::Miners { args } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            miners(&args)
        }
        Task::BenchAll { out, limit } => {
            models::fetch_all(&root)?;
            libtorch::ensure(&root)?;
            bench_all(&out, limit)
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
    // Last, so that the test runner's summary closes the output.
    cargo(&["test", "--workspace", "--release"])
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

/// Every dataset of each task and setting, with every fetched model.
fn bench_all(out: &Path, limit: Option<usize>) -> Result<()> {
    let out = out.to_string_lossy().into_owned();
    let limit = limit.map(|l| l.to_string());
    let settings: [&[&str]; 3] = [&["bitext"], &["classify"], &["classify", "--cross"]];
    for model in models::MODELS {
        for setting in settings {
            let mut args: Vec<String> = setting.iter().map(|s| s.to_string()).collect();
            let fixed = [
                "--all-datasets",
                "--model",
                model.id,
                "--out",
                &out,
                "--cache",
                ".cache/embeddings",
            ];
            args.extend(fixed.map(String::from));
            if let Some(limit) = &limit {
                args.extend(["--limit".into(), limit.clone()]);
            }
            miners(&args)?;
        }
    }
    Ok(())
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
        let lib = libtorch.join("lib");
        let path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        command
            .env("LIBTORCH", &libtorch)
            .env("LD_LIBRARY_PATH", format!("{}:{path}", lib.display()));
    }
    let status = command.status()?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
