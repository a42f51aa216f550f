//! The `miners` Python package's native module (`miners._miners`): encoders
//! from a catalog or a model directory, exact k-NN search and DistFuse's
//! pair API, with NumPy arrays in and out; and the MINERS tasks (bitext,
//! classification, ICL, sweeps), whose records come back as dicts. Every
//! computation runs with the GIL released; Python-side wrappers and stubs
//! live in `python/miners`.

mod interrupt;
mod tasks;

use std::{path::PathBuf, sync::Arc};

use interrupt::{Bars, interruptible};
use miners_eval::Progress;

use miners_core::{Embeddings, Metric};
use miners_encoders::Role;
use miners_fusion::{DistMeasure, FirstWeight, Member, instructed};
use miners_index::{MetricScorer, SearchOptions};
use miners_models::{Models as Catalogued, ModelsError};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::{
    exceptions::{PyFileNotFoundError, PyValueError},
    prelude::*,
};

/// A catalog of models (`models.toml`) and how to run them.
#[pyclass(module = "miners._miners", frozen)]
struct Models {
    pub(crate) models: Catalogued,
}

#[pymethods]
impl Models {
    /// Opens the catalog at `catalog` (a `models.toml`), or an empty one:
    /// then encoders are model directories or `hf:` ids.
    #[new]
    #[pyo3(signature = (catalog=None, device="cpu"))]
    fn new(catalog: Option<PathBuf>, device: &str) -> PyResult<Self> {
        let models = match catalog {
            Some(path) => Catalogued::from_file(&path).map_err(models_error)?,
            None => Catalogued::default(),
        };
        let device = device.parse().map_err(value_error)?;
        Ok(Self {
            models: models.on(device),
        })
    }

    /// The encoder a catalog id, a model directory or an `hf:` id names.
    fn encoder(&self, py: Python<'_>, reference: &str) -> PyResult<Encoder> {
        let models = self.models.clone();
        let reference = reference.to_owned();
        let inner = py
            .detach(move || models.open_encoder(&reference))
            .map_err(models_error)?;
        Ok(Encoder { inner })
    }
}

/// One encoder: texts in, L2 or raw vectors out as its directory says.
#[pyclass(module = "miners._miners", frozen)]
struct Encoder {
    inner: Arc<dyn miners_encoders::Encoder>,
}

#[pymethods]
impl Encoder {
    /// The encoder's id.
    #[getter]
    fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The vectors' width.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Vectors of `texts` as a float32 array `[len(texts), dim]`, with the
    /// model's prompt for `role` (`"query"` or `"passage"`).
    #[pyo3(signature = (texts, role="query"))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        role: &str,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let role = parse_role(role)?;
        let encoder = Arc::clone(&self.inner);
        let vectors = encode_checked(py, &encoder, &texts, role)?;
        to_numpy(py, &vectors)
    }
}

/// Encodes with a progress bar, [`CHUNK`] texts at a time (each sorted by
/// length into the encoder's batches), stopping on Ctrl-C between chunks.
fn encode_checked(
    py: Python<'_>,
    encoder: &Arc<dyn miners_encoders::Encoder>,
    texts: &[String],
    role: Role,
) -> PyResult<Embeddings> {
    let rows = interruptible(py, |stop| {
        let bars = Bars::new(stop);
        bars.begin(&format!("{} encoding", encoder.id()), texts.len());
        let mut rows = Vec::with_capacity(texts.len() * encoder.dim());
        for chunk in texts.chunks(CHUNK) {
            if bars.cancelled() {
                break;
            }
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            rows.extend_from_slice(encoder.encode(&refs, role)?.as_slice());
            bars.advance(chunk.len());
        }
        bars.finish();
        Ok::<_, miners_encoders::EncoderError>(rows)
    })?
    .map_err(value_error)?;
    Embeddings::from_rows(encoder.dim(), rows).map_err(value_error)
}

/// Texts encoded between two looks for Ctrl-C: enough for the encoder's
/// length-sorted batches to pad little, few enough to stop within seconds.
const CHUNK: usize = 1024;

/// Indices and scores of a search, `[queries, k]` each.
type Ranked<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<f32>>);

