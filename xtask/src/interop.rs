//! `cargo xtask interop`: the directories miners imports load in the paper's
//! era of Python libraries (transformers 4.44.2, sentence-transformers 3.0.1),
//! checked by `fixtures/check_transformers4.py` in a virtual environment under
//! `.cache/interop-venv` (torch from the same pinned wheel as libtorch).

use std::{path::Path, process::Command};

use anyhow::{Context, Result, bail};

use crate::{libtorch, models, wheels};

/// What the environment holds; a change rebuilds it.
const PACKAGES: &[&str] = &["transformers==4.44.2", "sentence-transformers==3.0.1"];

pub fn run(root: &Path) -> Result<()> {
    models::fetch_all(root)?;
    let torch = wheels::download(root, &libtorch::TORCH)?;
    let venv = root.join(".cache").join("interop-venv");
    let python = venv.join("bin").join("python");
    let stamp_path = venv.join(".miners-stamp");
    let stamp = format!("{} {}", libtorch::TORCH.sha256, PACKAGES.join(" "));
    if std::fs::read_to_string(&stamp_path).ok().as_deref() != Some(stamp.as_str()) {
        eprintln!(
            "xtask: building {} ({})",
            venv.display(),
            PACKAGES.join(", ")
        );
        let _ = std::fs::remove_dir_all(&venv);
        status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        status(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet"])
                .arg(&torch)
                .args(PACKAGES),
        )?;
        std::fs::write(&stamp_path, &stamp)?;
    }
    status(Command::new(&python).arg(root.join("fixtures/check_transformers4.py")))
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
