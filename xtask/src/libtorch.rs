//! libtorch 2.11.0 (for tch 0.24.0) from PyPI wheels, unpacked into `.cache/libtorch`.
//!
//! PyPI's x86_64 `torch` wheels are CUDA builds. A CPU-capable libtorch needs
//! only the headers, `libc10`, `libtorch`, `libtorch_cpu` and the bundled
//! `libgomp` from the torch wheel, plus `libcudart` and `libcupti`, which
//! `libtorch_cpu` links and finds through its RPATH in `../../nvidia/cu13/lib`.
//! `libtorch_cuda` (450 MB) is left out: a GPU machine brings its own.
//!
//! To use your own libtorch 2.11 instead, set `LIBTORCH` (and put its `lib/`
//! on `LD_LIBRARY_PATH` when running); xtask then skips provisioning.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::wheels::{self, Wheel};

pub const TORCH: Wheel = Wheel {
    package: "torch",
    version: "2.11.0",
    file: "torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "7aa2f9bbc6d4595ba72138026b2074be1233186150e9292865e04b7a63b8c67a",
    pip_args: &[
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        "--platform",
        "manylinux_2_28_x86_64",
    ],
};

const CUDA_RUNTIME: Wheel = Wheel {
    package: "nvidia-cuda-runtime",
    version: "13.0.96",
    file: "nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    sha256: "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
    pip_args: &["--only-binary=:all:", "--platform", "manylinux_2_17_x86_64"],
};

const CUPTI: Wheel = Wheel {
    package: "nvidia-cuda-cupti",
    version: "13.0.85",
    file: "nvidia_cuda_cupti-13.0.85-py3-none-manylinux_2_25_x86_64.whl",
    sha256: "4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8",
    pip_args: &["--only-binary=:all:", "--platform", "manylinux_2_25_x86_64"],
};

const TORCH_LIBS: &[&str] = &[
    "libc10.so",
    "libtorch.so",
    "libtorch_cpu.so",
    "libgomp.so.1",
    "libshm.so",
];
const NVIDIA_LIBS: &[&str] = &["libcudart.so.13", "libcupti.so.13"];

/// `LD_LIBRARY_PATH` with `lib` (a libtorch's `lib/`) first.
pub fn library_path(lib: &Path) -> String {
    let path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    format!("{}:{path}", lib.display())
}

/// The provisioned libtorch (`.cargo/config.toml` points `LIBTORCH` here too).
fn provisioned(root: &Path) -> PathBuf {
    root.join(".cache").join("libtorch").join("torch")
}

/// A libtorch the user exported, unless it is the provisioned one that
/// `.cargo/config.toml` sets for every process cargo starts, xtask included.
fn users_own(root: &Path) -> Option<PathBuf> {
    let own = PathBuf::from(std::env::var_os("LIBTORCH")?);
    (own != provisioned(root)).then_some(own)
}

/// The libtorch in use, if there is one yet.
pub fn location(root: &Path) -> Option<PathBuf> {
    users_own(root).or_else(|| Some(provisioned(root)).filter(|p| p.is_dir()))
}

/// The libtorch directory to build against: the user's own `LIBTORCH`, else
/// the provisioned one, downloaded and unpacked on first use.
pub fn ensure(root: &Path) -> Result<PathBuf> {
    if let Some(own) = users_own(root) {
        return Ok(own);
    }
    let base = root.join(".cache").join("libtorch");
    let stamp = format!("{} {} {}", TORCH.sha256, CUDA_RUNTIME.sha256, CUPTI.sha256);
    if !wheels::is_installed(&base, &stamp) {
        let torch = wheels::download(root, &TORCH)?;
        let runtime = wheels::download(root, &CUDA_RUNTIME)?;
        let cupti = wheels::download(root, &CUPTI)?;
        eprintln!("xtask: unpacking libtorch into {}", base.display());
        wheels::install_dir(&base, &stamp, |dir| {
            wheels::extract(&torch, dir, |name| {
                let keep = name.starts_with("torch/include/")
                    || name
                        .strip_prefix("torch/lib/")
                        .is_some_and(|lib| TORCH_LIBS.contains(&lib));
                keep.then(|| name.to_owned())
            })?;
            for wheel in [&runtime, &cupti] {
                wheels::extract(wheel, dir, |name| {
                    let lib = name.strip_prefix("nvidia/cu13/lib/")?;
                    NVIDIA_LIBS.contains(&lib).then(|| name.to_owned())
                })?;
            }
            Ok(())
        })?;
    }
    Ok(provisioned(root))
}