/// The `k` nearest rows of `pool` for each row of `queries` under `metric`
/// (`euclidean`, `cosine`, `dot` or `manhattan`), best first, as two arrays
/// `[len(queries), k]`: indices (int64) and scores (float32; distances for
/// euclidean and manhattan). Ties go to the lower index.
#[pyfunction]
#[pyo3(signature = (queries, pool, k, metric="euclidean"))]
fn search<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, f32>,
    pool: PyReadonlyArray2<'py, f32>,
    k: usize,
    metric: &str,
) -> PyResult<Ranked<'py>> {
    let metric: Metric = metric.parse().map_err(value_error)?;
    let (queries, pool) = (from_numpy(&queries)?, from_numpy(&pool)?);
    let hits = py
        .detach(|| {
            let scorer = MetricScorer::new(&queries, &pool, metric)?;
            miners_index::search(&scorer, k, SearchOptions::default())
        })
        .map_err(value_error)?;
    let (mut indices, mut scores) = (Vec::new(), Vec::new());
    for q in 0..hits.len() {
        for hit in hits.get(q) {
            indices.push(hit.index as i64);
            scores.push(hit.score);
        }
    }
    let shape = [queries.len(), k];
    Ok((
        PyArray1::from_vec(py, indices).reshape(shape)?,
        PyArray1::from_vec(py, scores).reshape(shape)?,
    ))
}

/// DistFuse with the `distfuse` package's API: members' scores of text
/// pairs, weighted and summed.
#[pyclass(module = "miners._miners", frozen)]
struct DistFuse {
    members: Vec<(Arc<dyn miners_encoders::Encoder>, Option<String>)>,
    weights: Vec<f32>,
    measure: DistMeasure,
    first: FirstWeight,
}

#[pymethods]
impl DistFuse {
    /// `members`: encoders; `weights`: one each (default 1); `dist_measure`:
    /// `euclidean`, `cosine` or `manhattan`; `instructions`: one per member
    /// (`""` or `None` for none), as `Instruct: …\nQuery: …`;
    /// `first_weight`: `"weighted"` (every member weighted, as the MINERS
    /// scripts) or `"ignored"` (the first member unweighted, as the package).
    #[new]
    #[pyo3(signature = (members, weights=None, dist_measure="euclidean", instructions=None, first_weight="weighted"))]
    fn new(
        members: Vec<PyRef<'_, Encoder>>,
        weights: Option<Vec<f32>>,
        dist_measure: &str,
        instructions: Option<Vec<Option<String>>>,
        first_weight: &str,
    ) -> PyResult<Self> {
        let weights = weights.unwrap_or_else(|| vec![1.0; members.len()]);
        let instructions = instructions.unwrap_or_else(|| vec![None; members.len()]);
        if weights.len() != members.len() || instructions.len() != members.len() {
            return Err(PyValueError::new_err(format!(
                "{} members, {} weights and {} instructions: give one of each per member",
                members.len(),
                weights.len(),
                instructions.len()
            )));
        }
        miners_fusion::check_weights(&weights).map_err(value_error)?;
        let measure = parse_named(dist_measure, "dist_measure")?;
        let first = parse_named(first_weight, "first_weight")?;
        let members = members
            .iter()
            .zip(instructions)
            .map(|(m, i)| (Arc::clone(&m.inner), i.filter(|i| !i.is_empty())))
            .collect();
        Ok(Self {
            members,
            weights,
            measure,
            first,
        })
    }

    /// Fused scores of every text of `texts1` against every text of
    /// `texts2`: a float64 array `[len(texts1), len(texts2)]`.
    fn score_pairs<'py>(
        &self,
        py: Python<'py>,
        texts1: Vec<String>,
        texts2: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let sides = self.encode_sides(py, &[&texts1, &texts2])?;
        let members = self.fused(&sides, 0, 1);
        let rows = py
            .detach(|| miners_fusion::score_pairs(&members, self.measure, self.first))
            .map_err(value_error)?;
        let width = texts2.len();
        let flat: Vec<f64> = rows.into_iter().flatten().collect();
        PyArray1::from_vec(py, flat).reshape([texts1.len(), width])
    }

    /// Each prediction's fused score against its best reference:
    /// `references` holds one list per prediction.
    fn score_references<'py>(
        &self,
        py: Python<'py>,
        predictions: Vec<String>,
        references: Vec<Vec<String>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let counts: Vec<usize> = references.iter().map(Vec::len).collect();
        let flat: Vec<String> = references.concat();
        let sides = self.encode_sides(py, &[&predictions, &flat])?;
        let members = self.fused(&sides, 0, 1);
        let scores = py
            .detach(|| miners_fusion::score_references(&members, &counts, self.measure, self.first))
            .map_err(value_error)?;
        Ok(PyArray1::from_vec(py, scores))
    }
}

