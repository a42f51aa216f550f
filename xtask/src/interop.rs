//! `cargo xtask interop`: the directories miners imports load in the paper's
//! era of Python libraries (transformers 4.44.2, sentence-transformers 3.0.1),
//! checked by `fixtures/check_transformers4.py`, miners-fusion's pair API
//! equals the `distfuse` package's (`fixtures/check_distfuse.py`) and
//! miners' fine-tuning equals transformers' `Trainer`
//! (`fixtures/check_finetune.py`), miners' MTEB export and import load in
//! and read the `mteb` package's results (`fixtures/check_mteb.py`) and the
//! `miners` Python package passes its tests (`crates/miners-py/tests`), in a
//! virtual environment under `.cache/interop-venv` (torch from the same pinned
//! wheel as libtorch).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};

use crate::{
    libtorch, models,
    python::{status, venv},
    wheels,
};

/// What the environment holds; a change rebuilds it. sentencepiece and
/// protobuf are transformers' slow-tokenizer conversion (the tokenizer
/// fixtures and `paper-check`'s SentencePiece-only e5-small); `distfuse` is
/// the package miners-fusion's pair API is checked against (it imports the
/// cohere and openai SDKs).
const PACKAGES: &[&str] = &[
    "transformers==4.44.2",
    "sentence-transformers==3.0.1",
    "sentencepiece==0.2.3",
    "protobuf==7.36.2",
    "distfuse==0.1.4",
    "cohere==5.18.0",
    "openai==1.109.1",
    // transformers' Trainer needs it (the fine-tuning parity check).
    "accelerate==0.34.2",
    // The `miners` Python package: built with maturin, tested with pytest.
    "maturin==1.16.0",
    "pytest==8.4.2",
    // MTEB's result format, task metadata and evaluators (the export check
    // and `cargo xtask mteb-peer`).
    "mteb==2.26.24",
];

pub fn run(root: &Path) -> Result<()> {
    models::fetch_all(root)?;
    let python = python(root)?;
    status(Command::new(&python).arg(root.join("fixtures/check_transformers4.py")))?;
    // miners-fusion's score_pairs / score_references against the distfuse
    // package; miners' fine-tuning against transformers' Trainer.
    for (bin, script) in [
        ("distfuse-pairs", "fixtures/check_distfuse.py"),
        ("finetune-steps", "fixtures/check_finetune.py"),
    ] {
        let build = [
            "build",
            "--quiet",
            "--release",
            "-p",
            "miners-benches",
            "--bin",
            bin,
        ];
        crate::cargo(&build)?;
        let binary = root.join("target/release").join(bin);
        status(Command::new(&python).arg(root.join(script)).arg(binary))?;
    }
    // The records of record, exported to MTEB's format, load in `mteb`.
    crate::cargo(&["build", "--quiet", "--release", "-p", "miners-cli"])?;
    let miners = root.join("target/release/miners");
    status(
        Command::new(&python)
            .arg(root.join("fixtures/check_mteb.py"))
            .arg(&miners),
    )?;
    python_package(root, &python)
}

/// `cargo xtask mteb-peer`: MTEB's own evaluators against miners on e5-small
/// (`fixtures/mteb_peer.py`), the table written to `markdown` when given.
pub fn mteb_peer(root: &Path, markdown: Option<&Path>) -> Result<()> {
    models::fetch_all(root)?;
    let python = python(root)?;
    crate::cargo(&["build", "--quiet", "--release", "-p", "miners-cli"])?;
    let mut check = Command::new(&python);
    check
        .arg(root.join("fixtures/mteb_peer.py"))
        .arg(root.join("target/release/miners"));
    if let Some(markdown) = markdown {
        check.arg("--markdown").arg(markdown);
    }
    status(&mut check)
}

