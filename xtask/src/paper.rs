//! `cargo xtask paper-check`: each of the paper's open models fetched from
//! the Hub (or `HF_ENDPOINT`), loaded and run on a small slice, one table row
//! per model: files, download-load-run seconds, peak memory, dtype, device,
//! score. Encoders run bitext on NusaX eng-ban (F1 at k = 1), generators
//! one-shot ICL on NusaX Indonesian (macro-F1; demonstrations by the static model).
//!
//! `--test-hub` runs the same check offline against a Hub-protocol server on
//! 127.0.0.1 serving the real models of this project re-saved in the
//! published layouts (`xtask/paper/resave.py`: float32 `.bin` shards,
//! bfloat16 safetensors shards, e5-small with only a SentencePiece model) and
//! the tiny fixture of every paper architecture (`fixtures/layouts`); each
//! real model is also run from its local float32 directory, and the score
//! through the Hub is compared with it.

#[path = "../../crates/miners-hub/tests/support/hub_server.rs"]
mod hub_server;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{interop, path, python};

/// How a model is checked.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Encoder,
    Generator,
}

/// One model to check: its catalog id, repository and role, and, in the
/// test Hub, the directory served and the local float32 directory to compare with.
struct Check {
    id: String,
    repo: String,
    role: Role,
    served: Option<PathBuf>,
    local: Option<PathBuf>,
}

/// What one run gave.
struct Outcome {
    score: f64,
    seconds: f64,
    peak_mib: f64,
    files: usize,
    megabytes: f64,
}

/// Options shared by every run.
pub struct Options {
    pub catalog: PathBuf,
    /// Test items of each ICL check.
    pub icl_limit: usize,
    /// Sentence pairs of each bitext check.
    pub bitext_limit: usize,
    pub device: String,
    pub generator_dtype: Option<String>,
    pub test_hub: bool,
}

pub fn run(root: &Path, options: &Options) -> Result<()> {
    let data = root.join("../shared/data/miners");
    let work = tempfile::tempdir()?;
    let hf_home = work.path().join("hf-home");
    let (checks, catalog) = match options.test_hub {
        true => test_hub_checks(root, work.path())?,
        false => (catalog_checks(&options.catalog)?, options.catalog.clone()),
    };
    println!(
        "| model | repository | role | files | MB | seconds | peak MiB | dtype | device | score | local float32 | Δ |"
    );
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |");
    let mut failures = Vec::new();
    for check in &checks {
        let server = check.served.as_ref().map(|dir| {
            let repo = hub_server::FixtureRepo::model_from_dir(&check.repo, dir);
            hub_server::serve_for(vec![repo], None, Duration::from_secs(1800))
        });
        let endpoint = server.as_ref().map(|s| s.url.clone());
        let outcome = run_one(
            root,
            options,
            &catalog,
            &data,
            check,
            &hf_home,
            endpoint.as_deref(),
            work.path(),
        );
        let local = match &check.local {
            Some(dir) => Some(run_local(root, options, &data, check, dir, work.path())?),
            None => None,
        };
        match outcome {
            Ok(outcome) => print_row(check, options, &outcome, local, &mut failures),
            Err(error) => {
                println!(
                    "| {} | {} | {} | failed: {error:#} |",
                    check.id,
                    check.repo,
                    role_name(check.role)
                );
                failures.push(check.id.clone());
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "paper-check: {} failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Encoder => "bitext",
        Role::Generator => "ICL",
    }
}

fn print_row(
    check: &Check,
    options: &Options,
    outcome: &Outcome,
    local: Option<f64>,
    failures: &mut Vec<String>,
) {
    let dtype = match check.role {
        Role::Generator => options.generator_dtype.as_deref().unwrap_or("float32"),
        Role::Encoder => "float32",
    };
    let (local_text, delta_text) = match local {
        Some(local) => {
            let delta = outcome.score - local;
            let float32_layout = !check.repo.contains("bf16");
            if float32_layout && dtype == "float32" && delta != 0.0 {
                failures.push(format!("{} (Δ {delta:e} for a float32 layout)", check.id));
            }
            (format!("{local:.4}"), format!("{delta:+.4}"))
        }
        None => ("".into(), "".into()),
    };
    println!(
        "| {} | {} | {} | {} | {:.1} | {:.1} | {:.0} | {dtype} | {} | {:.4} | {local_text} | {delta_text} |",
        check.id,
        check.repo,
        role_name(check.role),
        outcome.files,
        outcome.megabytes,
        outcome.seconds,
        outcome.peak_mib,
        options.device,
        outcome.score,
    );
}

/// The hub entries of a catalog: `[[model]]` encoders and `[[generator]]`s.
fn catalog_checks(catalog: &Path) -> Result<Vec<Check>> {
    let text = std::fs::read_to_string(catalog).with_context(|| catalog.display().to_string())?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| catalog.display().to_string())?;
    let mut checks = Vec::new();
    for (table, role) in [("model", Role::Encoder), ("generator", Role::Generator)] {
        let entries = value
            .get(table)
            .and_then(|t| t.as_array())
            .cloned()
            .unwrap_or_default();
        for entry in entries {
            let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).map(str::to_owned);
            if let (Some(id), Some(repo), Some("hub")) =
                (field("id"), field("repo"), field("backend").as_deref())
            {
                checks.push(Check {
                    id,
                    repo,
                    role,
                    served: None,
                    local: None,
                });
            }
        }
    }
    Ok(checks)
}

