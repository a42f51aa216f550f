//! The paper's t-SNE views (the reference's `visualize.py`): a dataset's test
//! texts embedded by an encoder, projected to 2-D and drawn coloured by label
//! and by language; for datasets whose test splits are parallel (NusaX,
//! SIB-200), by sample; and for those whose languages span several families,
//! by language family.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use miners_core::Metric;
use miners_datasets::{Dataset, language_family};
use miners_encoders::{Encoder, Role};
use miners_eval::{EmbeddingCache, Quiet, Retriever, tune::UNCLASSIFIED};

use crate::{ReportError, TsneOptions, scatter_svg, tsne};

/// Draws `tsne-<dataset>-<encoder>-{label,language[,sample][,family]}.svg`
/// into `plots` from about `points` test texts of `dataset` (spread evenly
/// over its languages, at least 5 each) embedded by `encoder` (through
/// `cache` when given); the encoder's id is made folder-safe. Returns the files.
pub fn tsne_views(
    dataset: &Dataset,
    encoder: Arc<dyn Encoder>,
    cache: Option<Arc<EmbeddingCache>>,
    points: usize,
    plots: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let name = dataset.spec().name;
    let failed = |message: String| ReportError::View {
        dataset: name.to_owned(),
        message,
    };
    let plan = dataset
        .spec()
        .classification
        .ok_or_else(|| failed("it has no labelled texts".into()))?;
    let langs = dataset
        .classification_langs()
        .map_err(|e| failed(e.to_string()))?;
    let per_lang = (points / langs.len().max(1)).max(5);
    let (mut texts, mut labels, mut languages, mut samples) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for lang in &langs {
        let split = dataset
            .load_classification(lang, plan.test, Some(per_lang))
            .map_err(|e| failed(e.to_string()))?;
        languages.extend(std::iter::repeat_n(lang.to_string(), split.texts.len()));
        labels.extend(split.labels.iter().map(|l| l.as_str().to_owned()));
        samples.extend((0..split.texts.len()).map(sample_category));
        texts.extend(split.texts);
    }
    let stem = format!("tsne-{name}-{}", miners_eval::slug(encoder.id()));
    let id = encoder.id().to_owned();
    let retriever = Retriever::single(encoder, Metric::Euclidean);
    let retriever = match cache {
        Some(cache) => retriever.with_cache(cache),
        None => retriever,
    };
    let embeddings = retriever
        .encode(&texts, Role::Query, "t-SNE", &Quiet)
        .map_err(|e| failed(e.to_string()))?;
    let vectors = &embeddings[0];
    let layout = tsne(vectors.as_slice(), vectors.dim(), &TsneOptions::default());
    std::fs::create_dir_all(plots).map_err(|source| ReportError::Io {
        path: plots.to_owned(),
        source,
    })?;
    let mut views = vec![("label", labels), ("language", languages.clone())];
    if plan.parallel_test {
        views.push(("sample", samples));
    }
    let families: Vec<String> = languages
        .iter()
        .map(|lang| language_family(lang).unwrap_or(UNCLASSIFIED).to_owned())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = families.iter().collect();
    if distinct.len() > 1 {
        views.push(("family", families));
    }
    let mut files = Vec::new();
    for (by, categories) in views {
        let title = format!("{name} test texts, {id}, t-SNE, by {by}");
        let file = plots.join(format!("{stem}-{by}.svg"));
        scatter_svg(&file, &title, &layout, &categories)?;
        files.push(file);
    }
    Ok(files)
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
