//! The libtorch backend (through `tch`): transformer sentence encoders and
//! decoder language models.
//!
//! Laid out like text-embeddings-inference / candle: shared layers
//! (`layers`: dense, LayerNorm, RMSNorm, rotary), one module per family
//! (`models/bert.rs`, `models/rotary.rs`, `models/bloom.rs`), decoder
//! `config.json` deserialised into serde structs tagged by `model_type`
//! (`config`), one token-budget batcher (`batch`) and one error,
//! [`TorchError`], that converts into the encoder's and the generator's.
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

mod adamw;
mod batch;
mod config;
mod device;
mod dropout;
mod encoder;
mod error;
mod finetune;
mod generator;
mod layers;
mod models;
mod placement;
mod precision;
pub mod profile;
mod seq2seq;
mod weights;

pub use device::resolve_device;
pub use encoder::{DEFAULT_TOKEN_BUDGET, LoadArchitecture, TorchEncoder};
pub use error::TorchError;
pub use finetune::SequenceClassifier;
pub use generator::{DEFAULT_GENERATOR_BUDGET, TorchGenerator};
pub use miners_encoders::spec::DeviceChoice;
pub use models::EncoderModel;
pub use seq2seq::TorchSeq2Seq;
pub use weights::{Weights, load_checkpoint};
