//! From records to the paper's tables.
//!
//! Averaging follows the reference's aggregation scripts: a dataset's score
//! is the mean over its cells (languages or pairs) of the headline metric,
//! times 100 and rounded to two decimals; a column averages the rounded
//! dataset scores; `avg` averages the columns. Headline metric: F1 for
//! bitext, macro-F1 for NusaX classification and ICL, accuracy elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use miners_datasets::{DatasetSpec, Headline};
use miners_eval::{ResultRecord, Setting, Task, mining::MiningResult, slug};
use miners_icl::Selection;
use serde::Serialize;
use serde_json::Value;

/// A rendered-agnostic table: a header and rows of strings, numbers or nulls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// File stem, e.g. `table2`.
    pub name: String,
    /// Title line.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows; numbers are scores in percent, `null` means no records.
    pub rows: Vec<Vec<Value>>,
    /// Footnotes (datasets per column, substitutes).
    pub notes: Vec<String>,
}

/// The k the paper reports for a task: 1 for bitext, 10 for classification,
/// 1 for ICL; fine-tuning records carry 0.
pub fn headline_k(task: Task) -> usize {
    match task {
        Task::Bitext | Task::Icl | Task::Mining => 1,
        Task::Classification => 10,
        Task::FineTune => 0,
    }
}

/// `, k = K` for a table title, or nothing for a task without k (fine-tuning).
fn at_k(task: Task, k: usize) -> String {
    match task {
        Task::FineTune => String::new(),
        _ => format!(", k = {k}"),
    }
}

/// The metric the paper reports for a record: F1 for bitext, else the
/// dataset's [`Headline`] (accuracy for datasets the registry does not know).
pub fn headline_metric(record: &ResultRecord) -> f64 {
    let headline = DatasetSpec::find(&record.dataset)
        .ok()
        .and_then(|spec| spec.classification)
        .map_or(Headline::Accuracy, |plan| plan.headline);
    if record.task.reports_f1() || headline == Headline::MacroF1 {
        record.metrics.f1
    } else {
        record.metrics.accuracy
    }
}

/// A dataset's name as tables show it, substitutes marked.
pub fn display_name(dataset: &str, substitute_for: Option<&str>) -> String {
    match substitute_for {
        Some(original) => format!("{dataset} (substitute for {original})"),
        None => dataset.to_owned(),
    }
}

/// The generator and retriever of a row: `retriever` or `generator / retriever`;
/// bitext scored against the dataset's direction is `retriever (reversed)`,
/// and DistFuse with learned weights is named without them
/// (`distfuse(e5-small+minilm-l6,tuned-per-dataset)`).
/// ICL rows say how answers were read: `logprob`, `logprob + options` (a
/// combination the reference never runs) or `generate`.
pub fn system(record: &ResultRecord) -> String {
    let retriever = match record.model.tuned_by {
        Some(_) => without_weights(&record.model.id),
        None => record.model.id.clone(),
    };
    let (Some(g), Some(generator)) = (&record.generator, record.key().generator) else {
        return match record.reversed {
            true => format!("{retriever} (reversed)"),
            false => retriever,
        };
    };
    let generator = generator.trim_end_matches("+generate");
    let scoring = match (g.scoring.name(), g.prompt.options) {
        ("logprob", true) => "logprob + options",
        (name, _) => name,
    };
    format!("{generator} / {retriever} ({scoring})")
}

/// A DistFuse id without its members' weights (`*0.3`): learned weights
/// differ per dataset or family, and one row holds them all.
fn without_weights(id: &str) -> String {
    let mut kept = String::with_capacity(id.len());
    let mut chars = id.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => while chars.next_if(|d| d.is_ascii_digit() || *d == '.').is_some() {},
            other => kept.push(other),
        }
    }
    kept
}

/// Mean over cells ×100, rounded to two decimals, and the number of cells.
pub fn dataset_score<'a>(records: impl Iterator<Item = &'a ResultRecord>) -> Option<(f64, usize)> {
    dataset_mean(records, headline_metric)
}

