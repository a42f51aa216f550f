//! `cargo xtask gpu-check`: miners on a CUDA device against
//! sentence-transformers on the same device, and a generator in bfloat16 and
//! int8 against its float32 CPU scores (`benches/gpu_check.py` prints the
//! tables). It builds against the libtorch inside a Python environment's CUDA
//! `torch` (the interop environment's by default, whose PyPI wheel is a CUDA
//! 13 build), in its own target directory, so that the CPU build is left as
//! it is. `--device cpu` is a dry run of every step on a machine without a GPU.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{interop, libtorch, models, python::status};

/// What `gpu-check` is asked to do.
pub struct Options {
    /// A Python with torch 2.11 and sentence-transformers; default: the interop environment.
    pub python: Option<PathBuf>,
    /// `cuda:N`, or `cpu` for the dry run.
    pub device: String,
    /// Sentences each encoder encodes.
    pub sentences: usize,
}

/// What the Python's torch says of itself.
struct Torch {
    version: String,
    dir: PathBuf,
    cuda_devices: usize,
}

pub fn run(root: &Path, options: &Options) -> Result<()> {
    models::fetch_all(root)?;
    let python = match &options.python {
        Some(python) => python.clone(),
        None => interop::python(root)?,
    };
    let torch = ask_torch(&python)?;
    let wanted = libtorch::TORCH.version;
    if !torch.version.starts_with(wanted) {
        bail!(
            "{}'s torch is {}; tch needs libtorch {wanted}",
            python.display(),
            torch.version
        );
    }
    if options.device != "cpu" && torch.cuda_devices == 0 {
        bail!(
            "{}'s torch sees no CUDA device (use --device cpu for a dry run)",
            python.display()
        );
    }
    let target = root.join("target").join("gpu");
    build(&torch.dir, &target)?;
    let lib = torch.dir.join("lib");
    status(
        Command::new(&python)
            .arg(root.join("benches/gpu_check.py"))
            .arg("--bin-dir")
            .arg(target.join("release"))
            .args(["--device", &options.device])
            .args(["--n", &options.sentences.to_string()])
            .env("LD_LIBRARY_PATH", libtorch::library_path(&lib)),
    )
}

/// The version, directory and CUDA devices of `python`'s torch.
fn ask_torch(python: &Path) -> Result<Torch> {
    let script = "import json, os, torch; print(json.dumps([torch.__version__, \
                  os.path.dirname(torch.__file__), torch.cuda.device_count()]))";
    let output = Command::new(python)
        .args(["-c", script])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "{} cannot import torch: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (version, dir, cuda_devices): (String, PathBuf, usize) =
        serde_json::from_slice(&output.stdout).context("torch's answer")?;
    Ok(Torch {
        version,
        dir,
        cuda_devices,
    })
}

/// The CLI and the two bench binaries, against the libtorch in `torch_dir`.
fn build(torch_dir: &Path, target: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "xtask: building against {} into {}",
        torch_dir.display(),
        target.display()
    );
    status(
        Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "miners-cli",
                "-p",
                "miners-benches",
            ])
            .args([
                "--bin",
                "miners",
                "--bin",
                "encode-timing",
                "--bin",
                "dtype-drift",
            ])
            .env("LIBTORCH", torch_dir)
            .env(
                "LD_LIBRARY_PATH",
                libtorch::library_path(&torch_dir.join("lib")),
            )
            .env("CARGO_TARGET_DIR", target),
    )
}
