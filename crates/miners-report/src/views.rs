//! The paper's t-SNE views (the reference's `visualize.py`): a dataset's
//! training texts (the first of each language, as the reference takes them;
//! test texts spread over the split as an option) embedded by an encoder,
//! projected to 2-D and drawn coloured by label and by language; for datasets
//! whose splits are parallel (NusaX, SIB-200), by sample; and for those whose
//! languages span several families, by language family (the reference's
//! family map where it lists the language, Glottolog's as an option).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use miners_core::Metric;
use miners_datasets::{Dataset, language_family, reference_family};
use miners_encoders::{Encoder, Role};
use miners_eval::{EmbeddingCache, Quiet, Retriever, tune::UNCLASSIFIED};

use crate::{ReportError, TsneOptions, scatter_svg, tsne};

/// Which texts a t-SNE view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ViewTexts {
    /// The first training texts of each language (the reference's).
    #[default]
    Train,
    /// Test texts, the first of each language.
    Test,
}

/// Whose language families colour the family view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FamilyMap {
    /// The reference's `LANGS_FAMILY_MAP` where it lists the language
    /// ([`reference_family`]), else Glottolog's.
    #[default]
    Reference,
    /// Glottolog's top-level families as URIEL records them ([`language_family`]).
    Uriel,
}

/// What the t-SNE views show (`miners report --tsne …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ViewOptions {
    /// Texts per t-SNE plot (spread evenly over languages, at least 5 each).
    #[cfg_attr(feature = "clap", arg(long = "tsne-points", default_value_t = 1200))]
    pub points: usize,
    /// Which texts the t-SNE plots show: the first training texts of each
    /// language (`train`, as the reference) or test texts (`test`).
    #[cfg_attr(feature = "clap", arg(long = "tsne-texts", value_enum, default_value_t = ViewTexts::Train))]
    pub texts: ViewTexts,
    /// Whose language families colour the family view: the reference's map
    /// (`reference`) or Glottolog's (`uriel`).
    #[cfg_attr(feature = "clap", arg(long = "tsne-families", value_enum, default_value_t = FamilyMap::Reference))]
    pub families: FamilyMap,
}

impl Default for ViewOptions {
    fn default() -> Self {
        Self {
            points: 1200,
            texts: ViewTexts::Train,
            families: FamilyMap::Reference,
        }
    }
}

impl FamilyMap {
    /// The family of `lang` under this map.
    fn family(self, lang: &str) -> &'static str {
        let reference = match self {
            Self::Reference => reference_family(lang),
            Self::Uriel => None,
        };
        reference
            .or_else(|| language_family(lang))
            .unwrap_or(UNCLASSIFIED)
    }
}

/// Draws `tsne-<dataset>-<encoder>-{label,language[,sample][,family]}.svg`
/// into `plots` from about `options.points` texts of `dataset` embedded by
/// `encoder` (through `cache` when given); the encoder's id is made
/// folder-safe. Returns the files.
pub fn tsne_views(
    dataset: &Dataset,
    encoder: Arc<dyn Encoder>,
    cache: Option<Arc<EmbeddingCache>>,
    options: &ViewOptions,
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
    let per_lang = (options.points / langs.len().max(1)).max(5);
    let (split, which) = match options.texts {
        ViewTexts::Train => (plan.pool, "training"),
        ViewTexts::Test => (plan.test, "test"),
    };
    let (mut texts, mut labels, mut languages, mut samples) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for lang in &langs {
        let split = dataset
            .load_classification(lang, split, Some(per_lang))
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
        .map(|lang| options.families.family(lang).to_owned())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = families.iter().collect();
    if distinct.len() > 1 {
        views.push(("family", families));
    }
    let mut files = Vec::new();
    for (by, categories) in views {
        let title = format!("{name} {which} texts, {id}, t-SNE, by {by}");
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
