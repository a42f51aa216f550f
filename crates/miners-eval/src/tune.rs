//! DistFuse weights learned on a dataset's validation split: every weighting
//! on a grid over the simplex classifies the validation texts against the
//! training pool, and the one with the best headline score wins, for the
//! whole dataset or per language family ([`TuneBy`]). The split that is
//! scored (test) is never read.

use miners_classify::{KnnClassifier, Vote};
use miners_core::{Embeddings, Lang};
use miners_datasets::{ClassificationPlan, Dataset, Headline, Split, language_family};
use serde::{Deserialize, Serialize};

pub use crate::record::TuneBy;
use crate::{
    EvalError, Progress, Retriever, RunOptions,
    metrics::{Average, classification_scores},
    tasks::encode_split,
};

/// The group of languages that has no known family.
pub const UNCLASSIFIED: &str = "unclassified";

/// The languages that share weights under `by`, named: one group of all of
/// them for [`TuneBy::Dataset`]; for [`TuneBy::Family`], one per family, in
/// order of first appearance.
pub fn tuning_groups(langs: &[Lang], by: TuneBy) -> Vec<(String, Vec<Lang>)> {
    let mut groups: Vec<(String, Vec<Lang>)> = Vec::new();
    for lang in langs {
        let group = match by {
            TuneBy::Dataset => "all languages",
            TuneBy::Family => language_family(lang.as_str()).unwrap_or(UNCLASSIFIED),
        };
        match groups.iter_mut().find(|(name, _)| name == group) {
            Some((_, members)) => members.push(lang.clone()),
            None => groups.push((group.to_owned(), vec![lang.clone()])),
        }
    }
    groups
}

/// Whether weights can be learned on a classification plan's validation
/// split: it is neither the pool nor what is scored (LinCE SA scores it, the
/// MASSIVE substitute draws its pool from it).
pub fn validation_is_free(plan: &ClassificationPlan) -> bool {
    plan.test != Split::Validation && plan.pool != Split::Validation
}

/// The weights chosen on the validation split, and every weighting's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedWeights {
    /// Dataset tuned on.
    pub dataset: String,
    /// The winning weights, one per member, summing to 1.
    pub weights: Vec<f32>,
    /// Its score: the headline metric at `k` on the validation split, mean over languages.
    pub score: f64,
    /// Neighbours voting.
    pub k: usize,
    /// Every weighting tried, with its score, in grid order.
    pub grid: Vec<(Vec<f32>, f64)>,
}

impl TunedWeights {
    /// One line for people: the weights learned for `group`, their
    /// validation score, and equal weights' score beside it.
    pub fn describe(&self, group: &str) -> String {
        let equal = self
            .grid
            .iter()
            .find(|(w, _)| w.windows(2).all(|p| p[0] == p[1]))
            .map_or("not on the grid".into(), |(_, s)| {
                format!("{:.2}", 100.0 * s)
            });
        format!(
            "{} ({group}): weights {:?} learned on the validation split ({:.2} at k = {}; equal weights {equal})",
            self.dataset,
            self.weights,
            100.0 * self.score,
            self.k
        )
    }
}

