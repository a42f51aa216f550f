//! `cargo xtask interop`: the directories miners imports load in the paper's
//! era of Python libraries (transformers 4.44.2, sentence-transformers 3.0.1),
//! checked by `fixtures/check_transformers4.py` in a virtual environment under
//! `.cache/interop-venv` (torch from the same pinned wheel as libtorch).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Result;

use crate::{
    libtorch, models,
    python::{status, venv},
    wheels,
};

/// What the environment holds; a change rebuilds it. sentencepiece and
/// protobuf are transformers' slow-tokenizer conversion (the tokenizer
/// fixtures and `paper-check`'s SentencePiece-only e5-small).
const PACKAGES: &[&str] = &[
    "transformers==4.44.2",
    "sentence-transformers==3.0.1",
    "sentencepiece==0.2.3",
    "protobuf==7.36.2",
];

pub fn run(root: &Path) -> Result<()> {
    models::fetch_all(root)?;
    let python = python(root)?;
    status(Command::new(&python).arg(root.join("fixtures/check_transformers4.py")))
}

/// The interop environment's Python, built first where it is missing or stale.
pub fn python(root: &Path) -> Result<PathBuf> {
    let torch = wheels::download(root, &libtorch::TORCH)?;
    let stamp = format!("{} {}", libtorch::TORCH.sha256, PACKAGES.join(" "));
    venv(root, "interop-venv", &stamp, |pip| {
        pip.arg(&torch).args(PACKAGES);
    })
}
