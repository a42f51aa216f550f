//! `cargo xtask interop`: the directories miners imports load in the paper's
//! era of Python libraries (transformers 4.44.2, sentence-transformers 3.0.1),
//! checked by `fixtures/check_transformers4.py` in a virtual environment under
//! `.cache/interop-venv` (torch from the same pinned wheel as libtorch).

use std::{path::Path, process::Command};

use anyhow::Result;

use crate::{
    libtorch, models,
    python::{status, venv},
    wheels,
};

/// What the environment holds; a change rebuilds it.
const PACKAGES: &[&str] = &["transformers==4.44.2", "sentence-transformers==3.0.1"];

pub fn run(root: &Path) -> Result<()> {
    models::fetch_all(root)?;
    let torch = wheels::download(root, &libtorch::TORCH)?;
    let stamp = format!("{} {}", libtorch::TORCH.sha256, PACKAGES.join(" "));
    let python = venv(root, "interop-venv", &stamp, |pip| {
        pip.arg(&torch).args(PACKAGES);
    })?;
    status(Command::new(&python).arg(root.join("fixtures/check_transformers4.py")))
}
