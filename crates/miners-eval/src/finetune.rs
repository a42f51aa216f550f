//! The reference's fine-tuned baseline (`finetune_baseline.py`) as a task:
//! for each test language (or once, on a cross-lingual source), a fresh copy
//! of the encoder with a classification head is trained on the language's
//! training split, validated on its validation split, and scored on the test
//! splits. Records name the encoder and carry a fingerprint of it and the
//! recipe, so a changed recipe is run again, not resumed.

use miners_classify::{FineTune, FineTuning, Labelled};
use miners_core::Lang;
use miners_datasets::{ClassificationPlan, Dataset, LabelledTexts, Split};

use crate::{
    CellClock, CellTime, EvalError, Progress, RecordSink, Retriever, RunOptions,
    metrics::{Average, classification_scores},
    record::{FineTuneRecord, Task},
    tasks::{Cell, check_limit, classification_cells},
};

/// Opens a fresh classifier of the encoder with a head of `labels` outputs,
/// seeded with `seed`.
pub type OpenFineTuner<'a> = dyn FnMut(usize, u64) -> Result<Box<dyn FineTune>, EvalError> + 'a;

/// A fine-tuning run: which test languages, trained where and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FineTuneRun {
    /// Test languages (all of the dataset's when empty; the source's own
    /// left out when crossing).
    pub langs: Vec<Lang>,
    /// Cross-lingual: one model trained on this language scores every test
    /// language. `None` trains one model per language on its own data, as
    /// the reference does (its `--cross` flag only renames the output
    /// folder; crossing here is a recorded deviation: setting `cross`,
    /// `source_lang`).
    pub cross_source: Option<Lang>,
    /// The recipe.
    pub recipe: FineTuning,
}

/// Fine-tunes and scores: per test language, or once on the cross-lingual
/// source for all of them; one record per test language with k = 0, sent to
/// `sink` as soon as it is scored. A model is trained only for languages
/// not done already. `retriever` names the encoder in the records; `open`
/// makes its classifiers.
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
    let source = run.cross_source.as_ref();
    let (plan, langs, setting) = classification_cells(dataset, &run.langs, source, "finetune")?;
    let fingerprint = recipe_fingerprint(retriever, &run.recipe);
    let cell = |lang: &Lang| Cell {
        dataset,
        retriever,
        vote: Default::default(),
        task: Task::FineTune,
        setting,
        source_lang: source.map(Lang::to_string),
        target_lang: source.map(|_| lang.to_string()),
        lang: source.is_none().then(|| lang.to_string()),
        limit: options.limit,
        reversed: false,
    };
    let pending: Vec<Lang> = langs
        .into_iter()
        .filter(|lang| {
            !sink.is_done(
                &cell(lang).key(),
                &[0],
                options.limit,
                fingerprint.as_deref(),
            )
        })
        .collect();
    let groups: Vec<(Lang, Vec<Lang>)> = match source {
        Some(source) if !pending.is_empty() => vec![(source.clone(), pending)],
        Some(_) => Vec::new(),
        None => pending.into_iter().map(|l| (l.clone(), vec![l])).collect(),
    };
    let setup = Setup {
        dataset,
        plan,
        run,
        options,
    };
    for (trained_on, tested_on) in groups {
        if progress.cancelled() {
            return Err(EvalError::Cancelled);
        }
        let tests = tested_on
            .iter()
            .map(|lang| dataset.load_classification(lang, plan.test, options.limit))
            .collect::<Result<Vec<_>, _>>()?;
        let trained = Trained::new(&setup, &trained_on, &tests, open, progress)?;
        // The training's time is shared equally among the languages it
        // serves, so that a run's records sum to its time.
        let share = 1.0 / tested_on.len() as f64;
        for (lang, test) in tested_on.iter().zip(&tests) {
            // Not a CellClock: the peak memory recorded stays the training's.
            let (started, cpu) = (std::time::Instant::now(), crate::cpu_seconds());
            let scores = trained.score(&dataset.name(), lang, test)?;
            let scoring_cpu = crate::cpu_seconds().zip(cpu).map(|(now, then)| now - then);
            let time = CellTime {
                seconds: started.elapsed().as_secs_f64() + trained.time.seconds * share,
                cpu_seconds: scoring_cpu
                    .zip(trained.time.cpu_seconds)
                    .map(|(scoring, training)| round2(scoring + training * share)),
            };
            let n = test.texts.len();
            let mut record = cell(lang).record(0, n, scores, Average::Macro, None, time);
            record.model.fingerprint = fingerprint.clone();
            record.finetune = Some(trained.record.clone());
            sink.accept(&[record])?;
        }
    }
    Ok(())
}

