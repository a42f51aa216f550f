//! The bitext and classification runners.

use miners_classify::{KnnClassifier, Vote};
use miners_core::{Embeddings, Lang, Neighbours};
use miners_datasets::{ClassificationPlan, Dataset, LabelledTexts, Pair};
use miners_encoders::Role;

use crate::{
    CellClock, CellTime, EvalError, Progress, RecordSink, Retriever,
    metrics::{Average, Scores, bitext_scores, classification_scores},
    record::{CellKey, MetricsRecord, ModelRecord, ResultRecord, SCHEMA_VERSION, Setting, Task},
};

/// Options shared by the runners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Neighbour counts to score; each gives one record per cell.
    pub ks: Vec<usize>,
    /// Keep only the first N rows of every split read (pool, test, bitext pairs).
    pub limit: Option<usize>,
    /// Bitext: also score each pair the other way round (targets retrieve
    /// sources), as LASER's xsim reports both; the reference scores one way.
    pub both_directions: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            ks: vec![1, 5, 10],
            limit: None,
            both_directions: false,
        }
    }
}

impl RunOptions {
    fn max_k(&self) -> Result<usize, EvalError> {
        check_limit(self.limit)?;
        check_ks(&self.ks, 1)
    }
}

/// Checks k values (one or more, each at least `min`, none twice) and returns the largest.
pub(crate) fn check_ks(ks: &[usize], min: usize) -> Result<usize, EvalError> {
    let invalid = |why: String| Err(EvalError::Config(format!("k values {ks:?}: {why}")));
    if let Some(k) = ks.iter().find(|&&k| k < min) {
        return invalid(format!("k = {k} is below {min}"));
    }
    if let Some((i, k)) = ks.iter().enumerate().find(|(i, k)| ks[..*i].contains(k)) {
        return invalid(format!("k = {k} is given twice (position {})", i + 1));
    }
    match ks.iter().copied().max() {
        Some(max) => Ok(max),
        None => invalid("give one or more".into()),
    }
}

/// Checks an item limit: none, or at least 1.
pub(crate) fn check_limit(limit: Option<usize>) -> Result<(), EvalError> {
    match limit {
        Some(0) => Err(EvalError::Config(
            "limit 0 keeps no items; give at least 1, or no limit".into(),
        )),
        _ => Ok(()),
    }
}

/// A record skeleton filled by the runners.
pub(crate) struct Cell<'a> {
    pub(crate) dataset: &'a Dataset,
    pub(crate) retriever: &'a Retriever,
    /// Classification's voting rule (bitext: the majority default, unused).
    pub(crate) vote: Vote,
    pub(crate) task: Task,
    pub(crate) setting: Setting,
    pub(crate) source_lang: Option<String>,
    pub(crate) target_lang: Option<String>,
    pub(crate) lang: Option<String>,
    pub(crate) limit: Option<usize>,
    pub(crate) reversed: bool,
}

impl Cell<'_> {
    /// The retriever's record, its id marked with a voting rule other than
    /// the reference's.
    fn model(&self) -> ModelRecord {
        let mut model = self.retriever.record();
        model.id.push_str(self.vote.id_suffix());
        model
    }

    pub(crate) fn key(&self) -> CellKey {
        let cell = match (&self.source_lang, &self.target_lang, &self.lang) {
            (Some(s), Some(t), _) => format!("{s}-{t}"),
            (_, _, Some(l)) => l.clone(),
            _ => "all".into(),
        };
        CellKey {
            task: self.task,
            dataset: self.dataset.name(),
            generator: None,
            model: self.model().id,
            setting: self.setting,
            cell,
        }
    }

    pub(crate) fn record(
        &self,
        k: usize,
        n: usize,
        scores: Scores,
        averaging: Average,
        recall_at_k: Option<f64>,
        time: CellTime,
    ) -> ResultRecord {
        ResultRecord {
            schema: SCHEMA_VERSION,
            task: self.task,
            dataset: self.dataset.name(),
            substitute_for: self.dataset.spec().substitute_for.map(str::to_owned),
            setting: self.setting,
            model: self.model(),
            metric: self.retriever.metric(),
            source_lang: self.source_lang.clone(),
            target_lang: self.target_lang.clone(),
            lang: self.lang.clone(),
            k,
            n,
            limit: self.limit,
            metrics: MetricsRecord {
                accuracy: scores.accuracy,
                precision: scores.precision,
                recall: scores.recall,
                f1: scores.f1,
                averaging,
                recall_at_k,
            },
            seconds: time.seconds,
            cpu_seconds: time.cpu_seconds,
            generator: None,
            peak_rss_mib: crate::peak_rss_mib(),
            icl: None,
            finetune: None,
            reversed: self.reversed,
        }
    }
}

