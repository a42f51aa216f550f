//! GGUF import for miners: the multilingual generators available offline
//! ship as llama.cpp GGUF files, and this crate turns one into a Hugging Face
//! directory that `miners-torch` (or transformers) loads.
//!
//! - [`GgufFile`] reads a GGUF v2/v3 header, metadata and tensor directory and
//!   dequantizes tensors on demand ([`TensorType`]: F32, F16, BF16, Q4_0, Q4_1,
//!   Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K).
//! - [`import_gguf`] writes `config.json`, `model.safetensors` (f32 or bf16)
//!   and `tokenizer.json` (rebuilt from the GGUF vocabulary) for the Llama,
//!   Qwen2 and Gemma 3 families, undoing llama.cpp's conversion-time changes
//!   (rotary row permutation, Gemma's `1 + w` norms).
//!
//! ```no_run
//! use miners_gguf::{GgufFile, StoreType, import_gguf};
//!
//! let file = GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref()).unwrap();
//! println!("{} tensors", file.tensors.len());
//! let report = import_gguf(file.path(), "models/smollm2-135m".as_ref(), StoreType::F32).unwrap();
//! println!("{} parameters from {:?}", report.parameters, report.source_types);
//! ```

mod convert;
mod error;
mod quant;
mod reader;
mod tokenizer;

pub use convert::{ImportReport, StoreType, import_gguf};
pub use error::GgufError;
pub use quant::TensorType;
pub use reader::{GgufFile, TensorInfo, Value};
pub use tokenizer::{tokenizer_config_json, tokenizer_json};
