//! The encoder-architecture seam: an architecture written here, outside the
//! crates, through the public `EncoderModel` trait and `Weights`, loads from
//! a real model directory with `TorchEncoder::load_with` and encodes through
//! the directory's own tokenizer, pooling, Dense and Normalize.
//!
//! The toy architecture is a bag of word embeddings: each token's state is
//! its row of the embedding table, with no positions and no layers, so word
//! order cannot matter, where it does for the directory's own BERT.

use std::path::PathBuf;

use miners_encoders::{
    Encoder, Role,
    layout::{Pooling, TransformerConfig},
    spec::ModelSpec,
};
use miners_torch::{DeviceChoice, EncoderModel, TorchEncoder, TorchError, Weights};
use tch::{TchError, Tensor};

/// Token states straight from the embedding table.
struct BagOfEmbeddings {
    table: Tensor,
}

impl BagOfEmbeddings {
    fn load(weights: &Weights, config: &TransformerConfig) -> Result<Self, TorchError> {
        let shape = [config.vocab_size as i64, config.hidden_size as i64];
        let table = weights.take("embeddings.word_embeddings.weight", &shape)?;
        Ok(Self { table })
    }
}

impl EncoderModel for BagOfEmbeddings {
    fn forward(&self, ids: &Tensor, _mask: &Tensor) -> Result<Tensor, TchError> {
        Tensor::f_embedding(&self.table, ids, -1, false, false)
    }
}

/// The tiny BERT fixture, mean-pooled (its own pooling takes `[CLS]`, whose
/// state a bag of embeddings never changes).
fn tiny_bert() -> ModelSpec {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny-bert");
    ModelSpec {
        pooling: Some(Pooling::Mean),
        ..ModelSpec::for_dir(&dir)
    }
}

#[test]
fn an_architecture_written_outside_the_crates_loads_and_encodes() {
    let spec = tiny_bert();
    let toy = TorchEncoder::load_with(&spec, DeviceChoice::Cpu, &|weights, config| {
        Ok(Box::new(BagOfEmbeddings::load(weights, config)?))
    })
    .unwrap();
    let bert = TorchEncoder::load(&spec, DeviceChoice::Cpu).unwrap();
    assert_eq!(toy.dim(), bert.dim());

    let texts = ["the cat sat", "sat the cat", "a dog ran far"];
    let toy_vectors = toy.encode(&texts, Role::Query).unwrap();
    let bert_vectors = bert.encode(&texts, Role::Query).unwrap();
    let distance = |v: &miners_core::Embeddings, a: usize, b: usize| -> f32 {
        v.row(a)
            .iter()
            .zip(v.row(b))
            .map(|(x, y)| (x - y).abs())
            .sum()
    };
    // A bag of words: the same words in another order give the same vector.
    assert!(distance(&toy_vectors, 0, 1) < 1e-5, "{toy_vectors:?}");
    assert!(distance(&toy_vectors, 0, 2) > 1e-3, "{toy_vectors:?}");
    // The directory's own BERT sees positions, so the toy really ran.
    assert!(distance(&bert_vectors, 0, 1) > 1e-4, "{bert_vectors:?}");
}
