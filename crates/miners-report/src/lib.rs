//! Aggregation of miners result records into the paper's tables and plots.
//!
//! [`load_records`] reads a result directory (shards merged or shared) and
//! [`load_mining`] its `mining/` results; [`write_report`] writes `REPORT.md`
//! with Table 2 (bitext and classification by setting), Table 3 (ICL
//! 0/1-shot), metric ablations, bitext mining, per-dataset and
//! per-language tables as Markdown, CSV and JSON under `tables/`, and k-curves
//! as SVG under `plots/`. [`tsne`] and [`scatter_svg`] draw the embedding
//! scatter plots of the paper's visualisation step.
//! [`mteb`] writes records as MTEB result files and reads MTEB results back.
//!
//! ```no_run
//! let records = miners_report::load_records("results".as_ref()).unwrap();
//! let mining = miners_report::load_mining("results".as_ref()).unwrap();
//! let summary =
//!     miners_report::write_report(&records, &mining, "results/report".as_ref()).unwrap();
//! println!("{} tables, {} plots", summary.tables, summary.plots);
//! ```

mod aggregate;
pub mod mteb;
mod plot;
mod render;
mod spread;
mod summary;
mod tsne;
mod views;

use std::{
    borrow::Cow,
    collections::BTreeSet,
    path::{Path, PathBuf},
};

pub use aggregate::{
    Table, ablation, dataset_score, directions, display_name, headline_k, headline_metric,
    k_curves, mining, per_dataset, per_language, percentiles, system, table2, table3, versus,
};
use miners_eval::{
    FingerprintLedger, ResultRecord,
    mining::MiningResult,
    packs::{Packed, read_packs},
};
pub use plot::{k_curve_svg, scatter_svg};
pub use render::{csv, json, markdown};
pub use summary::{Summarised, summary_table};
pub use tsne::{TsneOptions, tsne};
pub use views::{FamilyMap, ViewOptions, ViewTexts, tsne_views};

/// Errors at this crate's boundary.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record file is not a valid record.
    #[error("{path}: not a result record: {message}")]
    Record {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A pack of records (`docs/results/records`) could not be read.
    #[error(transparent)]
    Packs(#[from] miners_eval::EvalError),
    /// A t-SNE view of a dataset could not be made.
    #[error("t-SNE of {dataset}: {message}")]
    View {
        /// The dataset.
        dataset: String,
        /// What went wrong.
        message: String,
    },
    /// Records under one model id come from different models.
    #[error(
        "records of `{model}` come from different models: {first} and {second}; \
         rerun one of them or report them separately"
    )]
    MixedModels {
        /// The model id.
        model: String,
        /// One record, described.
        first: String,
        /// A record with another fingerprint, described.
        second: String,
    },
    /// Drawing a plot failed.
    #[error("{path}: plotting failed: {message}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every record under `dir`, in files (recursively; `.sweep/` markers and
/// the report's own directory are skipped) and in packs
/// ([`miners_eval::packs`]), in path order; a record given both ways is
/// refused.
pub fn load_records(dir: &Path) -> Result<Vec<ResultRecord>, ReportError> {
    let mut records = record_files(dir)?;
    let packed = read_packs(dir)?.into_iter().filter_map(|p| match p {
        Packed::Record(record) => Some(*record),
        Packed::Mining(_) => None,
    });
    merge_packed(dir, &mut records, packed.collect(), ResultRecord::path)?;
    Ok(records)
}

/// Adds the `packed` results to those read from files, refusing one given
/// both ways, and puts them all in path order.
fn merge_packed<R>(
    dir: &Path,
    results: &mut Vec<R>,
    packed: Vec<R>,
    path: impl Fn(&R, &Path) -> PathBuf,
) -> Result<(), ReportError> {
    let files: std::collections::HashSet<PathBuf> = results.iter().map(|r| path(r, dir)).collect();
    if let Some(twice) = packed
        .iter()
        .map(|r| path(r, dir))
        .find(|p| files.contains(p))
    {
        return Err(ReportError::Record {
            path: twice,
            message: "given both as a file and in a pack".into(),
        });
    }
    results.extend(packed);
    results.sort_by_cached_key(|r| path(r, dir));
    Ok(())
}

/// Every record file under `dir`, in path order.
fn record_files(dir: &Path) -> Result<Vec<ResultRecord>, ReportError> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let path = entry.map_err(io(&d))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if !name.starts_with('.') && name != "report" {
                    pending.push(path);
                }
            } else if name.ends_with(".json") && name.contains(".k") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| {
            ResultRecord::read(path)
                .and_then(|record| record.check_path(dir, path).map(|()| record))
                .map_err(|message| ReportError::Record {
                    path: path.clone(),
                    message,
                })
        })
        .collect()
}

