//! The ICL runner: retrieved demonstrations, a prompt, label scoring.

use miners_core::Lang;
use miners_datasets::{Dataset, LabelledTexts};
use miners_encoders::Role;
use miners_icl::{
    Decoding, Generation, Generator, IclError, Prompt, Sampling, Scoring, Selection, decide, select,
};

use crate::{
    CellClock, EvalError, Progress, RecordSink, Retriever,
    metrics::{Average, classification_scores},
    record::{
        CellKey, GeneratorRecord, IclOutputs, MetricsRecord, ResultRecord, SCHEMA_VERSION, Task,
    },
    tasks::classification_cells,
};

/// Prompts scored per generator call (one progress step).
const PROMPTS_PER_CALL: usize = 64;

/// What an ICL run evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct IclRun {
    /// Test languages (all but the source when empty).
    pub langs: Vec<Lang>,
    /// Cross-lingual: the language whose pool gives every test language its demonstrations.
    pub cross_source: Option<Lang>,
    /// How demonstrations are chosen.
    pub selection: Selection,
    /// Instruction and options line (generation scoring always lists the options).
    pub prompt: Prompt,
    /// Log-probability of each label, or generation and exact match.
    pub scoring: Scoring,
    /// Numbers of demonstrations; each gives one record per language (0 = zero-shot).
    pub ks: Vec<usize>,
    /// Score N test examples spread evenly over the test split (example
    /// `⌊i·len/N⌋` for i < N; test files may be sorted by label, so the first N
    /// would not do). The pool stays whole, so demonstrations are retrieved as
    /// in a full run.
    pub limit: Option<usize>,
}

/// In-context-learning classification; each language's records (one per k)
/// go to `sink` as soon as it is scored.
pub fn run_icl(
    dataset: &Dataset,
    retriever: &Retriever,
    generator: &dyn Generator,
    run: &IclRun,
    progress: &dyn Progress,
    sink: &mut dyn RecordSink,
) -> Result<(), EvalError> {
    let (plan, langs, setting) =
        classification_cells(dataset, &run.langs, run.cross_source.as_ref(), "icl")?;
    let max_k = crate::tasks::check_ks(&run.ks, 0)?;
    crate::tasks::check_limit(run.limit)?;
    let labels = dataset.candidate_labels()?;
    for lang in &langs {
        let key = CellKey {
            task: Task::Icl,
            dataset: dataset.name(),
            generator: Some(CellKey::generator_dir(
                generator.id(),
                &run.selection,
                &run.scoring,
            )),
            model: retriever.record().id,
            setting,
            cell: match &run.cross_source {
                Some(source) => format!("{source}-{lang}"),
                None => lang.to_string(),
            },
        };
        let fingerprint = retriever.record().fingerprint;
        if sink.is_done(&key, &run.ks, run.limit, fingerprint.as_deref()) {
            continue;
        }
        let pool_lang = run.cross_source.as_ref().unwrap_or(lang);
        let pool = dataset.load_classification(pool_lang, plan.pool, None)?;
        crate::tasks::check_pool(max_k, pool.texts.len(), dataset, lang.as_str())?;
        let test = dataset
            .load_classification(lang, plan.test, None)?
            .spread(run.limit);
        let rankings = rank(retriever, &pool, &test, run, lang, progress)?;
        let mut records = Vec::new();
        for &k in &run.ks {
            let clock = CellClock::start();
            let outputs = score_cell(
                generator, &pool, &test, &rankings, &labels, run, k, progress,
            )?;
            let gold: Vec<&str> = outputs.gold.iter().map(String::as_str).collect();
            let predicted: Vec<&str> = outputs.predictions.iter().map(String::as_str).collect();
            let scores = classification_scores(&gold, &predicted, Average::Macro);
            let time = clock.read();
            records.push(ResultRecord {
                schema: SCHEMA_VERSION,
                task: Task::Icl,
                dataset: dataset.name(),
                substitute_for: dataset.spec().substitute_for.map(str::to_owned),
                setting,
                model: retriever.record(),
                metric: retriever.metric(),
                source_lang: run.cross_source.as_ref().map(Lang::to_string),
                target_lang: run.cross_source.as_ref().map(|_| lang.to_string()),
                lang: run.cross_source.is_none().then(|| lang.to_string()),
                k,
                n: test.texts.len(),
                limit: run.limit,
                metrics: MetricsRecord {
                    accuracy: scores.accuracy,
                    precision: scores.precision,
                    recall: scores.recall,
                    f1: scores.f1,
                    averaging: Average::Macro,
                    recall_at_k: None,
                },
                seconds: time.seconds,
                cpu_seconds: time.cpu_seconds,
                generator: Some(GeneratorRecord {
                    id: generator.id().to_owned(),
                    source: generator.source().map(str::to_owned),
                    selection: run.selection.clone(),
                    prompt: template(run),
                    scoring: run.scoring,
                }),
                peak_rss_mib: crate::peak_rss_mib(),
                icl: Some(outputs),
                finetune: None,
                reversed: false,
            });
        }
        sink.accept(&records)?;
    }
    Ok(())
}

