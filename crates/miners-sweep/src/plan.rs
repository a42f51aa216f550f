//! Shard plans: a sweep's cells (one pair or language of one job, with all
//! its k values) spread over N shards by estimated cost, and frozen in the
//! result directory so every shard of a run follows the same plan.
//!
//! A cell costs the texts it encodes that are not yet cached (estimated
//! tokens × the encoder's multiply-adds per token, see
//! [`Models::encoder_cost_per_token`]), plus its nearest-neighbour search
//! (queries × candidates × dimension) and, for ICL, the generator's prompt
//! tokens. Cells are taken largest first, each to the shard whose total it
//! raises least, counting texts that shard already encodes as free: cells that
//! share texts (NusaX bitext and classification, the pool of a cross-lingual
//! job) end up together unless that would unbalance the shards.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use miners_datasets::{DataDir, Dataset};
use miners_encoders::{Encoder, Role};
use miners_eval::{Quiet, Retriever};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use miners_run::{CellTexts, Session};

use crate::{CellRef, Job, SweepError, digest::short_digest};

/// A cell in a plan: its job (index into [`jobs`](crate::jobs)), its shard,
/// and what it adds to that shard's cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedCell {
    /// Index of the job in the sweep's job list.
    pub job: usize,
    /// The cell.
    pub cell: CellRef,
    /// Estimated cost (multiply-adds) the cell adds to its shard.
    pub cost: f64,
    /// The shard that runs it, from 0.
    pub shard: usize,
}

/// Every cell of a sweep, each assigned to one of `shards` shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardPlan {
    /// Number of shards.
    pub shards: usize,
    /// Digest of the jobs, their cells and `shards`: the plan's identity.
    pub key: String,
    /// The cells, in job order.
    pub cells: Vec<PlannedCell>,
    /// For comparison, largest shard over the mean had whole jobs been dealt
    /// by index modulo N, with the same estimates.
    pub whole_jobs_imbalance: f64,
}

impl ShardPlan {
    /// Estimated cost of each shard.
    pub fn costs(&self) -> Vec<f64> {
        let mut costs = vec![0.0; self.shards];
        for cell in &self.cells {
            costs[cell.shard] += cell.cost;
        }
        costs
    }

    /// The largest shard's estimated cost over the mean (1 is perfect balance).
    pub fn imbalance(&self) -> f64 {
        imbalance(&self.costs())
    }

    /// The cells of `shard`, grouped by job, in job order.
    pub fn work(&self, shard: usize) -> Vec<(usize, Vec<CellRef>)> {
        let mut work: Vec<(usize, Vec<CellRef>)> = Vec::new();
        for cell in self.cells.iter().filter(|c| c.shard == shard) {
            match work.last_mut() {
                Some((job, cells)) if *job == cell.job => cells.push(cell.cell.clone()),
                _ => work.push((cell.job, vec![cell.cell.clone()])),
            }
        }
        work
    }

    /// The plan frozen in `out` for these cells and `shards`, if one is there.
    pub(crate) fn read_frozen(
        out: &Path,
        cells: &[(usize, CellRef)],
        shards: usize,
    ) -> Result<Option<Self>, SweepError> {
        let key = plan_key(cells, shards);
        let path = frozen_path(out, shards, &key);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SweepError::io(&path, source)),
        };
        let plan: Self = serde_json::from_str(&text).map_err(|e| SweepError::Spec {
            origin: path.display().to_string(),
            message: format!("unreadable shard plan: {e}"),
        })?;
        let same_cells = plan.cells.len() == cells.len()
            && plan
                .cells
                .iter()
                .zip(cells)
                .all(|(p, (job, cell))| p.job == *job && p.cell == *cell && p.shard < shards);
        if plan.key != key || plan.shards != shards || !same_cells {
            return Err(SweepError::Spec {
                origin: path.display().to_string(),
                message: "the shard plan does not list this sweep's cells; remove it to plan again"
                    .into(),
            });
        }
        Ok(Some(plan))
    }

    /// Freezes this plan in `out` unless another process froze one first;
    /// returns the plan every shard follows.
    pub(crate) fn freeze(self, out: &Path) -> Result<Self, SweepError> {
        let path = frozen_path(out, self.shards, &self.key);
        let dir = path.parent().expect("plans live under .sweep");
        std::fs::create_dir_all(dir).map_err(|source| SweepError::io(dir, source))?;
        let text = serde_json::to_string_pretty(&self).expect("plans serialize");
        // Created with the umask's permissions, as records are, so that
        // another user of the group can run its shard from the same plan.
        let created = miners_core::atomic_create(&path, text.as_bytes())
            .map_err(|source| SweepError::io(&path, source))?;
        if created {
            return Ok(self);
        }
        let cells: Vec<(usize, CellRef)> =
            self.cells.iter().map(|c| (c.job, c.cell.clone())).collect();
        Self::read_frozen(out, &cells, self.shards)?.ok_or_else(|| {
            SweepError::io(
                &path,
                std::io::Error::other("another shard froze a different plan under this name"),
            )
        })
    }
}