/// Every bitext-mining result under `dir/mining` (`miners mine` writes them
/// there), in files and in packs, in path order.
pub fn load_mining(dir: &Path) -> Result<Vec<MiningResult>, ReportError> {
    let mut mined = mining_files(dir)?;
    let packed = read_packs(dir)?.into_iter().filter_map(|p| match p {
        Packed::Mining(mined) => Some(mined),
        Packed::Record(_) => None,
    });
    merge_packed(dir, &mut mined, packed.collect(), MiningResult::path)?;
    Ok(mined)
}

/// Every mining result file under `dir/mining`, in path order.
fn mining_files(dir: &Path) -> Result<Vec<MiningResult>, ReportError> {
    let root = dir.join(miners_eval::mining::MINING_DIR);
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths = Vec::new();
    let mut pending = vec![root];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let path = entry.map_err(io(&d))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths.iter().map(|path| read_mining(dir, path)).collect()
}

/// One mining result, checked ([`MiningResult::check`]) and at its path.
fn read_mining(dir: &Path, path: &Path) -> Result<MiningResult, ReportError> {
    let invalid = |message: String| ReportError::Record {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let result: MiningResult = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    result.check().map_err(invalid)?;
    result.check_path(dir, path).map_err(invalid)?;
    Ok(result)
}

/// Refuses records of one task and model id made by different models
/// (fingerprints), which no table may average together. (ICL retrieval may
/// use a model without the prompts its retrieval records use.)
pub fn check_fingerprints(records: &[ResultRecord]) -> Result<(), ReportError> {
    let mut ledger = FingerprintLedger::default();
    for (index, record) in records.iter().enumerate() {
        if let Err(&first) = ledger.admit(record, index) {
            let describe = |r: &ResultRecord| {
                let fingerprint = r.model.fingerprint.as_deref().unwrap_or("none");
                format!(
                    "{} {} {} (fingerprint {})",
                    r.dataset,
                    r.cell(),
                    r.task.name(),
                    &fingerprint[..fingerprint.len().min(12)]
                )
            };
            return Err(ReportError::MixedModels {
                model: record.model.id.clone(),
                first: describe(&records[first]),
                second: describe(record),
            });
        }
    }
    Ok(())
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSummary {
    /// Tables written (each as .md, .csv and .json).
    pub tables: usize,
    /// SVG plots written.
    pub plots: usize,
}

/// Writes `REPORT.md`, `tables/` and `plots/` under `out` (atomically, file
/// by file) from result records and bitext-mining results.
pub fn write_report(
    records: &[ResultRecord],
    mined: &[MiningResult],
    out: &Path,
) -> Result<ReportSummary, ReportError> {
    check_fingerprints(records)?;
    // A percentile study's windows have their own table; every other table
    // and plot reads the rest, so eleven windows do not crowd the ICL tables.
    let studied = records;
    let rest: Cow<[ResultRecord]> = match records.iter().any(is_percentile_window) {
        true => records
            .iter()
            .filter(|r| !is_percentile_window(r))
            .cloned()
            .collect(),
        false => Cow::Borrowed(records),
    };
    let records = rest.as_ref();
    let tables_dir = out.join("tables");
    let plots_dir = out.join("plots");
    for dir in [&tables_dir, &plots_dir] {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let has_icl = records.iter().any(|r| r.task.prompts_generator());
    let mut headline = vec![table2(records)];
    headline.extend(has_icl.then(|| table3(records)));
    // The paper's claim (retrieval competes with fine-tuning) heads the report.
    headline.extend(versus(records));
    let by_dataset = per_dataset(records);
    let by_language = per_language(records);
    let mut comparisons = ablation(records);
    comparisons.extend(directions(records));
    comparisons.extend(mining(mined));
    comparisons.extend(percentiles(studied));
    for table in headline
        .iter()
        .chain(&comparisons)
        .chain(&by_dataset)
        .chain(&by_language)
    {
        write(
            &tables_dir.join(format!("{}.md", table.name)),
            &markdown(table),
        )?;
        write(&tables_dir.join(format!("{}.csv", table.name)), &csv(table))?;
        write(
            &tables_dir.join(format!("{}.json", table.name)),
            &json(table),
        )?;
    }
    let mut plots = Vec::new();
    let groups: BTreeSet<_> = records
        .iter()
        .map(|r| (r.task, r.dataset.clone(), r.setting))
        .collect();
    for (task, dataset, setting) in groups {
        let curves = k_curves(records, task, &dataset, setting);
        if curves.values().all(|c| c.len() < 2) {
            continue;
        }
        let name = format!("kcurve-{}-{dataset}-{}.svg", task.name(), setting.name());
        let title = format!("{} {dataset} ({}): score vs k", task.name(), setting.name());
        k_curve_svg(&plots_dir.join(&name), &title, &curves)?;
        plots.push(name);
    }
    let spreads = spread::spread_plots(records, &plots_dir)?;
    plots.extend(spreads);
    let report = report_markdown(
        records,
        &headline,
        &comparisons,
        &by_dataset,
        &by_language,
        &plots,
        out,
    );
    write(&out.join("REPORT.md"), &report)?;
    Ok(ReportSummary {
        tables: headline.len() + comparisons.len() + by_dataset.len() + by_language.len(),
        plots: plots.len(),
    })
}

/// An ICL record whose demonstrations came from a percentile window.
fn is_percentile_window(record: &ResultRecord) -> bool {
    record
        .generator
        .as_ref()
        .is_some_and(|g| matches!(g.selection, miners_icl::Selection::Percentile { .. }))
}

fn report_markdown(
    records: &[ResultRecord],
    headline: &[Table],
    comparisons: &[Table],
    by_dataset: &[Table],
    by_language: &[Table],
    plots: &[String],
    out: &Path,
) -> String {
    let mut text = String::from("# miners results\n\n");
    let seconds = summed_wall_seconds(records);
    let limits: BTreeSet<usize> = records.iter().filter_map(|r| r.limit).collect();
    let peak = records
        .iter()
        .filter_map(|r| r.peak_rss_mib)
        .reduce(f64::max);
    let peak = peak.map_or(String::new(), |p| {
        format!(", largest per-cell peak memory {p:.0} MiB")
    });
    text.push_str(&format!(
        "{} result records; summed cell wall time {:.1} min{peak}.{}\n\n",
        records.len(),
        seconds / 60.0,
        if limits.is_empty() {
            String::new()
        } else {
            let limits: Vec<String> = limits.iter().map(usize::to_string).collect();
            format!(
                " Some cells ran on {} items of a split (the first ones; for ICL, test examples \
                 spread evenly over the split; see `n` in the per-cell tables).",
                limits.join(" / ")
            )
        }
    ));
    for table in headline {
        text.push_str(&markdown(table));
        text.push_str(&format!(
            "\n([CSV](tables/{0}.csv), [JSON](tables/{0}.json))\n\n",
            table.name
        ));
    }
    if !comparisons.is_empty() {
        text.push_str("## Metric ablation, directions and mining\n\n");
        for table in comparisons {
            text.push_str(&markdown(table));
            text.push('\n');
        }
    }
    text.push_str("## Per dataset\n\n");
    for table in by_dataset {
        text.push_str(&format!("- [{}](tables/{}.md)\n", table.title, table.name));
    }
    text.push_str("\n## Per language\n\n");
    for table in by_language {
        text.push_str(&format!("- [{}](tables/{}.md)\n", table.title, table.name));
    }
    let (boxes, curves): (Vec<&String>, Vec<&String>) =
        plots.iter().partition(|p| p.starts_with("box-"));
    if !curves.is_empty() {
        text.push_str("\n## k-curves\n\n");
        for plot in curves {
            text.push_str(&format!("![{plot}](plots/{plot})\n"));
        }
    }
    if !boxes.is_empty() {
        text.push_str("\n## Per-language scores by language family and by script\n\n");
        for plot in boxes {
            text.push_str(&format!("![{plot}](plots/{plot})\n"));
        }
    }
    let scatters = std::fs::read_dir(out.join("plots"))
        .map(|entries| {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("tsne-"))
                .collect();
            names.sort();
            names
        })
        .unwrap_or_default();
    if !scatters.is_empty() {
        text.push_str("\n## Embedding space (t-SNE)\n\n");
        for plot in scatters {
            text.push_str(&format!("![{plot}](plots/{plot})\n"));
        }
    }
    text
}

fn write(path: &Path, contents: &str) -> Result<(), ReportError> {
    miners_core::atomic_write(path, contents.as_bytes()).map_err(io(path))
}

/// Wall time summed once per run: the k values of a bitext or classification
/// cell come from one run and share its `seconds`; ICL runs each k apart.
fn summed_wall_seconds(records: &[ResultRecord]) -> f64 {
    let mut seen = std::collections::HashSet::new();
    records
        .iter()
        .filter(|r| seen.insert((r.key(), r.task.runs_each_k().then_some(r.k))))
        .map(|r| r.seconds)
        .sum()
}
