//! Python environments the xtask commands build under `.cache/<name>`, and
//! running a command that must succeed.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// A virtual environment under `.cache/<name>`, rebuilt when `stamp` changes.
pub fn venv(
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

pub fn status(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
