//! The MINERS tasks from Python: each call is a `miners_run::RunSpec` run
//! into a sink that keeps the records, returned as dicts (the records' JSON,
//! as the CLI writes them).

use std::path::{Path, PathBuf};

use miners_datasets::DataDir;
use miners_eval::{EvalError, RecordSink, ResultRecord};
use miners_run::{
    BitextSpec, ClassificationSpec, IclSpec, Pool, RetrieverSpec, RunSpec, RunTask, Session,
};
use pyo3::{prelude::*, types::PyAny};

use crate::{
    Models,
    interrupt::{Bars, SweepBarsStoppable, interruptible},
    value_error,
};

/// Keeps every record it is given.
#[derive(Default)]
struct Kept(Vec<ResultRecord>);

impl RecordSink for Kept {
    fn accept(&mut self, records: &[ResultRecord]) -> Result<(), EvalError> {
        self.0.extend_from_slice(records);
        Ok(())
    }
}

/// Bitext retrieval of `dataset` by `model` (several make a DistFuse with
/// `weights`): one record per language pair and k.
#[pyfunction]
#[pyo3(signature = (models, dataset, model, *, weights=None, metric="euclidean", k=vec![1, 5, 10], limit=None, data_dir=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn bitext<'py>(
    py: Python<'py>,
    models: &Models,
    dataset: &str,
    model: Vec<String>,
    weights: Option<Vec<f32>>,
    metric: &str,
    k: Vec<usize>,
    limit: Option<usize>,
    data_dir: Option<PathBuf>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let retriever = retriever(model, weights, metric)?;
    let task = RunTask::Bitext(BitextSpec::default());
    run(
        py,
        models,
        spec(dataset, retriever, k, limit, task),
        data_dir.as_deref(),
    )
}

/// Retrieval-based classification of `dataset`: the k nearest labelled
/// texts vote; `cross` takes them from the dataset's usual source language.
#[pyfunction]
#[pyo3(signature = (models, dataset, model, *, weights=None, metric="euclidean", k=vec![1, 5, 10], cross=false, limit=None, data_dir=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn classify<'py>(
    py: Python<'py>,
    models: &Models,
    dataset: &str,
    model: Vec<String>,
    weights: Option<Vec<f32>>,
    metric: &str,
    k: Vec<usize>,
    cross: bool,
    limit: Option<usize>,
    data_dir: Option<PathBuf>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let retriever = retriever(model, weights, metric)?;
    let task = RunTask::Classification(ClassificationSpec {
        pool: pool(cross),
        ..ClassificationSpec::default()
    });
    run(
        py,
        models,
        spec(dataset, retriever, k, limit, task),
        data_dir.as_deref(),
    )
}

/// In-context learning on `dataset`: `retriever` picks the demonstrations,
/// `generator` answers (by its catalog's scoring).
#[pyfunction]
#[pyo3(signature = (models, dataset, retriever, generator, *, k=vec![0, 1], cross=false, limit=None, data_dir=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn icl<'py>(
    py: Python<'py>,
    models: &Models,
    dataset: &str,
    retriever: Vec<String>,
    generator: String,
    k: Vec<usize>,
    cross: bool,
    limit: Option<usize>,
    data_dir: Option<PathBuf>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let retriever = self::retriever(retriever, None, "euclidean")?;
    let task = RunTask::Icl(IclSpec {
        generator,
        langs: Vec::new(),
        pool: pool(cross),
        selection: Default::default(),
        instruction: None,
        options: false,
        scoring: None,
        seed: 42,
        greedy: false,
    });
    run(
        py,
        models,
        spec(dataset, retriever, k, limit, task),
        data_dir.as_deref(),
    )
}

/// Runs the sweep `spec` (a `sweep.toml`) into `out`, resuming what is
/// there; returns the jobs run, skipped and failed.
#[pyfunction]
#[pyo3(signature = (models, spec, out, *, data_dir=None))]
pub(crate) fn sweep(
    py: Python<'_>,
    models: &Models,
    spec: PathBuf,
    out: PathBuf,
    data_dir: Option<PathBuf>,
) -> PyResult<(usize, usize, Vec<String>)> {
    let spec = miners_sweep::SweepSpec::read(&spec).map_err(value_error)?;
    let data = data(data_dir.as_deref())?;
    let options = miners_sweep::SweepOptions::new(&out, data);
    let models = models.models.clone();
    let summary = interruptible(py, |stop| {
        let bars = SweepBarsStoppable::new(stop);
        let summary = miners_sweep::run(&spec, &models, &options, &bars);
        if let Ok(summary) = &summary {
            bars.finish(summary);
        }
        summary
    })?
    .map_err(value_error)?;
    Ok((summary.run, summary.skipped, summary.failed))
}

/// Runs `spec` with the GIL released, the records returned as dicts.
fn run<'py>(
    py: Python<'py>,
    models: &Models,
    spec: RunSpec,
    data_dir: Option<&Path>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let data = data(data_dir)?;
    let models = models.models.clone();
    let kept = interruptible(py, |stop| {
        let mut session = Session::new(&models, None);
        let mut kept = Kept::default();
        miners_run::run(&spec, &mut session, &data, &Bars::new(stop), &mut kept).map(|()| kept)
    })?
    .map_err(value_error)?;
    let loads = py.import("json")?.getattr("loads")?;
    kept.0
        .iter()
        .map(|record| {
            let text = serde_json::to_string(record).map_err(value_error)?;
            loads.call1((text,))
        })
        .collect()
}

fn spec(
    dataset: &str,
    retriever: RetrieverSpec,
    ks: Vec<usize>,
    limit: Option<usize>,
    task: RunTask,
) -> RunSpec {
    RunSpec {
        dataset: dataset.to_owned(),
        label_option: None,
        retriever,
        ks,
        limit,
        task,
    }
}

fn retriever(
    encoders: Vec<String>,
    weights: Option<Vec<f32>>,
    metric: &str,
) -> PyResult<RetrieverSpec> {
    Ok(RetrieverSpec {
        encoders,
        weights: weights.unwrap_or_default(),
        metric: metric.parse().map_err(value_error)?,
        ..RetrieverSpec::single("")
    })
}

fn pool(cross: bool) -> Pool {
    match cross {
        true => Pool::Cross { source: None },
        false => Pool::Own,
    }
}

/// The data directory given, else `MINERS_DATA_DIR` or the default.
fn data(dir: Option<&Path>) -> PyResult<DataDir> {
    DataDir::resolve(dir).map_err(|e| pyo3::exceptions::PyFileNotFoundError::new_err(e.to_string()))
}