/// The largest of `costs` over their mean (1 when all are zero).
pub(crate) fn imbalance(costs: &[f64]) -> f64 {
    let mean = costs.iter().sum::<f64>() / costs.len().max(1) as f64;
    let largest = costs.iter().copied().fold(0.0, f64::max);
    if mean > 0.0 { largest / mean } else { 1.0 }
}

/// `<out>/.sweep/plan-<N>-<key>.json`.
fn frozen_path(out: &Path, shards: usize, key: &str) -> PathBuf {
    out.join(".sweep").join(format!("plan-{shards}-{key}.json"))
}

/// First 16 hex digits of SHA-256 over the cells (with their jobs) and `shards`.
fn plan_key(cells: &[(usize, CellRef)], shards: usize) -> String {
    short_digest(&(cells, shards), 8)
}

/// Every cell of every job, in job order, as the runners would visit them.
pub(crate) fn cells(jobs: &[Job], data: &DataDir) -> Result<Vec<(usize, CellRef)>, SweepError> {
    let datasets = open_datasets(jobs, data)?;
    let mut cells = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let dataset = &datasets[job.dataset.as_str()];
        cells.extend(job_cells(job, dataset)?.into_iter().map(|c| (index, c)));
    }
    Ok(cells)
}

/// Each dataset the jobs name, opened once.
fn open_datasets<'j>(
    jobs: &'j [Job],
    data: &DataDir,
) -> Result<HashMap<&'j str, Dataset>, SweepError> {
    let mut datasets = HashMap::new();
    for job in jobs {
        if !datasets.contains_key(job.dataset.as_str()) {
            datasets.insert(job.dataset.as_str(), Dataset::open(data, &job.dataset)?);
        }
    }
    Ok(datasets)
}

/// A job's cells, as its task runs them.
fn job_cells(job: &Job, dataset: &Dataset) -> Result<Vec<CellRef>, SweepError> {
    Ok(job.run_spec(None)?.task.runner().cells(dataset)?)
}

/// Plans `cells` of `jobs` over `shards` shards from their estimated costs.
pub(crate) fn plan(
    jobs: &[Job],
    cells: Vec<(usize, CellRef)>,
    shards: usize,
    session: &mut Session<'_>,
    data: &DataDir,
) -> Result<ShardPlan, SweepError> {
    if shards > cells.len().max(1) {
        return Err(SweepError::TooManyShards {
            shards,
            cells: cells.len(),
        });
    }
    let key = plan_key(&cells, shards);
    let datasets = open_datasets(jobs, data)?;
    let mut estimates = Vec::with_capacity(cells.len());
    // Cells come in job order: each job's retriever and costs are worked out once.
    let mut costs: Option<(usize, JobCosts)> = None;
    for (index, cell) in &cells {
        let job = &jobs[*index];
        if costs.as_ref().is_none_or(|(of, _)| of != index) {
            costs = Some((*index, JobCosts::of(job, session)?));
        }
        let (_, job_costs) = costs.as_ref().expect("set above");
        let dataset = &datasets[job.dataset.as_str()];
        estimates.push(job_costs.estimate(job, cell, dataset)?);
    }
    let assigned = assign(&estimates, shards);
    let whole_jobs: Vec<usize> = cells.iter().map(|(job, _)| job % shards).collect();
    let whole_jobs_imbalance = imbalance(&totals(&estimates, &whole_jobs, shards));
    let cells = cells
        .into_iter()
        .zip(assigned)
        .map(|((job, cell), (shard, cost))| PlannedCell {
            job,
            cell,
            cost,
            shard,
        })
        .collect();
    Ok(ShardPlan {
        shards,
        key,
        cells,
        whole_jobs_imbalance,
    })
}

/// What one cell costs: the texts it encodes (an identity per encoder and
/// prepared text, with its cost) and a fixed part (search, generation).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Estimate {
    /// Texts still to encode, each once, with their costs.
    pub texts: Vec<(u64, f64)>,
    /// Search and generation.
    pub fixed: f64,
}

impl Estimate {
    fn standalone(&self) -> f64 {
        self.fixed + self.texts.iter().map(|(_, cost)| cost).sum::<f64>()
    }

    /// The cost on a shard that already encodes `encoded`.
    fn marginal(&self, encoded: &HashSet<u64>) -> f64 {
        let texts: f64 = self
            .texts
            .iter()
            .filter(|(id, _)| !encoded.contains(id))
            .map(|(_, cost)| cost)
            .sum();
        self.fixed + texts
    }
}