/// The encoder's fingerprint with the recipe hashed in. The version names
/// the training code's draws: v2 takes dropout masks from the run's own
/// stream (v1 took them from libtorch's generator), so a v1 record is
/// trained again rather than resumed.
fn recipe_fingerprint(retriever: &Retriever, recipe: &FineTuning) -> Option<String> {
    let base = retriever.record().fingerprint?;
    let recipe = serde_json::to_string(recipe).expect("a recipe serialises");
    let mut fingerprint = miners_encoders::Fingerprint::new("finetune-v2");
    fingerprint.field("base", base).field("recipe", recipe);
    Some(fingerprint.finish())
}

/// A classifier fine-tuned on one language, ready to score test languages.
struct Trained {
    model: Box<dyn FineTune>,
    /// The head's labels.
    labels: Vec<String>,
    /// What the records say of the training.
    record: FineTuneRecord,
    /// Wall and CPU time of the training, shared among the records it serves.
    time: CellTime,
}

/// What a training and its scoring share: the dataset, its plan, the run
/// and the item limit.
struct Setup<'a> {
    dataset: &'a Dataset,
    plan: ClassificationPlan,
    run: &'a FineTuneRun,
    options: &'a RunOptions,
}

impl Trained {
    /// Trains on `lang`'s training split, validating on its validation
    /// split where that is apart; the head's labels are those `lang`'s
    /// splits and the `tests` to be scored use.
    fn new(
        setup: &Setup<'_>,
        lang: &Lang,
        tests: &[LabelledTexts],
        open: &mut OpenFineTuner<'_>,
        progress: &dyn Progress,
    ) -> Result<Self, EvalError> {
        let Setup {
            dataset,
            plan,
            run,
            options,
        } = *setup;
        let clock = CellClock::start();
        let train = dataset.load_classification(lang, plan.pool, options.limit)?;
        let valid = match validation_split(dataset, lang, plan.pool, plan.test) {
            Some(split) => Some(dataset.load_classification(lang, split, options.limit)?),
            None => None,
        };
        let labels = labels_used(dataset, [&train].into_iter().chain(&valid).chain(tests))?;
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
        let steps = train.texts.len().div_ceil(run.recipe.batch_size.max(1)) * run.recipe.epochs;
        progress.begin(
            &format!("{lang} fine-tuning"),
            run.recipe.max_steps.unwrap_or(steps),
        );
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
        let time = clock.read();
        Ok(Self {
            model,
            record: FineTuneRecord {
                recipe: run.recipe.clone(),
                labels: labels.clone(),
                train: train.texts.len(),
                valid: valid.as_ref().map_or(0, |v| v.texts.len()),
                epochs: log.epochs,
                best_epoch: log.best_epoch,
            },
            labels,
            time,
        })
    }

    /// The scores of `test`, `lang`'s test split.
    fn score(
        &self,
        dataset: &str,
        lang: &Lang,
        test: &LabelledTexts,
    ) -> Result<crate::metrics::Scores, EvalError> {
        let texts: Vec<&str> = test.texts.iter().map(String::as_str).collect();
        let predicted = self
            .model
            .predict(&texts)
            .map_err(|e| EvalError::Config(format!("{dataset} {lang}: {e}")))?;
        let predicted: Vec<&str> = predicted.iter().map(|&i| self.labels[i].as_str()).collect();
        let gold: Vec<&str> = test.labels.iter().map(|l| l.as_str()).collect();
        Ok(classification_scores(&gold, &predicted, Average::Macro))
    }
}

/// Seconds to 0.01, as records carry CPU time.
fn round2(seconds: f64) -> f64 {
    (seconds * 100.0).round() / 100.0
}

/// The validation split of `lang`, when the dataset has one apart from the
/// splits trained and tested on.
fn validation_split(dataset: &Dataset, lang: &Lang, pool: Split, test: Split) -> Option<Split> {
    let apart = pool != Split::Validation && test != Split::Validation;
    (apart && dataset.has_classification_split(lang, Split::Validation))
        .then_some(Split::Validation)
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