/// Builds the `miners` wheel, installs it in this environment and runs its
/// tests against sentence-transformers, the `distfuse` package and NumPy.
/// The wheel links the provisioned libtorch: the same torch 2.11 wheel's
/// libraries that the environment's torch loads (users build with
/// `LIBTORCH_USE_PYTORCH=1` instead; here that would rebuild torch-sys, and
/// everything above it, for the workspace's next build).
fn python_package(root: &Path, python: &Path) -> Result<()> {
    let wheels = tempfile::tempdir()?;
    let bin = python.parent().expect("a venv's bin directory");
    let build = ["build", "--release", "--quiet", "--auditwheel", "skip"];
    status(
        Command::new(bin.join("maturin"))
            .args(build)
            .arg("-i")
            .arg(python)
            .arg("-m")
            .arg(root.join("crates/miners-py/Cargo.toml"))
            .arg("-o")
            .arg(wheels.path())
            .env_remove("LIBTORCH_USE_PYTORCH")
            .env_remove("VIRTUAL_ENV"),
    )?;
    install_wheels(python, wheels.path(), "--force-reinstall")?;
    readme_example(root, python, wheels.path())?;
    // From elsewhere than the source tree, so that `import miners` is the wheel.
    status(
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(root.join("crates/miners-py/tests"))
            .current_dir(wheels.path())
            .env_remove("LD_LIBRARY_PATH")
            .env("HF_HUB_OFFLINE", "1"),
    )
}

/// The README's Python example, as it stands there, run from the repository
/// root in a fresh virtual environment into which pip installs the wheel;
/// torch and NumPy come from the interop environment through a `.pth` file,
/// as they would from a user's own, and `pip check` finds the wheel's
/// declared dependencies met.
fn readme_example(root: &Path, python: &Path, wheels: &Path) -> Result<()> {
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let section = readme
        .split("## From Python")
        .nth(1)
        .context("README.md has no `## From Python` section")?;
    let example = section
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .context("README.md's `## From Python` has no Python example")?;
    let fresh = tempfile::tempdir()?;
    let venv = fresh.path().join("venv");
    status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let fresh_python = venv.join("bin/python");
    let site = purelib(python)?;
    std::fs::write(
        purelib(&fresh_python)?.join("interop.pth"),
        site.as_os_str().as_encoded_bytes(),
    )?;
    // The wheel itself, even where the interop environment has one too.
    install_wheels(&fresh_python, wheels, "--ignore-installed")?;
    // Its declared dependencies (torch 2.11, NumPy) are met, and `import
    // miners` is the fresh copy.
    status(Command::new(&fresh_python).args(["-m", "pip", "check", "--quiet"]))?;
    let which = "import miners, sys; sys.exit(not miners.__file__.startswith(sys.prefix))";
    status(Command::new(&fresh_python).args(["-c", which]))?;
    let script = fresh.path().join("readme_example.py");
    std::fs::write(&script, example)?;
    status(
        Command::new(&fresh_python)
            .arg(&script)
            .current_dir(root)
            .env_remove("LD_LIBRARY_PATH")
            .env("HF_HUB_OFFLINE", "1"),
    )
}

/// Installs every wheel in `dir` into `python`'s environment, without
/// dependencies, `how` saying over what is there (`--force-reinstall`,
/// `--ignore-installed`).
fn install_wheels(python: &Path, dir: &Path, how: &str) -> Result<()> {
    for wheel in std::fs::read_dir(dir)? {
        let pip = ["-m", "pip", "install", "--quiet", "--no-deps", how];
        status(Command::new(python).args(pip).arg(wheel?.path()))?;
    }
    Ok(())
}

/// Where `python`'s environment keeps pure-Python packages (`site-packages`).
fn purelib(python: &Path) -> Result<PathBuf> {
    let asked = "import sysconfig; print(sysconfig.get_paths()['purelib'])";
    let out = Command::new(python).args(["-c", asked]).output()?;
    if !out.status.success() {
        anyhow::bail!("{}: could not say where its packages go", python.display());
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// The interop environment's Python, built first where it is missing or stale.
pub fn python(root: &Path) -> Result<PathBuf> {
    let torch = wheels::download(root, &libtorch::TORCH)?;
    let stamp = format!("{} {}", libtorch::TORCH.sha256, PACKAGES.join(" "));
    venv(root, "interop-venv", &stamp, |pip| {
        pip.arg(&torch).args(PACKAGES);
    })
}
