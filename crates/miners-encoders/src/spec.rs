//! Model specs: a named model directory with its prompts and overrides.
//!
//! Specs round-trip through JSON and TOML; the `miners-models` crate reads
//! them from catalogs (`models.toml`).

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

use crate::{Prompts, layout::Pooling};

/// Numeric precision of a transformer's weights and activations (pooled
/// vectors are always 32-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum DType {
    /// 32-bit floats (the CPU default).
    #[default]
    Float32,
    /// IEEE half precision (CUDA).
    Float16,
    /// bfloat16 (CUDA, or CPUs with AMX or AVX512-BF16, where it is several times faster).
    #[cfg_attr(feature = "clap", value(name = "bfloat16"))]
    BFloat16,
    /// Weight-only int8: linear layers stored as int8 with one absmax scale
    /// per output channel, dequantized per forward pass; everything else in
    /// float32 on the CPU and float16 on CUDA. The counterpart of the
    /// reference's `--load_in_8bit`, not bit-identical to bitsandbytes.
    Int8,
}

impl DType {
    /// The name used in catalogs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
            DType::Int8 => "int8",
        }
    }
}

/// Which device to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The CPU.
    #[default]
    Cpu,
    /// A CUDA device by index; an error if unavailable.
    Cuda(usize),
    /// CUDA device 0 if available, else the CPU.
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| {
                    format!("unknown device `{other}` (expected cpu, cuda, cuda:N or auto)")
                }),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    /// The name [`DeviceChoice::from_str`] reads back: `cpu`, `cuda:N`, `auto`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(index) => write!(f, "cuda:{index}"),
            DeviceChoice::Auto => f.write_str("auto"),
        }
    }
}

/// A comma-separated device list (`cuda:0,cuda:1`): a generator's layers
/// are split over several; encoders run on the first.
pub fn parse_devices(text: &str) -> Result<Vec<DeviceChoice>, String> {
    text.split(',').map(|d| d.trim().parse()).collect()
}

/// One model: where it lives and how to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Identifier used by `--model` and recorded in results.
    pub id: String,
    /// Model directory; relative paths are resolved against the spec file's directory.
    pub path: PathBuf,
    /// Prefixes for queries and passages.
    #[serde(default)]
    pub prompts: Prompts,
    /// Overrides the directory's pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<Pooling>,
    /// Overrides the directory's normalisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// Overrides the directory's maximum sequence length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seq_length: Option<usize>,
    /// Precision (float32 on CPU; float16 or bfloat16 only on CUDA).
    #[serde(default)]
    pub dtype: DType,
}

impl ModelSpec {
    /// A spec for a bare directory, named after it.
    pub fn for_dir(dir: &Path) -> Self {
        // `.` and `..` have no file name: the folder's own name, when it has one.
        let canonical = dir.canonicalize().ok();
        let id = dir
            .file_name()
            .or_else(|| canonical.as_deref().and_then(Path::file_name))
            .map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
        Self {
            id,
            path: dir.to_owned(),
            prompts: Prompts::default(),
            pooling: None,
            normalize: None,
            max_seq_length: None,
            dtype: DType::Float32,
        }
    }
}

/// The CPU feature that computes bfloat16 natively here (`amx_bf16` or
/// `avx512_bf16`), if any. Without one, libtorch emulates bfloat16 and a model
/// runs several times slower than in float32 (5.4× slower measured on an AMD
/// EPYC with AVX2 only).
pub fn native_cpu_bf16() -> Option<&'static str> {
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = flags
        .lines()
        .find(|line| line.starts_with("flags"))
        .map(|line| line.split_whitespace().collect())
        .unwrap_or_default();
    ["amx_bf16", "avx512_bf16"]
        .into_iter()
        .find(|feature| flags.contains(feature))
}

/// A warning for bfloat16 on a CPU that lacks bfloat16 units, if that is the case.
pub fn slow_bf16_warning(dtype: DType, device: DeviceChoice) -> Option<String> {
    if dtype != DType::BFloat16 || device != DeviceChoice::Cpu || native_cpu_bf16().is_some() {
        return None;
    }
    Some(
        "bfloat16 on this CPU is emulated: it has neither AMX-BF16 nor AVX512-BF16, so \
         encoding runs several times slower than float32 (5.4× slower measured on an AMD \
         EPYC with AVX2 only); use float32 here"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_json() {
        let spec = ModelSpec {
            pooling: Some(Pooling::Cls),
            dtype: DType::Float16,
            ..ModelSpec::for_dir(Path::new("/models/labse"))
        };
        let back: ModelSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.id, "labse");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<ModelSpec>(r#"{"id":"x","path":"x","poolng":"cls"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("poolng"), "{err}");
    }

    #[test]
    fn devices_parse() {
        assert_eq!("cuda:1".parse(), Ok(DeviceChoice::Cuda(1)));
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        for device in [DeviceChoice::Cpu, DeviceChoice::Cuda(3), DeviceChoice::Auto] {
            assert_eq!(device.to_string().parse(), Ok(device));
        }
    }
}