/// Greedy longest-first: each estimate, largest first (ties by position), to
/// the shard whose total it raises least, then the one it adds least to, then
/// the lowest; returns each estimate's shard and the cost it added there.
pub(crate) fn assign(estimates: &[Estimate], shards: usize) -> Vec<(usize, f64)> {
    let standalone: Vec<f64> = estimates.iter().map(Estimate::standalone).collect();
    let mut order: Vec<usize> = (0..estimates.len()).collect();
    order.sort_by(|&a, &b| standalone[b].total_cmp(&standalone[a]).then(a.cmp(&b)));
    let mut totals = vec![0.0; shards];
    let mut encoded: Vec<HashSet<u64>> = vec![HashSet::new(); shards];
    let mut assigned = vec![(0, 0.0); estimates.len()];
    for i in order {
        let (shard, cost) = (0..shards)
            .map(|s| (s, estimates[i].marginal(&encoded[s])))
            .min_by(|(a, cost_a), (b, cost_b)| {
                (totals[*a] + cost_a)
                    .total_cmp(&(totals[*b] + cost_b))
                    .then(cost_a.total_cmp(cost_b))
                    .then(a.cmp(b))
            })
            .expect("at least one shard");
        totals[shard] += cost;
        encoded[shard].extend(estimates[i].texts.iter().map(|(id, _)| *id));
        assigned[i] = (shard, cost);
    }
    assigned
}

/// Each shard's total when estimate `i` runs on shard `shard_of[i]`.
fn totals(estimates: &[Estimate], shard_of: &[usize], shards: usize) -> Vec<f64> {
    let mut totals = vec![0.0; shards];
    let mut encoded: Vec<HashSet<u64>> = vec![HashSet::new(); shards];
    for (estimate, &shard) in estimates.iter().zip(shard_of) {
        totals[shard] += estimate.marginal(&encoded[shard]);
        encoded[shard].extend(estimate.texts.iter().map(|(id, _)| *id));
    }
    totals
}

/// Estimated tokens of a text: about four bytes each, plus the special tokens.
fn tokens(text: &str) -> f64 {
    (text.len() / 4 + 2) as f64
}

/// What every cell of one job shares: its retriever, each member's identity
/// and multiply-adds per token, the summed dimension, and the generator's cost.
struct JobCosts {
    retriever: Retriever,
    identities: Vec<String>,
    per_token: Vec<f64>,
    dims: usize,
    generator_per_token: Option<f64>,
}

impl JobCosts {
    fn of(job: &Job, session: &mut Session<'_>) -> Result<Self, SweepError> {
        let retriever = job.retriever_spec().open(session)?;
        let per_token = job
            .retriever
            .members()
            .iter()
            .map(|m| Ok(session.models().encoder_cost_per_token(m)?))
            .collect::<Result<Vec<f64>, SweepError>>()?;
        let generator_per_token = match &job.generator {
            Some(generator) => Some(session.models().generator_cost_per_token(generator)?),
            None => None,
        };
        Ok(Self {
            identities: retriever.encoders().iter().map(|e| e.identity()).collect(),
            dims: retriever.encoders().iter().map(|e| e.dim()).sum(),
            retriever,
            per_token,
            generator_per_token,
        })
    }

    /// The estimate of one cell of `job`.
    fn estimate(
        &self,
        job: &Job,
        cell: &CellRef,
        dataset: &Dataset,
    ) -> Result<Estimate, SweepError> {
        let (queries, candidates) = cell_texts(job, cell, dataset)?;
        let mut estimate = Estimate::default();
        let mut seen = HashSet::new();
        for (texts, role) in [(&queries, Role::Query), (&candidates, Role::Passage)] {
            let cached = self.retriever.cached(texts, role, &Quiet)?;
            for (m, cached) in cached.iter().enumerate() {
                let encoder = self.retriever.encoders()[m].as_ref();
                for (text, _) in texts.iter().zip(cached).filter(|(_, cached)| !**cached) {
                    let id = text_id(encoder, &self.identities[m], text, role);
                    if seen.insert(id) {
                        estimate.texts.push((id, tokens(text) * self.per_token[m]));
                    }
                }
            }
        }
        estimate.fixed = (queries.len() * candidates.len() * self.dims) as f64;
        if let Some(per_token) = self.generator_per_token {
            let prompt: f64 = queries.iter().map(|t| tokens(t)).sum();
            let shots: usize = job.ks.iter().map(|k| k + 1).sum();
            estimate.fixed += prompt * shots as f64 * per_token;
        }
        Ok(estimate)
    }
}

