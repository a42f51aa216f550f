//! Transformer sentence encoders on libtorch (through `tch`).
//!
//! [`TorchEncoder`] runs BERT-family (LaBSE, MiniLM, mBERT) and XLM-RoBERTa-family
//! (multilingual-e5, paraphrase-multilingual, Glot500, XLM-R) encoders from a
//! Hugging Face model directory, with the sentence-transformers modules the
//! directory declares (pooling, Dense, Normalize). Texts are tokenized in
//! parallel, sorted by length and packed into batches under a token budget,
//! then returned in input order.
//!
//! ```no_run
//! use miners_encoders::{spec::ModelSpec, Encoder, Role};
//! use miners_torch::{DeviceChoice, TorchEncoder};
//!
//! let spec = ModelSpec::for_dir("models/minilm-l6".as_ref());
//! let encoder = TorchEncoder::load(&spec, DeviceChoice::Cpu).unwrap();
//! let vectors = encoder.encode(&["A sentence.", "Another one."], Role::Query).unwrap();
//! assert_eq!(vectors.dim(), 384);
//! ```

mod bloom;
mod decoder;
mod device;
mod encoder;
mod generator;
mod model;
mod weights;

pub use bloom::Bloom;
pub use decoder::{Batch, Decoder, DecoderConfig, Family, LoadError, RotaryDecoder};
pub use device::{DeviceChoice, resolve_device};
pub use encoder::TorchEncoder;
pub use generator::{DEFAULT_GENERATOR_BUDGET, TorchGenerator};
