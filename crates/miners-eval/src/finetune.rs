//! The reference's fine-tuned baseline (`finetune_baseline.py`) as a task:
//! for each test language, a fresh copy of the encoder with a classification
//! head is trained on the language's training split, validated on its
//! validation split, and scored on its test split.

use miners_classify::{FineTune, FineTuning, Labelled};
use miners_core::Lang;
use miners_datasets::{Dataset, LabelledTexts, Split};

use crate::{
    CellClock, EvalError, Progress, RecordSink, Retriever, RunOptions,
    metrics::{Average, classification_scores},
    record::{FineTuneRecord, Setting, Task},
    tasks::{Cell, check_limit, classification_cells},
};

/// Opens a fresh classifier of the encoder with a head of `labels` outputs,
/// seeded with `seed`.
pub type OpenFineTuner<'a> = dyn FnMut(usize, u64) -> Result<Box<dyn FineTune>, EvalError> + 'a;

/// A fine-tuning run: which test languages, trained how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FineTuneRun {
    /// Test languages (all of the dataset's when empty).
    pub langs: Vec<Lang>,
    /// The recipe.
    pub recipe: FineTuning,
}

/// Fine-tunes and scores each test language (the reference trains and tests
/// in one language; its `--cross` flag only renames the output folder), one
/// record per language with k = 0, sent to `sink` as soon as it is scored.
/// `retriever` names the encoder in the records; `open` makes its classifiers.
pub fn run_finetune(
    dataset: &Dataset,
    retriever: &Retriever,
    run: &FineTuneRun,
    open: &mut OpenFineTuner<'_>,
    options: &RunOptions,
    progress: &dyn Progress,
    sink: &mut dyn RecordSink,
) -> Result<(), EvalError> {
    check_limit(options.limit)?;
    if options.ks != [0] {
        return Err(EvalError::Config(format!(
            "k values {:?}: fine-tuning records carry k = 0 alone",
            options.ks
        )));
    }
    let (plan, langs, _) = classification_cells(dataset, &run.langs, None, "finetune")?;
    let setting = Setting::of(false, dataset.spec().code_switched);
    let fingerprint = retriever.record().fingerprint;
    for lang in langs {
        let cell = Cell {
            dataset,
            retriever,
            vote: Default::default(),
            task: Task::FineTune,
            setting,
            source_lang: None,
            target_lang: None,
            lang: Some(lang.to_string()),
            limit: options.limit,
            reversed: false,
        };
        if sink.is_done(&cell.key(), &[0], options.limit, fingerprint.as_deref()) {
            continue;
        }
        let clock = CellClock::start();
        let train = dataset.load_classification(&lang, plan.pool, options.limit)?;
        let test = dataset.load_classification(&lang, plan.test, options.limit)?;
        let valid = match validation_split(dataset, &lang, plan.pool, plan.test)? {
            Some(split) => Some(dataset.load_classification(&lang, split, options.limit)?),
            None => None,
        };
        let labels = labels_used(dataset, [&train, &test].into_iter().chain(&valid))?;
        let mut model = open(labels.len(), run.recipe.seed)?;
        let ids = |texts: &LabelledTexts| -> Vec<usize> {
            let position = |l: &miners_core::Label| labels.iter().position(|x| x == l.as_str());
            texts.labels.iter().filter_map(position).collect()
        };
        let (train_ids, valid_ids) = (ids(&train), valid.as_ref().map(ids));
        let train_texts: Vec<&str> = train.texts.iter().map(String::as_str).collect();
        let valid_texts: Option<Vec<&str>> = valid
            .as_ref()
            .map(|v| v.texts.iter().map(String::as_str).collect());
        let label = format!("{lang} fine-tuning");
        let steps = train.texts.len().div_ceil(run.recipe.batch_size.max(1)) * run.recipe.epochs;
        progress.begin(&label, run.recipe.max_steps.unwrap_or(steps));
        let log = model
            .fine_tune(
                Labelled {
                    texts: &train_texts,
                    labels: &train_ids,
                },
                valid_texts
                    .as_ref()
                    .zip(valid_ids.as_ref())
                    .map(|(t, l)| Labelled {
                        texts: t,
                        labels: l,
                    }),
                &run.recipe,
                &mut |_, _| progress.advance(1),
            )
            .map_err(|e| EvalError::Config(format!("{} {lang}: {e}", dataset.name())))?;
        progress.finish();
        let test_texts: Vec<&str> = test.texts.iter().map(String::as_str).collect();
        let predicted = model
            .predict(&test_texts)
            .map_err(|e| EvalError::Config(format!("{} {lang}: {e}", dataset.name())))?;
        let predicted: Vec<&str> = predicted.iter().map(|&i| labels[i].as_str()).collect();
        let gold: Vec<&str> = test.labels.iter().map(|l| l.as_str()).collect();
        let scores = classification_scores(&gold, &predicted, Average::Macro);
        let mut record = cell.record(
            0,
            test.texts.len(),
            scores,
            Average::Macro,
            None,
            clock.read(),
        );
        record.finetune = Some(FineTuneRecord {
            recipe: run.recipe.clone(),
            labels,
            train: train.texts.len(),
            valid: valid.as_ref().map_or(0, |v| v.texts.len()),
            epochs: log.epochs,
            best_epoch: log.best_epoch,
        });
        sink.accept(&[record])?;
    }
    Ok(())
}

/// The validation split of `lang`, when the dataset has one apart from the
/// splits trained and tested on.
fn validation_split(
    dataset: &Dataset,
    lang: &Lang,
    pool: Split,
    test: Split,
) -> Result<Option<Split>, EvalError> {
    if pool == Split::Validation || test == Split::Validation {
        return Ok(None);
    }
    Ok(dataset
        .has_classification_split(lang, Split::Validation)
        .then_some(Split::Validation))
}

/// The dataset's labels, in its order, that the given splits use: the
/// head's outputs (the reference's label counts per dataset and language).
fn labels_used<'a>(
    dataset: &Dataset,
    splits: impl Iterator<Item = &'a LabelledTexts>,
) -> Result<Vec<String>, EvalError> {
    let used: std::collections::BTreeSet<&str> = splits
        .flat_map(|s| s.labels.iter().map(|l| l.as_str()))
        .collect();
    let known = dataset.label_set()?;
    if let Some(unknown) = used.iter().find(|l| !known.iter().any(|k| k == *l)) {
        return Err(EvalError::Config(format!(
            "{}: label `{unknown}` is not in manifest.json's labels",
            dataset.name()
        )));
    }
    Ok(known
        .into_iter()
        .filter(|l| used.contains(l.as_str()))
        .collect())
}
