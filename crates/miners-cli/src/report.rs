//! The t-SNE step of `miners report`: `DATASET:ENCODER` to the dataset and
//! the encoder, drawn by [`miners_report::tsne_views`].

use std::{path::Path, sync::Arc};

use anyhow::{Context, Result};
use miners_datasets::{DataDir, Dataset};
use miners_eval::EmbeddingCache;
use miners_models::Models;

/// Draws `plots/tsne-<dataset>-<encoder>-*.svg` under `out` for `request` =
/// `DATASET:ENCODER`.
pub fn tsne_plots(
    request: &str,
    points: usize,
    data: &DataDir,
    models: &Models,
    cache: &Path,
    out: &Path,
) -> Result<()> {
    let (dataset, encoder) = request
        .split_once(':')
        .with_context(|| format!("--tsne {request}: expected DATASET:ENCODER"))?;
    let dataset = Dataset::open(data, dataset)?;
    let encoder = models
        .open_encoder(encoder)
        .with_context(|| format!("--tsne {request}"))?;
    let cache = Some(Arc::new(EmbeddingCache::new(cache)));
    miners_report::tsne_views(&dataset, encoder, cache, points, &out.join("plots"))
        .with_context(|| format!("--tsne {request}"))?;
    Ok(())
}