/// Bitext retrieval over `pairs` (all of the dataset's pairs when empty);
/// each pair's records go to `sink` as soon as the pair is scored.
pub fn run_bitext(
    dataset: &Dataset,
    retriever: &Retriever,
    pairs: &[Pair],
    options: &RunOptions,
    progress: &dyn Progress,
    sink: &mut dyn RecordSink,
) -> Result<(), EvalError> {
    options.max_k()?;
    let listed = dataset.bitext_pairs()?;
    let pairs = if pairs.is_empty() {
        listed.clone()
    } else {
        pairs.to_vec()
    };
    // Bitext always crosses languages; code-switched data is its own setting.
    let setting = match dataset.spec().code_switched {
        true => Setting::CodeSwitched,
        false => Setting::CrossLingual,
    };
    let directions: &[bool] = if options.both_directions {
        &[false, true]
    } else {
        &[false]
    };
    let fingerprint = retriever.record().fingerprint;
    let mut cells = Vec::new();
    for pair in &pairs {
        for &reversed in directions {
            if reversed {
                check_not_listed(dataset, pair, &listed)?;
            }
            let cell = bitext_cell_of(dataset, retriever, pair, reversed, setting, options);
            if !sink.is_done(
                &cell.key(),
                &options.ks,
                options.limit,
                fingerprint.as_deref(),
            ) {
                cells.push((pair, cell));
            }
        }
    }
    let shares = encode_ahead(dataset, retriever, &cells, options, progress)?;
    for ((pair, cell), share) in cells.iter().zip(shares) {
        if progress.cancelled() {
            return Err(EvalError::Cancelled);
        }
        bitext_cell(pair, cell, share, options, progress, sink)?;
    }
    Ok(())
}

