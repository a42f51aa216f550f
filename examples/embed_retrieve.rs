//! Encode sentences in two languages with `e5-small` from the catalog and
//! find each English sentence's nearest Indonesian one by exact k-NN.
//!
//! ```sh
//! cargo xtask fetch-models && cargo xtask libtorch   # once
//! cargo run --release --example embed_retrieve
//! ```

use anyhow::Result;
use miners_core::Metric;
use miners_encoders::Role;
use miners_index::ExactIndex;
use miners_models::Models;

fn main() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = Models::from_file(&root.join("models.toml"))?;
    let encoder = models.open_encoder("e5-small")?;

    let english = [
        "The weather is lovely today.",
        "Where is the train station?",
        "I would like a cup of coffee.",
    ];
    let indonesian = [
        "Saya mau secangkir kopi.",
        "Cuaca hari ini sangat cerah.",
        "Di mana stasiun kereta api?",
    ];
    let queries = encoder.encode(&english, Role::Query)?;
    let passages = encoder.encode(&indonesian, Role::Passage)?;

    let index = ExactIndex::new(passages, Metric::Euclidean);
    let nearest = index.search(&queries, 1)?;
    for (query, text) in english.iter().enumerate() {
        let hit = nearest.get(query).next().expect("k = 1");
        println!(
            "{text:<32} -> {} (distance {:.3})",
            indonesian[hit.index], hit.score
        );
    }
    Ok(())
}
