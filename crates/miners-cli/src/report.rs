//! The t-SNE step of `miners report`: embed a dataset's test texts, project
//! them to 2-D, and draw them coloured by label and by language; for datasets
//! whose test splits are parallel (NusaX, SIB-200), by sample, and for those
//! whose languages span several families (SIB-200), by language family, as
//! the reference's `visualize.py` offers.

use std::{path::Path, sync::Arc};

use anyhow::{Context, Result};
use miners_core::Metric;
use miners_datasets::{DataDir, Dataset, language_family};
use miners_encoders::Role;
use miners_eval::{EmbeddingCache, Quiet, Retriever, tune::UNCLASSIFIED};
use miners_models::Models;
use miners_report::{TsneOptions, scatter_svg, tsne};

/// Draws `plots/tsne-<dataset>-<encoder>-{label,language[,sample][,family]}.svg` under
/// `out` for `request` = `DATASET:ENCODER` (the encoder's id made folder-safe).
pub fn tsne_plots(
    request: &str,
    points: usize,
    data: &DataDir,
    models: &Models,
    cache: &Path,
    out: &Path,
) -> Result<()> {
    let (dataset_name, encoder_id) = request
        .split_once(':')
        .with_context(|| format!("--tsne {request}: expected DATASET:ENCODER"))?;
    let dataset = Dataset::open(data, dataset_name)?;
    let plan = dataset
        .spec()
        .classification
        .with_context(|| format!("--tsne {request}: {dataset_name} has no labelled texts"))?;
    let langs = dataset.classification_langs()?;
    let per_lang = (points / langs.len().max(1)).max(5);
    let (mut texts, mut labels, mut languages) = (Vec::new(), Vec::new(), Vec::new());
    let mut samples = Vec::new();
    for lang in &langs {
        let split = dataset.load_classification(lang, plan.test, Some(per_lang))?;
        languages.extend(std::iter::repeat_n(lang.to_string(), split.texts.len()));
        labels.extend(split.labels.iter().map(|l| l.as_str().to_owned()));
        samples.extend((0..split.texts.len()).map(sample_category));
        texts.extend(split.texts);
    }
    let encoder = models
        .open_encoder(encoder_id)
        .with_context(|| format!("--tsne {request}"))?;
    let retriever = Retriever::single(encoder.clone(), Metric::Euclidean)
        .with_cache(Arc::new(EmbeddingCache::new(cache)));
    let embeddings = retriever.encode(&texts, Role::Query, "t-SNE", &Quiet)?;
    let vectors = &embeddings[0];
    let layout = tsne(vectors.as_slice(), vectors.dim(), &TsneOptions::default());
    let plots = out.join("plots");
    std::fs::create_dir_all(&plots)?;
    // A folder-safe name: an id with `/` or `..` (a model directory) stays in `plots/`.
    let stem = format!(
        "tsne-{}-{}",
        dataset.spec().name,
        miners_eval::slug(encoder.id())
    );
    let mut views = vec![("label", &labels), ("language", &languages)];
    if plan.parallel_test {
        views.push(("sample", &samples));
    }
    let families: Vec<String> = languages
        .iter()
        .map(|lang| language_family(lang).unwrap_or(UNCLASSIFIED).to_owned())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = families.iter().collect();
    if distinct.len() > 1 {
        views.push(("family", &families));
    }
    for (by, categories) in views {
        let title = format!("{dataset_name} test texts, {encoder_id}, t-SNE, by {by}");
        scatter_svg(
            &plots.join(format!("{stem}-{by}.svg")),
            &title,
            &layout,
            categories,
        )?;
    }
    Ok(())
}

/// Samples followed across languages: the first few in their own colours,
/// the rest together.
fn sample_category(row: usize) -> String {
    const FOLLOWED: usize = 8;
    match row < FOLLOWED {
        true => format!("sample {row}"),
        false => "other samples".into(),
    }
}
