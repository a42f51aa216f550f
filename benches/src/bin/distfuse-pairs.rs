//! miners' side of the `distfuse` parity check (`fixtures/check_distfuse.py`):
//! reads a request as JSON on stdin — `models` (directories), `weights`,
//! `measure` (`euclidean`, `cosine`, `manhattan`), `first` (`weighted` or
//! `ignored`, the package's), `instructions` (one per model, `""` for none),
//! `left`, `right` (texts) and `references` (one list per left text) —
//! encodes with miners' libtorch encoders and prints
//! `{"pairs": [[…]], "references": […]}`.

use miners_core::Embeddings;
use miners_encoders::{Encoder, Role, spec::ModelSpec};
use miners_fusion::{DistMeasure, FirstWeight, Member, instructed, score_pairs, score_references};
use miners_torch::{DeviceChoice, TorchEncoder};
use serde_json::json;

/// The request on stdin.
#[derive(serde::Deserialize)]
struct Request {
    models: Vec<String>,
    weights: Vec<f32>,
    measure: DistMeasure,
    first: FirstWeight,
    instructions: Vec<String>,
    left: Vec<String>,
    right: Vec<String>,
    references: Vec<Vec<String>>,
}

fn main() {
    let Request {
        models,
        weights,
        measure,
        first,
        instructions,
        left,
        right,
        references,
    } = serde_json::from_reader(std::io::stdin()).expect("a JSON request on stdin");
    let flat: Vec<String> = references.concat();
    let counts: Vec<usize> = references.iter().map(Vec::len).collect();
    let mut sides = Vec::new();
    for (model, instruction) in models.iter().zip(&instructions) {
        let encoder = TorchEncoder::load(&ModelSpec::for_dir(model.as_ref()), DeviceChoice::Cpu)
            .expect("the model loads");
        let encode = |texts: &[String]| -> Embeddings {
            let texts: Vec<String> = match instruction.is_empty() {
                true => texts.to_vec(),
                false => texts.iter().map(|t| instructed(instruction, t)).collect(),
            };
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            encoder.encode(&refs, Role::Query).expect("encodes")
        };
        sides.push((encode(&left), encode(&right), encode(&flat)));
    }
    let pair_members: Vec<Member<'_>> = sides
        .iter()
        .zip(&weights)
        .map(|((l, r, _), &w)| Member::new(l, r, w))
        .collect();
    let reference_members: Vec<Member<'_>> = sides
        .iter()
        .zip(&weights)
        .map(|((l, _, f), &w)| Member::new(l, f, w))
        .collect();
    let pairs = score_pairs(&pair_members, measure, first).expect("scores pairs");
    let scores =
        score_references(&reference_members, &counts, measure, first).expect("scores references");
    println!("{}", json!({"pairs": pairs, "references": scores}));
}