impl DistFuse {
    /// Each member's embeddings of each list of texts (instructions applied).
    fn encode_sides(&self, py: Python<'_>, lists: &[&[String]]) -> PyResult<Vec<Vec<Embeddings>>> {
        self.members
            .iter()
            .map(|(encoder, instruction)| {
                lists
                    .iter()
                    .map(|texts| {
                        let texts: Vec<String> = match instruction {
                            Some(task) => texts.iter().map(|t| instructed(task, t)).collect(),
                            None => texts.to_vec(),
                        };
                        encode_checked(py, encoder, &texts, Role::Query)
                    })
                    .collect()
            })
            .collect()
    }

    /// Members pairing list `left` with list `right`, weighted.
    fn fused<'e>(
        &self,
        sides: &'e [Vec<Embeddings>],
        left: usize,
        right: usize,
    ) -> Vec<Member<'e>> {
        sides
            .iter()
            .zip(&self.weights)
            .map(|(lists, &weight)| Member::new(&lists[left], &lists[right], weight))
            .collect()
    }
}

/// A `[n, d]` float32 array as embeddings (copied; any layout).
fn from_numpy(array: &PyReadonlyArray2<'_, f32>) -> PyResult<Embeddings> {
    let [_, dim] = array.shape() else {
        unreachable!("a 2-d array")
    };
    let values: Vec<f32> = array.as_array().iter().copied().collect();
    Embeddings::from_rows(*dim, values).map_err(value_error)
}

/// Embeddings as a `[n, d]` float32 array.
fn to_numpy<'py>(py: Python<'py>, vectors: &Embeddings) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let shape = [vectors.len(), vectors.dim()];
    PyArray1::from_slice(py, vectors.as_slice()).reshape(shape)
}

fn parse_role(role: &str) -> PyResult<Role> {
    match role {
        "query" => Ok(Role::Query),
        "passage" => Ok(Role::Passage),
        other => Err(PyValueError::new_err(format!(
            "role `{other}`: expected \"query\" or \"passage\""
        ))),
    }
}

/// A snake_case name of a serde enum (`cosine`, `ignored`).
fn parse_named<T: serde::de::DeserializeOwned>(name: &str, what: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::from(name))
        .map_err(|_| PyValueError::new_err(format!("{what} `{name}` is not one this takes")))
}

/// A model that is not there (no such catalog file, reference or fetched
/// directory) as Python's `FileNotFoundError`, anything else as `ValueError`,
/// each with miners' message.
fn models_error(error: ModelsError) -> PyErr {
    let missing = match &error {
        ModelsError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        ModelsError::Unknown { .. } | ModelsError::NotFetched { .. } => true,
        _ => false,
    };
    match missing {
        true => PyFileNotFoundError::new_err(error.to_string()),
        false => value_error(error),
    }
}

/// A Rust error as Python's `ValueError`, with its message.
pub(crate) fn value_error(error: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(error.to_string())
}

/// The native module.
#[pymodule]
fn _miners(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Models>()?;
    module.add_class::<Encoder>()?;
    module.add_class::<DistFuse>()?;
    module.add_function(wrap_pyfunction!(search, module)?)?;
    module.add_function(wrap_pyfunction!(tasks::bitext, module)?)?;
    module.add_function(wrap_pyfunction!(tasks::classify, module)?)?;
    module.add_function(wrap_pyfunction!(tasks::icl, module)?)?;
    module.add_function(wrap_pyfunction!(tasks::sweep, module)?)?;
    Ok(())
}