/// Mean of `metric` over cells ×100, rounded to two decimals, and the number of cells.
fn dataset_mean<'a>(
    records: impl Iterator<Item = &'a ResultRecord>,
    metric: impl Fn(&ResultRecord) -> f64,
) -> Option<(f64, usize)> {
    let scores: Vec<f64> = records.map(metric).collect();
    if scores.is_empty() {
        return None;
    }
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    Some((round2(mean * 100.0), scores.len()))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| round2(values.iter().sum::<f64>() / values.len() as f64))
}

fn number(x: Option<f64>) -> Value {
    x.map_or(Value::Null, Value::from)
}

/// Table 2: per retriever, bitext (k = 1) and classification (k = 10) by setting.
pub fn table2(records: &[ResultRecord]) -> Table {
    let columns: [(Task, Setting, &str); 6] = [
        (Task::Bitext, Setting::CrossLingual, "bitext cross-lingual"),
        (Task::Bitext, Setting::CodeSwitched, "bitext code-switched"),
        (
            Task::Classification,
            Setting::Monolingual,
            "classification monolingual",
        ),
        (
            Task::Classification,
            Setting::CrossLingual,
            "classification cross-lingual",
        ),
        (
            Task::Classification,
            Setting::CodeSwitched,
            "classification code-switched",
        ),
        (
            Task::Classification,
            Setting::CrossCodeSwitched,
            "classification cross-lingual code-switched",
        ),
    ];
    // The headline is the reference's direction.
    let retrieval: Vec<&ResultRecord> = records
        .iter()
        .filter(|r| matches!(r.task, Task::Bitext | Task::Classification) && !r.reversed)
        .collect();
    let models: BTreeSet<String> = retrieval.iter().map(|r| system(r)).collect();
    let mut rows = Vec::new();
    let mut datasets_per_column: Vec<BTreeSet<String>> = vec![BTreeSet::new(); columns.len()];
    let mut covered: BTreeMap<(String, usize), BTreeSet<String>> = BTreeMap::new();
    for model in &models {
        let mut row = vec![Value::from(model.clone())];
        let mut per_task: BTreeMap<Task, Vec<f64>> = BTreeMap::new();
        for (c, &(task, setting, _)) in columns.iter().enumerate() {
            let k = headline_k(task);
            let chosen: Vec<&&ResultRecord> = retrieval
                .iter()
                .filter(|r| {
                    r.task == task && r.setting == setting && r.k == k && &system(r) == model
                })
                .collect();
            let datasets: BTreeSet<&str> = chosen.iter().map(|r| r.dataset.as_str()).collect();
            let scores: Vec<f64> = datasets
                .iter()
                .filter_map(|d| {
                    dataset_score(chosen.iter().filter(|r| r.dataset == *d).map(|r| **r))
                })
                .map(|(score, _)| score)
                .collect();
            for r in &chosen {
                let name = display_name(&r.dataset, r.substitute_for.as_deref());
                datasets_per_column[c].insert(name.clone());
                covered.entry((model.clone(), c)).or_default().insert(name);
            }
            let column = mean(&scores);
            if let Some(value) = column {
                per_task.entry(task).or_default().push(value);
            }
            row.push(number(column));
            if c == 1 {
                row.push(number(mean(
                    per_task.get(&Task::Bitext).map_or(&[][..], |v| v),
                )));
            }
        }
        row.push(number(mean(
            per_task.get(&Task::Classification).map_or(&[][..], |v| v),
        )));
        rows.push(row);
    }
    let mut header: Vec<String> = vec!["retriever".into()];
    for (c, (_, _, name)) in columns.iter().enumerate() {
        header.push((*name).into());
        if c == 1 {
            header.push("bitext avg".into());
        }
    }
    header.push("classification avg".into());
    let mut notes: Vec<String> = columns
        .iter()
        .zip(&datasets_per_column)
        .filter(|(_, d)| !d.is_empty())
        .map(|((_, _, name), d)| {
            format!(
                "{name}: {}",
                d.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    // Rows averaged over fewer datasets than their column has are incomplete
    // (the reference's aggregation marks them "IC").
    for model in &models {
        let missing: Vec<String> = columns
            .iter()
            .enumerate()
            .filter_map(|(c, (_, _, name))| {
                let have = covered
                    .get(&(model.clone(), c))
                    .cloned()
                    .unwrap_or_default();
                let lacking: Vec<String> =
                    datasets_per_column[c].difference(&have).cloned().collect();
                (!lacking.is_empty()).then(|| format!("{name} lacks {}", lacking.join(", ")))
            })
            .collect();
        if !missing.is_empty() {
            notes.push(format!("incomplete (IC): {model}: {}", missing.join("; ")));
        }
    }
    Table {
        name: "table2".into(),
        title: "Table 2: bitext retrieval (F1, k = 1) and retrieval-based classification (k = 10; macro-F1 for NusaX, accuracy elsewhere)".into(),
        header,
        rows,
        notes,
    }
}

/// Bitext both ways, for retrievers scored in both directions: F1 at k = 1
/// and xsim's error rate (100 − accuracy at k = 1), the dataset's direction,
/// the reverse and their mean, averaged over datasets as Table 2 averages.
pub fn directions(records: &[ResultRecord]) -> Option<Table> {
    let bitext: Vec<&ResultRecord> = records
        .iter()
        .filter(|r| r.task.pairs_languages() && r.k == 1)
        .collect();
    let models: BTreeSet<&str> = bitext
        .iter()
        .filter(|r| r.reversed)
        .map(|r| r.model.id.as_str())
        .collect();
    if models.is_empty() {
        return None;
    }
    // Per direction: mean over datasets of the mean over cells, ×100.
    let score = |model: &str, reversed: bool, metric: fn(&ResultRecord) -> f64| {
        let chosen: Vec<&&ResultRecord> = bitext
            .iter()
            .filter(|r| r.model.id == model && r.reversed == reversed)
            .collect();
        let datasets: BTreeSet<&str> = chosen.iter().map(|r| r.dataset.as_str()).collect();
        let per_dataset: Vec<f64> = datasets
            .iter()
            .filter_map(|d| {
                dataset_mean(
                    chosen.iter().filter(|r| r.dataset == *d).map(|r| **r),
                    metric,
                )
            })
            .map(|(score, _)| score)
            .collect();
        mean(&per_dataset)
    };
    let rows = models
        .iter()
        .map(|&model| {
            let f1 = |reversed| score(model, reversed, |r| r.metrics.f1);
            let error = |reversed| score(model, reversed, |r| 1.0 - r.metrics.accuracy);
            let both = |a: Option<f64>, b: Option<f64>| Some(round2((a? + b?) / 2.0));
            vec![
                Value::from(model),
                number(f1(false)),
                number(f1(true)),
                number(both(f1(false), f1(true))),
                number(error(false)),
                number(error(true)),
                number(both(error(false), error(true))),
            ]
        })
        .collect();
    let header = [
        "retriever",
        "F1 dataset direction",
        "F1 reversed",
        "F1 mean",
        "xsim error dataset direction",
        "xsim error reversed",
        "xsim error mean",
    ];
    Some(Table {
        name: "bitext-directions".into(),
        title: "Bitext in both directions (k = 1): F1 and xsim error rate (100 − accuracy)".into(),
        header: header.iter().map(|h| (*h).to_owned()).collect(),
        rows,
        notes: vec![
            "The headline (Table 2) is the dataset's direction, as the reference scores it.".into(),
        ],
    })
}

/// The metric ablation: per retriever that ran under more than one ranking
/// (`e5-small`, `e5-small~cosine`, `e5-small~csls10`, …), Table 2's columns
/// with one row per ranking and a last row naming the best ranking per column.
pub fn ablation(records: &[ResultRecord]) -> Vec<Table> {
    let overall = table2(records);
    let mut by_base: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
    for row in &overall.rows {
        let id = row[0].as_str().unwrap_or_default();
        let (base, ranking) = id.split_once('~').unwrap_or((id, "euclidean"));
        let mut row = row.clone();
        row[0] = Value::from(ranking);
        by_base.entry(base.to_owned()).or_default().push(row);
    }
    by_base
        .into_iter()
        .filter(|(_, rows)| rows.len() > 1)
        .map(|(base, mut rows)| {
            rows.push(best_per_column(&rows, overall.header.len() - 1));
            let mut header = overall.header.clone();
            header[0] = "ranking".into();
            Table {
                name: format!("ablation-{}", miners_eval::slug(&base)),
                title: format!("Metric ablation: {base} (Table 2's columns, one row per ranking)"),
                header,
                rows,
                notes: vec![
                    "rankings: euclidean (the reference), cosine, dot, ~margin_ratio4 (LASER's ratio margin over cosine), ~margin_distance4, ~csls10; DistFuse ranks by its fused distance".into(),
                ],
            }
        })
        .collect()
}

/// Bitext mining, one table per dataset: a row per retriever and ranking, the
/// held-out half's F1 per pair, then precision, recall and F1 averaged over
/// pairs (percent, two decimals), and a last row naming the best per column.
pub fn mining(results: &[MiningResult]) -> Vec<Table> {
    let datasets: BTreeSet<&str> = results.iter().map(|r| r.dataset.as_str()).collect();
    datasets
        .into_iter()
        .map(|dataset| {
            let of_dataset: Vec<&MiningResult> =
                results.iter().filter(|r| r.dataset == dataset).collect();
            let pairs: BTreeSet<&str> = of_dataset.iter().map(|r| r.pair.as_str()).collect();
            let models: BTreeSet<&str> = of_dataset.iter().map(|r| r.model.as_str()).collect();
            let mut rows: Vec<Vec<Value>> = models
                .iter()
                .map(|&model| {
                    let of_model: Vec<&&MiningResult> =
                        of_dataset.iter().filter(|r| r.model == model).collect();
                    let f1 = |pair: &str| {
                        let result = of_model.iter().find(|r| r.pair == pair)?;
                        Some(round2(100.0 * result.test.f1))
                    };
                    let averaged = |score: fn(&MiningResult) -> f64| {
                        let values: Vec<f64> = of_model.iter().map(|r| 100.0 * score(r)).collect();
                        number(mean(&values))
                    };
                    let mut row = vec![Value::from(model)];
                    row.extend(pairs.iter().map(|&pair| number(f1(pair))));
                    row.push(averaged(|r| r.test.precision));
                    row.push(averaged(|r| r.test.recall));
                    row.push(averaged(|r| r.test.f1));
                    row
                })
                .collect();
            let columns = pairs.len() + 3;
            rows.push(best_per_column(&rows, columns));
            let mut header = vec!["retriever".to_owned()];
            header.extend(pairs.iter().map(|pair| format!("{pair} F1")));
            header.extend(["mean P", "mean R", "mean F1"].map(String::from));
            let sentences: BTreeSet<usize> = of_dataset.iter().map(|r| r.sentences).collect();
            let sentences: Vec<String> = sentences.iter().map(usize::to_string).collect();
            Table {
                name: format!("mining-{}", miners_eval::slug(dataset)),
                title: format!(
                    "Bitext mining: {dataset} (mutual best pairs, threshold tuned on one half, scored on the other)"
                ),
                header,
                rows,
                notes: vec![format!(
                    "pools of {} sentences per side, shuffled; ids name the ranking as in the ablation tables (none: L2)",
                    sentences.join(" / ")
                )],
            }
        })
        .collect()
}

/// A row naming, per column, the rows (by their first cell) with the highest
/// score, tied ones joined by ` = `.
fn best_per_column(rows: &[Vec<Value>], columns: usize) -> Vec<Value> {
    let mut best = vec![Value::from("best")];
    for column in 1..=columns {
        let scored: Vec<(f64, &str)> = rows
            .iter()
            .filter_map(|row| Some((row.get(column)?.as_f64()?, row[0].as_str()?)))
            .collect();
        let top = scored.iter().map(|s| s.0).reduce(f64::max);
        let winners: Vec<&str> = scored
            .iter()
            .filter(|s| Some(s.0) == top)
            .map(|s| s.1)
            .collect();
        best.push(match winners.is_empty() {
            true => Value::Null,
            false => Value::from(winners.join(" = ")),
        });
    }
    best
}

/// A table's columns and rows: the (dataset, substitute-for) pairs and the
/// systems that `records` cover, sorted.
fn datasets_and_systems(
    records: &[&ResultRecord],
) -> (BTreeSet<(String, Option<String>)>, BTreeSet<String>) {
    let datasets = records
        .iter()
        .map(|r| (r.dataset.clone(), r.substitute_for.clone()))
        .collect();
    let systems = records.iter().map(|r| system(r)).collect();
    (datasets, systems)
}

/// Table 3: ICL with in-language demonstrations (monolingual, and code-switched
/// for code-switched datasets), 0-shot and 1-shot, per generator and retriever.
pub fn table3(records: &[ResultRecord]) -> Table {
    let icl: Vec<&ResultRecord> = records
        .iter()
        .filter(|r| {
            r.task.prompts_generator()
                && matches!(r.setting, Setting::Monolingual | Setting::CodeSwitched)
        })
        .collect();
    let (datasets, systems) = datasets_and_systems(&icl);
    let mut header = vec!["generator / retriever".to_owned()];
    for (d, sub) in &datasets {
        for k in [0, 1] {
            header.push(format!("{} {k}-shot", display_name(d, sub.as_deref())));
        }
    }
    header.extend(["avg 0-shot".to_owned(), "avg 1-shot".to_owned()]);
    let rows = systems
        .iter()
        .map(|s| {
            let mut row = vec![Value::from(s.clone())];
            let mut per_k: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            for (d, _) in &datasets {
                for k in [0, 1] {
                    let score = dataset_score(
                        icl.iter()
                            .copied()
                            .filter(|r| &r.dataset == d && r.k == k && &system(r) == s),
                    )
                    .map(|(v, _)| v);
                    if let Some(v) = score {
                        per_k[k].push(v);
                    }
                    row.push(number(score));
                }
            }
            row.push(number(mean(&per_k[0])));
            row.push(number(mean(&per_k[1])));
            row
        })
        .collect();
    Table {
        name: "table3".into(),
        title: "Table 3: ICL classification, in-language demonstrations (monolingual; code-switched for code-switched datasets), 0-shot and 1-shot (macro-F1 for NusaX, accuracy elsewhere)".into(),
        header,
        rows,
        notes: vec!["Scores average the languages run; see the per-language tables for coverage and test sizes.".into()],
    }
}

/// The paper's claim, tested on our models: per dataset and fine-tuned
/// encoder, retrieval-based classification (k = 10), the best 1-shot ICL
/// with that encoder retrieving (its generator named), and the fine-tuned
/// baseline, in language (monolingual, or code-switched), each the
/// dataset's headline averaged over the languages fine-tuned. `None`
/// without fine-tuning records.
pub fn versus(records: &[ResultRecord]) -> Option<Table> {
    let in_language = |r: &&ResultRecord| {
        matches!(r.setting, Setting::Monolingual | Setting::CodeSwitched) && !r.reversed
    };
    let tuned: Vec<&ResultRecord> = records
        .iter()
        .filter(|r| r.task == Task::FineTune)
        .filter(in_language)
        .collect();
    let groups: BTreeSet<(String, String)> = tuned
        .iter()
        .map(|r| (r.dataset.clone(), r.model.id.clone()))
        .collect();
    if groups.is_empty() {
        return None;
    }
    let rows = groups
        .iter()
        .map(|(dataset, model)| {
            let langs: BTreeSet<String> = tuned
                .iter()
                .filter(|r| &r.dataset == dataset && &r.model.id == model)
                .map(|r| r.cell())
                .collect();
            let chosen = |task: Task, k: usize| -> Vec<&ResultRecord> {
                records
                    .iter()
                    .filter(in_language)
                    .filter(|r| {
                        r.task == task
                            && &r.dataset == dataset
                            && r.k == k
                            && &r.model.id == model
                            && langs.contains(&r.cell())
                    })
                    .collect()
            };
            let score =
                |chosen: &[&ResultRecord]| dataset_score(chosen.iter().copied()).map(|(v, _)| v);
            let knn = score(&chosen(Task::Classification, 10));
            let icl_records = chosen(Task::Icl, 1);
            let generators: BTreeSet<String> = icl_records.iter().map(|r| system(r)).collect();
            let icl = generators
                .iter()
                .filter_map(|g| {
                    let of_generator: Vec<&ResultRecord> = icl_records
                        .iter()
                        .copied()
                        .filter(|r| &system(r) == g)
                        .collect();
                    score(&of_generator).map(|v| (v, g.clone()))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let fine = score(&chosen(Task::FineTune, 0));
            vec![
                Value::from(dataset.clone()),
                Value::from(model.clone()),
                Value::from(langs.len()),
                number(knn),
                number(icl.as_ref().map(|(v, _)| *v)),
                icl.map_or(Value::Null, |(_, g)| Value::from(g)),
                number(fine),
            ]
        })
        .collect();
    Some(Table {
        name: "versus".into(),
        title: "Retrieval vs ICL vs fine-tuned: in-language classification per dataset and encoder (macro-F1 for NusaX, accuracy elsewhere), over the languages fine-tuned".into(),
        header: [
            "dataset",
            "encoder",
            "languages",
            "kNN (k = 10)",
            "best ICL (1-shot)",
            "ICL generator",
            "fine-tuned",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        notes: vec![
            "kNN and ICL average the same languages as the fine-tuned column; ICL scores the examples its run kept (a sweep's `limit`), the others the whole test split.".into(),
            "Fine-tuned: the reference's recipe (transformers' Trainer: AdamW, lr 5e-5, batch 8, up to 10 epochs, early stopping with patience 2 on validation accuracy), one model per language.".into(),
        ],
    })
}

/// ICL by demonstration percentile window, as the reference's
/// `aggregate_icl_percentile.py` tabulates it: per dataset, setting,
/// generator (with its scoring) and k, a row per retriever and a column per
/// window (`p50-100`: demonstrations from the 50th to the 100th percentile of
/// the pool ranked nearest first), each the dataset's headline score averaged over the
/// languages run, then their mean.
pub fn percentiles(records: &[ResultRecord]) -> Vec<Table> {
    type Group = (String, Setting, (String, &'static str), usize);
    let mut groups: BTreeMap<Group, Vec<&ResultRecord>> = BTreeMap::new();
    for record in records {
        let Some(generator) = &record.generator else {
            continue;
        };
        if let Selection::Percentile { .. } = generator.selection {
            let scoring = generator.scoring.name();
            let key = (
                record.dataset.clone(),
                record.setting,
                (generator.id.clone(), scoring),
                record.k,
            );
            groups.entry(key).or_default().push(record);
        }
    }
    groups
        .into_iter()
        .map(|((dataset, setting, (generator, scoring), k), chosen)| {
            let window = |r: &ResultRecord| match r.generator.as_ref().map(|g| &g.selection) {
                Some(Selection::Percentile { min, max }) => (*min, *max),
                _ => unreachable!("only percentile records are grouped"),
            };
            let mut windows: Vec<(f64, f64)> = chosen.iter().map(|r| window(r)).collect();
            windows.sort_by(|a, b| a.partial_cmp(b).expect("percentiles are numbers"));
            windows.dedup();
            let retrievers: BTreeSet<&str> = chosen.iter().map(|r| r.model.id.as_str()).collect();
            let rows = retrievers
                .iter()
                .map(|&retriever| {
                    let scores: Vec<Option<f64>> = windows
                        .iter()
                        .map(|&w| {
                            let of = chosen.iter().copied();
                            let cells = of.filter(|r| r.model.id == retriever && window(r) == w);
                            dataset_score(cells).map(|(v, _)| v)
                        })
                        .collect();
                    let present: Vec<f64> = scores.iter().flatten().copied().collect();
                    let mut row = vec![Value::from(retriever)];
                    row.extend(scores.into_iter().map(number));
                    row.push(number(mean(&present)));
                    row
                })
                .collect();
            let mut header = vec!["retriever".to_owned()];
            header.extend(windows.iter().map(|(min, max)| format!("p{min}-{max}")));
            header.push("avg".into());
            Table {
                name: slug(&format!(
                    "icl-percentile-{dataset}-{}-{generator}-{scoring}-k{k}",
                    setting.name()
                )),
                title: format!(
                    "ICL by demonstration percentile window: {dataset} ({}), {generator} ({scoring}), k = {k}",
                    setting.name()
                ),
                header,
                rows,
                notes: vec!["pMIN-MAX: demonstrations from the MIN-th to the MAX-th percentile of the pool ranked nearest first (p0-100: the nearest; p99-100: among the farthest 1 %); scores average the languages run.".into()],
            }
        })
        .collect()
}

/// One table per (task, setting) at the headline k: retrievers × datasets, plus `avg`.
pub fn per_dataset(records: &[ResultRecord]) -> Vec<Table> {
    let groups: BTreeSet<(Task, Setting)> = records.iter().map(|r| (r.task, r.setting)).collect();
    groups
        .into_iter()
        .map(|(task, setting)| {
            let k = headline_k(task);
            let chosen: Vec<&ResultRecord> = records
                .iter()
                .filter(|r| r.task == task && r.setting == setting && r.k == k)
                .collect();
            let (datasets, systems) = datasets_and_systems(&chosen);
            let mut header = vec!["system".to_owned()];
            header.extend(datasets.iter().map(|(d, s)| display_name(d, s.as_deref())));
            header.push("avg".into());
            let rows = systems
                .iter()
                .map(|s| {
                    let scores: Vec<Option<f64>> = datasets
                        .iter()
                        .map(|(d, _)| {
                            dataset_score(
                                chosen
                                    .iter()
                                    .copied()
                                    .filter(|r| &r.dataset == d && &system(r) == s),
                            )
                            .map(|(v, _)| v)
                        })
                        .collect();
                    let present: Vec<f64> = scores.iter().flatten().copied().collect();
                    let mut row = vec![Value::from(s.clone())];
                    row.extend(scores.into_iter().map(number));
                    row.push(number(mean(&present)));
                    row
                })
                .collect();
            Table {
                name: format!("{}-{}", task.name(), setting.name()),
                title: format!(
                    "{} ({}){}, per dataset",
                    task.name(),
                    setting.name(),
                    at_k(task, k)
                ),
                header,
                rows,
                notes: Vec::new(),
            }
        })
        .collect()
}

/// One table per (task, dataset, setting) at the headline k: cells × systems.
pub fn per_language(records: &[ResultRecord]) -> Vec<Table> {
    let groups: BTreeSet<(Task, String, Setting)> = records
        .iter()
        .map(|r| (r.task, r.dataset.clone(), r.setting))
        .collect();
    groups
        .into_iter()
        .map(|(task, dataset, setting)| {
            let k = headline_k(task);
            let chosen: Vec<&ResultRecord> = records
                .iter()
                .filter(|r| {
                    r.task == task && r.dataset == dataset && r.setting == setting && r.k == k
                })
                .collect();
            let substitute = chosen.first().and_then(|r| r.substitute_for.clone());
            let systems: BTreeSet<String> = chosen.iter().map(|r| system(r)).collect();
            let cells: BTreeSet<String> = chosen.iter().map(|r| r.cell()).collect();
            let mut header = vec!["cell".to_owned(), "n".to_owned()];
            header.extend(systems.iter().cloned());
            let rows = cells
                .iter()
                .map(|cell| {
                    let n = chosen.iter().find(|r| &r.cell() == cell).map_or(0, |r| r.n);
                    let mut row = vec![Value::from(cell.clone()), Value::from(n)];
                    row.extend(systems.iter().map(|s| {
                        number(
                            chosen
                                .iter()
                                .find(|r| &r.cell() == cell && &system(r) == s)
                                .map(|r| round2(headline_metric(r) * 100.0)),
                        )
                    }));
                    row
                })
                .collect();
            Table {
                name: format!("{}-{dataset}-{}", task.name(), setting.name()),
                title: format!(
                    "{} {} ({}){}, per cell",
                    task.name(),
                    display_name(&dataset, substitute.as_deref()),
                    setting.name(),
                    at_k(task, k)
                ),
                header,
                rows,
                notes: Vec::new(),
            }
        })
        .collect()
}

/// Whether `record` ranks by something other than its retriever's own
/// metric (a metric ablation's `~ranking` id): the ablation's tables compare
/// rankings; the figures draw each retriever once.
pub(crate) fn reranked(record: &ResultRecord) -> bool {
    record.model.id.contains('~')
}

/// Mean headline score (×100) per k, per system, for one (task, dataset,
/// setting), each retriever at its own ranking (no `~ranking` variants).
pub fn k_curves(
    records: &[ResultRecord],
    task: Task,
    dataset: &str,
    setting: Setting,
) -> BTreeMap<String, Vec<(usize, f64)>> {
    let mut curves: BTreeMap<String, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.task == task && r.dataset == dataset && r.setting == setting && !reranked(r))
    {
        curves
            .entry(system(r))
            .or_default()
            .entry(r.k)
            .or_default()
            .push(headline_metric(r) * 100.0);
    }
    curves
        .into_iter()
        .map(|(s, by_k)| {
            let points = by_k
                .into_iter()
                .map(|(k, v)| (k, v.iter().sum::<f64>() / v.len() as f64))
                .collect();
            (s, points)
        })
        .collect()
}