/// Encodes every cell's texts into the retriever's cache before the first
/// cell, queries in one stream and targets in another, so that a
/// transformer batches them by length across all pairs rather than pair by
/// pair (a tenth less time on Tatoeba's short texts). Each cell is charged
/// its part of that time, by its count of texts; no time and nothing done
/// without a cache, or for a single cell.
fn encode_ahead(
    dataset: &Dataset,
    retriever: &Retriever,
    cells: &[(&Pair, Cell<'_>)],
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<Vec<CellTime>, EvalError> {
    let none = CellTime {
        seconds: 0.0,
        cpu_seconds: Some(0.0),
    };
    if cells.len() < 2 || !retriever.has_cache() {
        return Ok(vec![none; cells.len()]);
    }
    let clock = CellClock::start();
    let (mut queries, mut targets, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for (pair, cell) in cells {
        // A pair that does not load is left to its cell, which reports it
        // after the cells before it are scored, as without encoding ahead.
        let Ok(bitext) = dataset.load_bitext(pair, options.limit) else {
            break;
        };
        let (sources, candidates) = match cell.reversed {
            false => (bitext.source, bitext.target),
            true => (bitext.target, bitext.source),
        };
        counts.push(sources.len() + candidates.len());
        queries.extend(sources);
        targets.extend(candidates);
    }
    let label = format!("{} pairs", cells.len());
    retriever.encode(
        &queries,
        Role::Query,
        &format!("{label}, sources"),
        progress,
    )?;
    retriever.encode(
        &targets,
        Role::Passage,
        &format!("{label}, targets"),
        progress,
    )?;
    let time = clock.read();
    let total = counts.iter().sum::<usize>().max(1) as f64;
    let mut shares: Vec<CellTime> = counts
        .iter()
        .map(|&count| time.share(count as f64 / total))
        .collect();
    shares.resize(cells.len(), none);
    Ok(shares)
}

/// A dataset that lists a pair both ways scores its reverse itself.
fn check_not_listed(dataset: &Dataset, pair: &Pair, pairs: &[Pair]) -> Result<(), EvalError> {
    let reverse = Pair {
        source: pair.target.clone(),
        target: pair.source.clone(),
    };
    match pairs.contains(&reverse) {
        true => Err(EvalError::Config(format!(
            "{} lists both {pair} and {reverse}; score its pairs one way",
            dataset.spec().name
        ))),
        false => Ok(()),
    }
}

/// The cell of one pair in one direction (`reversed`: targets retrieve sources).
fn bitext_cell_of<'a>(
    dataset: &'a Dataset,
    retriever: &'a Retriever,
    pair: &Pair,
    reversed: bool,
    setting: Setting,
    options: &RunOptions,
) -> Cell<'a> {
    let (from, to) = match reversed {
        false => (&pair.source, &pair.target),
        true => (&pair.target, &pair.source),
    };
    Cell {
        dataset,
        retriever,
        vote: Vote::Majority,
        task: Task::Bitext,
        setting,
        source_lang: Some(from.to_string()),
        target_lang: Some(to.to_string()),
        lang: None,
        limit: options.limit,
        reversed,
    }
}

/// Scores one cell, its time plus `ahead`, its part of the encoding done
/// before the cells.
fn bitext_cell(
    pair: &Pair,
    cell: &Cell<'_>,
    ahead: CellTime,
    options: &RunOptions,
    progress: &dyn Progress,
    sink: &mut dyn RecordSink,
) -> Result<(), EvalError> {
    let (dataset, retriever, reversed) = (cell.dataset, cell.retriever, cell.reversed);
    let max_k = options.max_k()?;
    let clock = CellClock::start();
    let bitext = dataset.load_bitext(pair, options.limit)?;
    let (sources, targets) = match reversed {
        false => (&bitext.source, &bitext.target),
        true => (&bitext.target, &bitext.source),
    };
    let name = cell.key().cell;
    let queries = retriever.encode(sources, Role::Query, &format!("{name} source"), progress)?;
    let candidates =
        retriever.encode(targets, Role::Passage, &format!("{name} target"), progress)?;
    check_pool(max_k, bitext.len(), dataset, &name)?;
    let neighbours = retriever.search(&queries, &candidates, max_k)?;
    let scored: Vec<_> = options
        .ks
        .iter()
        .map(|&k| (k, bitext_scores(&neighbours, k)))
        .collect();
    let time = clock.read().plus(ahead);
    let records: Vec<ResultRecord> = scored
        .into_iter()
        .map(|(k, (scores, recall))| {
            let n = bitext.len();
            cell.record(k, n, scores, Average::Weighted, Some(recall), time)
        })
        .collect();
    sink.accept(&records)
}

/// What a classification run evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassificationRun {
    /// Test languages (all but the source when empty).
    pub langs: Vec<Lang>,
    /// Cross-lingual: the language whose pool serves every test language.
    pub cross_source: Option<Lang>,
    /// The voting rule.
    pub vote: Vote,
}

/// Retrieval-based classification, monolingual or cross-lingual; each
/// language's records go to `sink` as soon as it is scored.
pub fn run_classification(
    dataset: &Dataset,
    retriever: &Retriever,
    run: &ClassificationRun,
    options: &RunOptions,
    progress: &dyn Progress,
    sink: &mut dyn RecordSink,
) -> Result<(), EvalError> {
    let (plan, mut langs, setting) = classification_cells(
        dataset,
        &run.langs,
        run.cross_source.as_ref(),
        "classification",
    )?;
    let max_k = options.max_k()?;
    let cell_of = |lang: &Lang| Cell {
        dataset,
        retriever,
        vote: run.vote,
        task: Task::Classification,
        setting,
        source_lang: run.cross_source.as_ref().map(Lang::to_string),
        target_lang: run.cross_source.as_ref().map(|_| lang.to_string()),
        lang: run.cross_source.is_none().then(|| lang.to_string()),
        limit: options.limit,
        reversed: false,
    };
    let fingerprint = retriever.record().fingerprint;
    langs.retain(|lang| {
        let key = cell_of(lang).key();
        !sink.is_done(&key, &options.ks, options.limit, fingerprint.as_deref())
    });
    if langs.is_empty() {
        return Ok(());
    }
    // Cross-lingual runs encode the shared pool once.
    let shared_pool = match &run.cross_source {
        Some(source) => Some(encode_split(
            dataset, retriever, source, plan.pool, options, progress,
        )?),
        None => None,
    };
    for lang in &langs {
        if progress.cancelled() {
            return Err(EvalError::Cancelled);
        }
        let clock = CellClock::start();
        let owned_pool;
        let (pool, pool_embeddings) = match &shared_pool {
            Some((p, e)) => (p, e),
            None => {
                owned_pool = encode_split(dataset, retriever, lang, plan.pool, options, progress)?;
                (&owned_pool.0, &owned_pool.1)
            }
        };
        let (test, test_embeddings) =
            encode_split(dataset, retriever, lang, plan.test, options, progress)?;
        check_pool(max_k, pool.texts.len(), dataset, lang.as_str())?;
        let neighbours = retriever.search(&test_embeddings, pool_embeddings, max_k)?;
        let classifier = KnnClassifier::new(pool.labels.clone(), run.vote);
        let cell = cell_of(lang);
        let scored = score_votes(&classifier, &neighbours, &test, &options.ks)?;
        let time = clock.read();
        let records: Vec<ResultRecord> = scored
            .into_iter()
            .map(|(k, scores)| cell.record(k, test.texts.len(), scores, Average::Macro, None, time))
            .collect();
        sink.accept(&records)?;
    }
    Ok(())
}

/// A classification dataset's plan, the test languages of a run (all but the
/// cross-lingual source when none are given) and the run's setting.
pub(crate) fn classification_cells(
    dataset: &Dataset,
    langs: &[Lang],
    cross_source: Option<&Lang>,
    task: &'static str,
) -> Result<(ClassificationPlan, Vec<Lang>, Setting), EvalError> {
    let plan = dataset.spec().classification.ok_or_else(|| {
        EvalError::Dataset(miners_datasets::DatasetError::NoSuchTask {
            name: dataset.spec().name.to_owned(),
            task,
        })
    })?;
    let mut langs = if langs.is_empty() {
        dataset.classification_langs()?
    } else {
        langs.to_vec()
    };
    langs.retain(|l| Some(l) != cross_source);
    let setting = Setting::of(cross_source.is_some(), dataset.spec().code_switched);
    Ok((plan, langs, setting))
}

/// The pool language of a cross-lingual classification or ICL run on
/// `dataset`: `source` when given (one of its languages), else the dataset's
/// usual source; an error for a dataset of one language.
pub fn cross_source(dataset: &Dataset, source: Option<&str>) -> Result<Lang, EvalError> {
    let name = dataset.spec().name;
    let plan = dataset
        .spec()
        .classification
        .ok_or_else(|| EvalError::Config(format!("{name} is not a classification dataset")))?;
    match source {
        Some(lang) => {
            let lang = Lang::from(lang);
            match dataset.classification_langs()?.contains(&lang) {
                true => Ok(lang),
                false => Err(EvalError::Config(format!(
                    "{lang}: not a language of {name}"
                ))),
            }
        }
        None => plan.cross_source.map(Lang::from).ok_or_else(|| {
            EvalError::Config(format!("{name} has a single language; nothing to cross to"))
        }),
    }
}

/// The largest k must not exceed the candidate pool.
pub(crate) fn check_pool(
    max_k: usize,
    pool: usize,
    dataset: &Dataset,
    cell: &str,
) -> Result<(), EvalError> {
    if max_k <= pool {
        return Ok(());
    }
    let name = dataset.spec().name;
    Err(EvalError::Config(format!(
        "k = {max_k} is larger than the pool of {pool} candidates for {name} {cell}"
    )))
}

fn score_votes(
    classifier: &KnnClassifier,
    neighbours: &Neighbours,
    test: &LabelledTexts,
    ks: &[usize],
) -> Result<Vec<(usize, Scores)>, EvalError> {
    ks.iter()
        .map(|&k| {
            let predicted = classifier.predict(neighbours, k)?;
            Ok((
                k,
                classification_scores(&test.labels, &predicted, Average::Macro),
            ))
        })
        .collect()
}

/// The texts of `lang`'s `split` and their embeddings, as a pool (passages)
/// or as queries.
pub(crate) fn encode_split(
    dataset: &Dataset,
    retriever: &Retriever,
    lang: &Lang,
    split: miners_datasets::Split,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<(LabelledTexts, Vec<Embeddings>), EvalError> {
    let texts = dataset.load_classification(lang, split, options.limit)?;
    let role = if split == dataset.spec().classification.map_or(split, |p| p.pool) {
        Role::Passage
    } else {
        Role::Query
    };
    let embeddings = retriever.encode(
        &texts.texts,
        role,
        &format!("{lang} {}", split.name()),
        progress,
    )?;
    Ok((texts, embeddings))
}