/// Identity of a text as `encoder` (whose identity is `identity`) encodes it
/// for `role`, so texts the cache would share count once.
fn text_id(encoder: &dyn Encoder, identity: &str, text: &str, role: Role) -> u64 {
    let prepared = encoder.prepare(text, role);
    let mut hasher = Sha256::new();
    for part in [identity, prepared.prompt, prepared.body] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    if let Some(signature) = encoder.role_signature(role) {
        hasher.update(signature.as_bytes());
    }
    let digest = hasher.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The query and candidate texts one cell encodes, as its task reads them.
fn cell_texts(job: &Job, cell: &CellRef, dataset: &Dataset) -> Result<CellTexts, SweepError> {
    let spec = job.run_spec(None)?;
    Ok(spec.task.runner().cell_texts(dataset, cell, job.limit)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A frozen plan gets the permissions any new file gets under the umask
    /// (it was 0600, so a second user of the group could not run its shard).
    #[cfg(unix)]
    #[test]
    fn a_frozen_plan_follows_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let out = tempfile::tempdir().unwrap();
        let plan = ShardPlan {
            shards: 1,
            key: plan_key(&[], 1),
            cells: Vec::new(),
            whole_jobs_imbalance: 1.0,
        };
        let frozen = plan.clone().freeze(out.path()).unwrap();
        assert_eq!(frozen, plan);
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let ordinary = out.path().join("ordinary");
        std::fs::File::create(&ordinary).unwrap();
        let path = frozen_path(out.path(), 1, &plan.key);
        assert_eq!(mode(&path), mode(&ordinary));
        assert_eq!(
            plan.clone().freeze(out.path()).unwrap(),
            plan,
            "a second shard reads it"
        );
    }

    fn estimates() -> impl Strategy<Value = Vec<Estimate>> {
        let texts = prop::collection::vec((0u64..40, 1u32..50), 0..12);
        let estimate = (texts, 0u32..100).prop_map(|(texts, fixed)| {
            let mut seen = HashSet::new();
            Estimate {
                // One id, one cost: a text costs the same wherever it appears.
                texts: texts
                    .into_iter()
                    .filter(|(id, _)| seen.insert(*id))
                    .map(|(id, _)| (id, f64::from((id % 7 + 1) as u32)))
                    .collect(),
                fixed: f64::from(fixed),
            }
        });
        prop::collection::vec(estimate, 1..60)
    }

    proptest! {
        #[test]
        fn every_cell_gets_one_shard_and_the_largest_stays_near_the_mean(
            estimates in estimates(),
            shards in 1usize..9,
        ) {
            let assigned = assign(&estimates, shards);
            prop_assert_eq!(assigned.len(), estimates.len());
            let mut totals = vec![0.0; shards];
            for ((shard, cost), estimate) in assigned.iter().zip(&estimates) {
                prop_assert!(*shard < shards);
                prop_assert!(*cost <= estimate.standalone() + 1e-9);
                totals[*shard] += cost;
            }
            // Greedy bound: the largest shard is at most the mean plus the largest cell.
            let mean = totals.iter().sum::<f64>() / shards as f64;
            let largest_cell = estimates.iter().map(Estimate::standalone).fold(0.0, f64::max);
            prop_assert!(totals.iter().all(|t| *t <= mean + largest_cell + 1e-9));
            prop_assert_eq!(assign(&estimates, shards), assigned);
        }
    }

    #[test]
    fn cells_that_share_texts_share_a_shard_when_balance_allows() {
        let shared = |fixed| Estimate {
            texts: vec![(1, 50.0), (2, 50.0)],
            fixed,
        };
        let alone = Estimate {
            texts: vec![(3, 110.0)],
            fixed: 0.0,
        };
        let assigned = assign(&[shared(1.0), alone, shared(2.0)], 2);
        assert_eq!(assigned[0].0, assigned[2].0, "{assigned:?}");
        assert_eq!(
            assigned[0].1, 1.0,
            "the shared texts count once: {assigned:?}"
        );
        assert_ne!(assigned[1].0, assigned[0].0);
    }

    #[test]
    fn a_plan_splits_its_work_by_job_in_order() {
        let cell = |job, lang: &str, shard| PlannedCell {
            job,
            cell: CellRef::Lang(lang.into()),
            cost: 1.0,
            shard,
        };
        let plan = ShardPlan {
            shards: 2,
            key: "k".into(),
            whole_jobs_imbalance: 1.0,
            cells: vec![
                cell(0, "a", 1),
                cell(0, "b", 0),
                cell(0, "c", 1),
                cell(2, "a", 1),
            ],
        };
        let work = plan.work(1);
        assert_eq!(work.len(), 2);
        assert_eq!((work[0].0, work[0].1.len(), work[1].0), (0, 2, 2));
        assert_eq!(plan.costs(), vec![1.0, 3.0]);
        assert_eq!(plan.imbalance(), 1.5);
    }
}
