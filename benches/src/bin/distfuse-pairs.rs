//! miners' side of the `distfuse` parity check (`fixtures/check_distfuse.py`):
//! reads a request as JSON on stdin — `models` (directories), `weights`,
//! `measure` (`euclidean`, `cosine`, `manhattan`), `first` (`weighted` or
//! `ignored`, the package's), `instructions` (one per model, `""` for none),
//! `left`, `right` (texts) and `references` (one list per left text) —
//! encodes with miners' libtorch encoders and prints
//! `{"pairs": [[…]], "references": […]}`.

use std::io::Read;

use miners_core::Embeddings;
use miners_encoders::{Encoder, Role, spec::ModelSpec};
use miners_fusion::{DistMeasure, FirstWeight, Member, instructed, score_pairs, score_references};
use miners_torch::{DeviceChoice, TorchEncoder};
use serde_json::{Value, json};

fn main() {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("a request on stdin");
    let request: Value = serde_json::from_str(&input).expect("a JSON request");
    let field = |name: &str| request[name].clone();
    let texts = |name: &str| -> Vec<String> { serde_json::from_value(field(name)).expect(name) };
    let models: Vec<String> = serde_json::from_value(field("models")).expect("models");
    let weights: Vec<f32> = serde_json::from_value(field("weights")).expect("weights");
    let measure: DistMeasure = serde_json::from_value(field("measure")).expect("measure");
    let first: FirstWeight = serde_json::from_value(field("first")).expect("first");
    let instructions: Vec<String> =
        serde_json::from_value(field("instructions")).expect("instructions");
    let references: Vec<Vec<String>> =
        serde_json::from_value(field("references")).expect("references");
    let (left, right) = (texts("left"), texts("right"));
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
