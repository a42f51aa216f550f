//! Hubness-corrected retrieval through the `Retriever`: records name the
//! scoring, and a DistFuse of a model with itself ranks as the model alone
//! (the fused similarity is the negated fused distance, here twice the
//! model's, so its margins and CSLS rank alike).

mod support;

use std::sync::Arc;

use miners_core::Metric;
use miners_encoders::{Encoder, Role, StaticEncoder};
use miners_eval::{Quiet, Retriever};
use miners_fusion::Normalization;
use miners_index::Hubness;

fn model() -> Option<Arc<dyn Encoder>> {
    let dir = support::static_model_dir()?;
    Some(Arc::new(StaticEncoder::load(&dir, "static").unwrap()))
}

fn texts(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn records_name_the_scoring_and_fusion_with_itself_ranks_alike() {
    let Some(encoder) = model() else { return };
    let queries = texts(&[
        "the cat sleeps",
        "a red car",
        "good morning",
        "I like rice",
        "rain",
    ]);
    let candidates = texts(&[
        "kucing tidur",
        "mobil merah",
        "selamat pagi",
        "saya suka nasi",
        "hujan",
        "the cat",
        "red",
        "morning",
        "rice",
        "car",
    ]);
    let plain = Retriever::single(encoder.clone(), Metric::Euclidean);
    for hubness in [Hubness::Csls { k: 3 }, Hubness::DistanceMargin { k: 2 }] {
        let single = Retriever::single(encoder.clone(), Metric::Euclidean).with_hubness(hubness);
        let record = single.record();
        assert_eq!(
            record.id,
            format!("static~{}{}", hubness.name(), hubness.k())
        );
        assert_eq!(record.hubness, Some(hubness));
        assert_ne!(record.fingerprint, plain.record().fingerprint);
        let q = single.encode(&queries, Role::Query, "q", &Quiet).unwrap();
        let c = single
            .encode(&candidates, Role::Passage, "c", &Quiet)
            .unwrap();
        let alone = single.search(&q, &c, 4).unwrap();
        let fused = Retriever::distfuse(
            vec![encoder.clone(); 2],
            vec![1.0, 1.0],
            Normalization::None,
        )
        .unwrap()
        .with_hubness(hubness);
        assert!(
            fused
                .record()
                .id
                .ends_with(&format!("~{}{}", hubness.name(), hubness.k()))
        );
        let qq = fused.encode(&queries, Role::Query, "q", &Quiet).unwrap();
        let cc = fused
            .encode(&candidates, Role::Passage, "c", &Quiet)
            .unwrap();
        let both = fused.search(&qq, &cc, 4).unwrap();
        for query in 0..queries.len() {
            let a: Vec<usize> = alone.indices(query).collect();
            let b: Vec<usize> = both.indices(query).collect();
            assert_eq!(a, b, "{} query {query}", hubness.name());
        }
    }
    let cosine =
        Retriever::single(encoder, Metric::Cosine).with_hubness(Hubness::RatioMargin { k: 4 });
    assert_eq!(cosine.record().id, "static~cosine~margin_ratio4");
}