/// Every weighting of `members` members whose entries are multiples of
/// `1 / steps` and sum to 1, in lexicographic order of the first weight
/// descending (the first member alone comes first).
pub fn simplex(members: usize, steps: usize) -> Vec<Vec<f32>> {
    fn fill(left: usize, members: usize, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if members == 1 {
            prefix.push(left);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for part in (0..=left).rev() {
            prefix.push(part);
            fill(left - part, members - 1, prefix, out);
            prefix.pop();
        }
    }
    let mut parts = Vec::new();
    fill(steps, members.max(1), &mut Vec::new(), &mut parts);
    parts
        .into_iter()
        .map(|p| p.into_iter().map(|n| n as f32 / steps as f32).collect())
        .collect()
}

/// Tunes the weights of the DistFuse `base` on `dataset`'s validation split
/// (pool: its training split) over the simplex grid of step `1 / steps`,
/// scoring the headline metric at `k` averaged over `langs` (all when empty);
/// texts are encoded as `base` encodes them (its prompts and cache), ranked by
/// the plain fused distance.
pub fn tune_distfuse(
    dataset: &Dataset,
    base: &Retriever,
    langs: &[Lang],
    k: usize,
    steps: usize,
    progress: &dyn Progress,
) -> Result<TunedWeights, EvalError> {
    let plan = dataset.spec().classification.ok_or_else(|| {
        EvalError::Config(format!(
            "{} is not a classification dataset",
            dataset.name()
        ))
    })?;
    if !validation_is_free(&plan) {
        return Err(EvalError::Config(format!(
            "{}: its validation split is part of what is scored; refusing to tune on it",
            dataset.name()
        )));
    }
    let langs = match langs.is_empty() {
        true => dataset.classification_langs()?,
        false => langs.to_vec(),
    };
    let (encoders, normalization) = (base.encoders(), base.normalization());
    // Each language's validation and pool texts, encoded once by every member.
    let everything = RunOptions {
        limit: None,
        ..RunOptions::default()
    };
    let mut encoded = Vec::new();
    for lang in &langs {
        let validation = encode_split(
            dataset,
            base,
            lang,
            Split::Validation,
            &everything,
            progress,
        )
        .map_err(|e| EvalError::Config(format!("tuning needs a validation split: {e}")))?;
        let pool = encode_split(dataset, base, lang, plan.pool, &everything, progress)?;
        encoded.push((pool.0, pool.1, validation.0, validation.1));
    }
    let mut grid = Vec::new();
    for weights in simplex(encoders.len(), steps) {
        let fused = Retriever::distfuse(encoders.to_vec(), weights.clone(), normalization)?;
        let mut scores = Vec::new();
        for (pool, pool_vectors, validation, validation_vectors) in &encoded {
            let score = headline_score(
                &fused,
                pool,
                pool_vectors,
                validation,
                validation_vectors,
                k,
                plan.headline,
            )?;
            scores.push(score);
        }
        grid.push((
            weights,
            scores.iter().sum::<f64>() / scores.len().max(1) as f64,
        ));
    }
    let (weights, score) = grid
        .iter()
        .fold(None::<&(Vec<f32>, f64)>, |best, entry| match best {
            Some(b) if b.1 >= entry.1 => Some(b),
            _ => Some(entry),
        })
        .cloned()
        .expect("the grid is never empty");
    Ok(TunedWeights {
        dataset: dataset.name(),
        weights,
        score,
        k,
        grid,
    })
}

/// One group of languages with the retriever whose weights were learned on them.
#[derive(Clone)]
pub struct TunedGroup {
    /// The group's name: `all languages`, or a family.
    pub group: String,
    /// Its languages.
    pub langs: Vec<Lang>,
    /// `base` with the group's weights, saying in its records where they were learned.
    pub retriever: Retriever,
    /// The tuning: weights, validation score, grid.
    pub tuned: TunedWeights,
}

/// `base` with weights learned by [`tune_distfuse`] (step 0.1) for each
/// group of `langs` (all the dataset's languages when empty) under `by`.
pub fn tuned_retrievers(
    dataset: &Dataset,
    base: &Retriever,
    langs: &[Lang],
    k: usize,
    by: TuneBy,
    progress: &dyn Progress,
) -> Result<Vec<TunedGroup>, EvalError> {
    let langs = match langs.is_empty() {
        true => dataset.classification_langs()?,
        false => langs.to_vec(),
    };
    let mut tuned_groups = Vec::new();
    for (group, langs) in tuning_groups(&langs, by) {
        let tuned = tune_distfuse(dataset, base, &langs, k, 10, progress)?;
        let codes: Vec<&str> = langs.iter().map(Lang::as_str).collect();
        let note = format!(
            "validation split of {} ({group}: {}), simplex step 0.1, headline metric at k = {k}",
            dataset.spec().name,
            codes.join(", ")
        );
        let retriever = base
            .clone()
            .with_weights(tuned.weights.clone())?
            .tuned(by, note);
        tuned_groups.push(TunedGroup {
            group,
            langs,
            retriever,
            tuned,
        });
    }
    Ok(tuned_groups)
}

/// The headline metric of classifying `validation` by its `k` nearest in `pool`.
fn headline_score(
    retriever: &Retriever,
    pool: &miners_datasets::LabelledTexts,
    pool_vectors: &[Embeddings],
    validation: &miners_datasets::LabelledTexts,
    validation_vectors: &[Embeddings],
    k: usize,
    headline: Headline,
) -> Result<f64, EvalError> {
    let neighbours = retriever.search(validation_vectors, pool_vectors, k.min(pool.texts.len()))?;
    let classifier = KnnClassifier::new(pool.labels.clone(), Vote::Majority);
    let predicted = classifier.predict(&neighbours, k.min(pool.texts.len()))?;
    let scores = classification_scores(&validation.labels, &predicted, Average::Macro);
    Ok(match headline {
        Headline::MacroF1 => scores.f1,
        Headline::Accuracy => scores.accuracy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simplex_grid_covers_every_split_once() {
        let two = simplex(2, 10);
        assert_eq!(two.len(), 11);
        assert_eq!(
            (two[0].clone(), two[10].clone()),
            (vec![1.0, 0.0], vec![0.0, 1.0])
        );
        let three = simplex(3, 10);
        assert_eq!(three.len(), 66);
        assert!(
            three
                .iter()
                .all(|w| (w.iter().sum::<f32>() - 1.0).abs() < 1e-6)
        );
    }

    #[test]
    fn families_group_languages_in_order_of_appearance() {
        let langs: Vec<Lang> = ["en", "ind", "ha", "jav", "tamil", "eng", "spaeng"]
            .map(Lang::from)
            .to_vec();
        let names = |by| -> Vec<(String, Vec<String>)> {
            tuning_groups(&langs, by)
                .into_iter()
                .map(|(g, l)| (g, l.iter().map(|l| l.as_str().to_owned()).collect()))
                .collect()
        };
        let family = names(TuneBy::Family);
        let expected = [
            ("Indo-European", vec!["en", "eng"]),
            ("Austronesian", vec!["ind", "jav"]),
            ("Afro-Asiatic", vec!["ha"]),
            (UNCLASSIFIED, vec!["tamil", "spaeng"]),
        ];
        assert_eq!(family.len(), expected.len());
        for ((group, members), (want, want_members)) in family.iter().zip(expected) {
            assert_eq!(
                (group.as_str(), members.clone()),
                (want, want_members.iter().map(|s| s.to_string()).collect())
            );
        }
        let dataset = names(TuneBy::Dataset);
        assert_eq!(dataset.len(), 1);
        assert_eq!(dataset[0].1.len(), langs.len());
    }
}