/// The test Hub's repositories and a catalog naming them.
fn test_hub_checks(root: &Path, work: &Path) -> Result<(Vec<Check>, PathBuf)> {
    let resaved = root.join(".cache/paper-check/resaved");
    let python = interop::python(root)?;
    python::status(
        Command::new(&python)
            .arg(root.join("xtask/paper/resave.py"))
            .arg(root.join("models"))
            .arg(&resaved),
    )?;
    let mut checks = Vec::new();
    let real = [
        (
            "minilm-l6",
            Role::Encoder,
            &["sharded-bin", "sharded-bf16"][..],
        ),
        (
            "e5-small",
            Role::Encoder,
            &["sharded-bin", "sharded-bf16", "sentencepiece"][..],
        ),
        (
            "smollm2-135m",
            Role::Generator,
            &["sharded-bin", "sharded-bf16"][..],
        ),
        (
            "qwen2.5-0.5b",
            Role::Generator,
            &["sharded-bin", "sharded-bf16"][..],
        ),
        (
            "gemma3-270m",
            Role::Generator,
            &["sharded-bin", "sharded-bf16"][..],
        ),
    ];
    for (model, role, layouts) in real {
        for layout in layouts {
            checks.push(Check {
                id: format!("{model}-{layout}"),
                repo: format!("miners-paper-check/{model}-{layout}"),
                role,
                served: Some(resaved.join(model).join(layout)),
                local: Some(root.join("models").join(model)),
            });
        }
    }
    let tiny = [
        ("tiny-bert", Role::Encoder),
        ("tiny-xlmr", Role::Encoder),
        ("bloom", Role::Generator),
        ("xglm", Role::Generator),
        ("llama", Role::Generator),
        ("gemma", Role::Generator),
        ("gemma2", Role::Generator),
        ("mistral", Role::Generator),
        ("cohere", Role::Generator),
        ("mt5", Role::Generator),
    ];
    for (model, role) in tiny {
        checks.push(Check {
            id: format!("{model}-sharded-bf16"),
            repo: format!("miners-paper-check/{model}-sharded-bf16"),
            role,
            served: Some(
                root.join("fixtures/layouts")
                    .join(model)
                    .join("sharded-bf16"),
            ),
            local: None,
        });
    }
    let mut catalog = String::new();
    for check in &checks {
        let table = match check.role {
            Role::Encoder => "model",
            Role::Generator => "generator",
        };
        catalog.push_str(&format!(
            "[[{table}]]\nid = \"{}\"\nbackend = \"hub\"\nrepo = \"{}\"\n\n",
            check.id, check.repo
        ));
    }
    let path = work.join("paper-check.toml");
    std::fs::write(&path, catalog)?;
    Ok((checks, path))
}

