//! The k-NN vote under every ranking: for every metric × hubness correction
//! × voting rule, a label that holds a strict majority of the k nearest and
//! all the nearest places wins. A distance-weighted vote once weighed CSLS
//! and margin scores, which can be negative, by their raw value, so that the
//! majority label lost (issue 24, #1).
//!
//! The retriever is built on a toy encoder written here through the public
//! `Encoder` trait alone: the encoder seam needs nothing private.

use std::sync::Arc;

use miners_classify::{KnnClassifier, Vote};
use miners_core::{Embeddings, Label, Metric, Neighbours};
use miners_encoders::{Encoder, EncoderError, Prompts, Role};
use miners_eval::{Retriever, RetrieverParts};
use miners_index::Hubness;
use proptest::prelude::*;

/// A toy encoder: a text's vector is its bytes, read as small numbers.
struct Bytes {
    prompts: Prompts,
}

impl Encoder for Bytes {
    fn id(&self) -> &str {
        "bytes"
    }

    fn dim(&self) -> usize {
        4
    }

    fn fingerprint(&self) -> &str {
        "bytes-v1"
    }

    fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    fn encode_raw(&self, texts: &[&str], _role: Role) -> Result<Embeddings, EncoderError> {
        let values = texts
            .iter()
            .flat_map(|t| (0..4).map(move |i| f32::from(*t.as_bytes().get(i).unwrap_or(&0)) / 64.0))
            .collect();
        Ok(Embeddings::from_rows(4, values).expect("finite rows"))
    }
}

fn rankings() -> Vec<(Metric, Option<Hubness>)> {
    let mut rankings = Vec::new();
    for metric in [Metric::Euclidean, Metric::Cosine, Metric::Dot] {
        rankings.push((metric, None));
        for hubness in [
            Hubness::RatioMargin { k: 3 },
            Hubness::DistanceMargin { k: 3 },
            Hubness::Csls { k: 3 },
        ] {
            // The ratio margin divides similarities; it needs cosine or dot.
            if metric != Metric::Euclidean || !matches!(hubness, Hubness::RatioMargin { .. }) {
                rankings.push((metric, Some(hubness)));
            }
        }
    }
    rankings
}

fn embeddings(rows: &[[f32; 4]]) -> Embeddings {
    Embeddings::from_rows(4, rows.iter().flatten().copied().collect()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_majority_in_the_nearest_places_wins_under_every_ranking(
        pool in prop::collection::vec(prop::array::uniform4(-1.0f32..1.0), 12..24),
        queries in prop::collection::vec(prop::array::uniform4(-1.0f32..1.0), 1..4),
        k in 1usize..8,
        others in prop::collection::vec(0u8..3, 24),
    ) {
        let encoder: Arc<dyn Encoder> = Arc::new(Bytes { prompts: Prompts::default() });
        let (pool, queries) = (embeddings(&pool), embeddings(&queries));
        for (metric, hubness) in rankings() {
            let parts = RetrieverParts { metric, hubness, ..RetrieverParts::default() };
            let retriever = Retriever::assemble(vec![encoder.clone()], &parts, None).unwrap();
            let neighbours = retriever
                .search(std::slice::from_ref(&queries), std::slice::from_ref(&pool), k)
                .unwrap();
            for query in 0..neighbours.len() {
                // The nearest ⌊k/2⌋ + 1 places say "x"; every other pool row
                // says one of three other labels.
                let nearest: Vec<usize> = neighbours.get(query).map(|n| n.index).collect();
                let mut labels: Vec<Label> = (0..pool.len())
                    .map(|i| Label::from(format!("other{}", others[i % others.len()]).as_str()))
                    .collect();
                for &index in &nearest[..k / 2 + 1] {
                    labels[index] = Label::from("x");
                }
                let hits: Vec<_> = neighbours.get(query).collect();
                let single = Neighbours::from_flat(
                    k,
                    hits.iter().map(|n| n.index as u32).collect(),
                    hits.iter().map(|n| n.score).collect(),
                    neighbours.higher_is_better(),
                );
                for vote in [Vote::Majority, Vote::DistanceWeighted] {
                    let predicted = KnnClassifier::new(labels.clone(), vote)
                        .predict(&single, k)
                        .unwrap();
                    prop_assert_eq!(
                        &predicted[0],
                        &Label::from("x"),
                        "{:?} {:?} {:?} k = {}",
                        metric,
                        hubness,
                        vote,
                        k
                    );
                }
            }
        }
    }
}