/// Pool indices ranked nearest first for each test text (the whole pool, so
/// balanced and percentile selections see every candidate).
fn rank(
    retriever: &Retriever,
    pool: &LabelledTexts,
    test: &LabelledTexts,
    run: &IclRun,
    lang: &Lang,
    progress: &dyn Progress,
) -> Result<Vec<Vec<usize>>, EvalError> {
    let max_k = run.ks.iter().copied().max().unwrap_or(0);
    if max_k == 0 || pool.texts.is_empty() {
        return Ok(vec![Vec::new(); test.texts.len()]);
    }
    let depth = match run.selection {
        Selection::Nearest => max_k.min(pool.texts.len()),
        _ => pool.texts.len(),
    };
    let pool_vectors = retriever.encode(
        &pool.texts,
        Role::Passage,
        &format!("{lang} pool"),
        progress,
    )?;
    let test_vectors =
        retriever.encode(&test.texts, Role::Query, &format!("{lang} test"), progress)?;
    let neighbours = retriever.search(&test_vectors, &pool_vectors, depth)?;
    Ok((0..test.texts.len())
        .map(|q| neighbours.indices(q).collect())
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn score_cell(
    generator: &dyn Generator,
    pool: &LabelledTexts,
    test: &LabelledTexts,
    rankings: &[Vec<usize>],
    labels: &[String],
    run: &IclRun,
    k: usize,
    progress: &dyn Progress,
) -> Result<IclOutputs, EvalError> {
    let pool_labels: Vec<&str> = pool.labels.iter().map(|l| l.as_str()).collect();
    let label_tokens = labels
        .iter()
        .map(|l| generator.count_tokens(l))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    // Room for the answer: the longest label, or the tokens generation may add.
    let label_tokens = match run.scoring {
        Scoring::LogProb => label_tokens,
        Scoring::Generate { decoding, .. } => label_tokens.max(decoding.max_new_tokens),
    };
    let template = template(run);
    let mut prompts = Vec::with_capacity(test.texts.len());
    let mut dropped = Vec::with_capacity(test.texts.len());
    let mut lengths = Vec::with_capacity(test.texts.len());
    for (text, ranking) in test.texts.iter().zip(rankings) {
        let chosen = select(ranking, &pool_labels, k, &run.selection, labels);
        let (prompt, tokens, removed) = fit(
            generator,
            &template,
            pool,
            &chosen,
            text,
            labels,
            label_tokens,
        )?;
        prompts.push(prompt);
        dropped.push(removed);
        lengths.push(tokens);
    }
    let gold: Vec<String> = test.labels.iter().map(|l| l.as_str().to_owned()).collect();
    if let Scoring::Generate {
        decoding,
        fold_case,
    } = run.scoring
    {
        let generations = generate_all(generator, &mut prompts, &decoding, k, progress)?;
        let read = |text: &str| match fold_case {
            true => text.to_lowercase(),
            false => text.to_owned(),
        };
        return Ok(IclOutputs {
            gold: gold.iter().map(|g| read(g)).collect(),
            predictions: generations.iter().map(|g| read(&g.text)).collect(),
            prompts,
            dropped_demonstrations: dropped,
            prompt_tokens: lengths.iter().sum(),
            generations: Some(generations),
        });
    }
    progress.begin(&format!("k={k} scoring"), prompts.len());
    // Score in order of length, so each call's batches pad little.
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut predictions = vec![String::new(); prompts.len()];
    for chunk in order.chunks(PROMPTS_PER_CALL) {
        if progress.cancelled() {
            return Err(EvalError::Cancelled);
        }
        let texts: Vec<String> = chunk.iter().map(|&i| prompts[i].clone()).collect();
        for (&i, scores) in chunk.iter().zip(generator.score(&texts, labels)?) {
            predictions[i] = labels[decide(&scores)].clone();
        }
        progress.advance(chunk.len());
    }
    progress.finish();
    Ok(IclOutputs {
        gold,
        predictions,
        prompts,
        dropped_demonstrations: dropped,
        prompt_tokens: lengths.iter().sum(),
        generations: None,
    })
}

/// The prompt template a run uses: generation scoring always lists the
/// options, as the reference does on that path.
fn template(run: &IclRun) -> Prompt {
    match run.scoring {
        Scoring::LogProb => run.prompt.clone(),
        Scoring::Generate { .. } => run.prompt.clone().with_options(true),
    }
}

/// Answers generated between two looks for a Ctrl-C.
const GENERATIONS_PER_LOOK: usize = 32;

/// Generates an answer to every prompt, through the model's chat template
/// when it has one; example `i` draws with seed `seed + i`, so a rerun of any
/// example repeats it. Prompts are replaced by what the model was given.
fn generate_all(
    generator: &dyn Generator,
    prompts: &mut [String],
    decoding: &Decoding,
    k: usize,
    progress: &dyn Progress,
) -> Result<Vec<Generation>, EvalError> {
    progress.begin(&format!("k={k} generating"), prompts.len());
    let mut requests = Vec::with_capacity(prompts.len());
    for (i, prompt) in prompts.iter_mut().enumerate() {
        if let Some(chat) = generator.chat_template() {
            *prompt = chat.render_user(prompt)?;
        }
        let mut decoding = *decoding;
        if let Sampling::Sample { seed, .. } = &mut decoding.sampling {
            *seed = seed.wrapping_add(i as u64);
        }
        requests.push((prompt.clone(), decoding));
    }
    // In parts, looking for a Ctrl-C between them (each answer depends on
    // its own prompt and seed only).
    let mut generations = Vec::with_capacity(requests.len());
    for part in requests.chunks(GENERATIONS_PER_LOOK) {
        if progress.cancelled() {
            return Err(EvalError::Cancelled);
        }
        generations.extend(generator.generate_batch(part, &mut |_| progress.advance(1))?);
    }
    progress.finish();
    Ok(generations)
}

/// The prompt with as many of `chosen` demonstrations as fit the context
/// window with the longest label, dropping the farthest first; returns the
/// prompt, its token count and the number dropped.
fn fit(
    generator: &dyn Generator,
    template: &Prompt,
    pool: &LabelledTexts,
    chosen: &[usize],
    input: &str,
    labels: &[String],
    label_tokens: usize,
) -> Result<(String, usize, usize), EvalError> {
    let window = generator.context_window();
    let mut keep = chosen.len();
    loop {
        let demonstrations: Vec<(&str, &str)> = chosen[..keep]
            .iter()
            .map(|&i| (pool.texts[i].as_str(), pool.labels[i].as_str()))
            .collect();
        let prompt = template.render(&demonstrations, input, Some(labels));
        let tokens = generator.count_tokens(&prompt)?;
        if tokens + label_tokens <= window {
            return Ok((prompt, tokens, chosen.len() - keep));
        }
        if keep == 0 {
            return Err(IclError::PromptTooLong {
                tokens,
                label_tokens,
                window,
            }
            .into());
        }
        keep -= 1;
    }
}