/// `miners` with the arguments of one check's task, writing under `out`.
fn task_args(
    check: &Check,
    model: &str,
    options: &Options,
    data: &Path,
    out: &Path,
    static_model: &Path,
) -> Vec<String> {
    let limit = match check.role {
        Role::Encoder => options.bitext_limit,
        Role::Generator => options.icl_limit,
    }
    .to_string();
    let mut args: Vec<String> = match check.role {
        Role::Encoder => [
            "bitext",
            "--dataset",
            "nusax",
            "--pair",
            "eng-ban",
            "--k",
            "1",
            "--model",
            model,
        ]
        .map(String::from)
        .to_vec(),
        Role::Generator => {
            let mut args: Vec<String> = [
                "icl",
                "--dataset",
                "nusax",
                "--lang",
                "ind",
                "--k",
                "1",
                "--generator",
                model,
            ]
            .map(String::from)
            .to_vec();
            args.extend(["--retriever".into(), path(static_model)]);
            if let Some(dtype) = &options.generator_dtype {
                args.extend(["--generator-dtype".into(), dtype.clone()]);
            }
            args
        }
    };
    args.extend([
        "--limit".into(),
        limit,
        "--device".into(),
        options.device.clone(),
    ]);
    args.extend(["--data-dir".into(), path(data), "--out".into(), path(out)]);
    args
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    root: &Path,
    options: &Options,
    catalog: &Path,
    data: &Path,
    check: &Check,
    hf_home: &Path,
    endpoint: Option<&str>,
    work: &Path,
) -> Result<Outcome> {
    let out = work.join("hub").join(&check.id);
    let mut args = task_args(
        check,
        &check.id,
        options,
        data,
        &out,
        &root.join("models/static-tokenlearn"),
    );
    args.extend(["--catalog".into(), path(catalog)]);
    let mut command = miners_command(root, &args);
    command.env("HF_HOME", hf_home);
    if let Some(endpoint) = endpoint {
        command.env("HF_ENDPOINT", endpoint).env_remove("HF_TOKEN");
    }
    let started = Instant::now();
    run_command(&mut command)?;
    let seconds = started.elapsed().as_secs_f64();
    let (score, peak_mib, source) = record(&out)?;
    let (files, megabytes) = snapshot_size(hf_home, &source);
    Ok(Outcome {
        score,
        seconds,
        peak_mib,
        files,
        megabytes,
    })
}

fn run_local(
    root: &Path,
    options: &Options,
    data: &Path,
    check: &Check,
    dir: &Path,
    work: &Path,
) -> Result<f64> {
    let out = work.join("local").join(&check.id);
    let args = task_args(
        check,
        &path(dir),
        options,
        data,
        &out,
        &root.join("models/static-tokenlearn"),
    );
    run_command(&mut miners_command(root, &args))?;
    Ok(record(&out)?.0)
}

fn miners_command(root: &Path, args: &[String]) -> Command {
    let binary = root.join("target/release/miners");
    let mut command = Command::new(binary);
    command.args(args).current_dir(root);
    if let Some(libtorch) = crate::libtorch::location(root) {
        command.env("LD_LIBRARY_PATH", libtorch.join("lib"));
    }
    command
}

fn run_command(command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| format!("{command:?}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("{}", stderr.lines().last().unwrap_or("failed"));
    }
    Ok(())
}

/// The score (bitext F1 or ICL accuracy), peak memory and source of the one record under `out`.
fn record(out: &Path) -> Result<(f64, f64, String)> {
    let file = crate::files_under(out)?
        .into_iter()
        .find(|file| file.to_string_lossy().ends_with(".k1.json"))
        .with_context(|| format!("no k = 1 record under {}", out.display()))?;
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    let metrics = &record["metrics"];
    let score = metrics["f1"]
        .as_f64()
        .or(metrics["accuracy"].as_f64())
        .unwrap_or(f64::NAN);
    let source = record["model"]["source"]
        .as_str()
        .or(record["generator"]["source"].as_str())
        .unwrap_or("")
        .to_owned();
    let peak = record["peak_rss_mib"].as_f64().unwrap_or(f64::NAN);
    Ok((score, peak, source))
}

/// Files and megabytes of the snapshot `source` (`hf:org/name@commit`) in the Hub cache.
fn snapshot_size(hf_home: &Path, source: &str) -> (usize, f64) {
    let Some((repo, commit)) = source.strip_prefix("hf:").and_then(|s| s.split_once('@')) else {
        return (0, 0.0);
    };
    let dir = hf_home
        .join("hub")
        .join(format!("models--{}", repo.replace('/', "--")))
        .join("snapshots")
        .join(commit);
    let files = crate::files_under(&dir).unwrap_or_default();
    let bytes: u64 = files
        .iter()
        .map(|file| std::fs::metadata(file).map_or(0, |m| m.len()))
        .sum();
    (files.len(), bytes as f64 / 1e6)
}
