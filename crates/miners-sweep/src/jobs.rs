//! Expanding a spec into jobs, in a fixed order, and splitting them into shards.

use miners_datasets::{DataDir, DatasetSpec};
use miners_eval::{
    CellKey, Setting, Task, slug,
    tune::{TuneBy, validation_is_free},
};
use serde::{Deserialize, Serialize};

use miners_classify::Vote;
use miners_core::Lang;
use miners_fusion::Normalization;
use miners_icl::{Scoring, Selection};
use miners_index::Hubness;
use miners_run::{
    BitextSpec, CellRef, ClassificationSpec, FineTuneSpec, IclSpec, MiningSpec, PairSelection,
    Pool, RetrieverSpec, RunSpec, RunTask, Tuning,
};

use crate::{EnsembleSpec, Ranking, SweepError, SweepSpec};

/// Which retriever a job uses, as the spec names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobRetriever {
    /// One encoder.
    Single {
        /// Encoder reference.
        id: String,
    },
    /// DistFuse.
    Ensemble(EnsembleSpec),
}

impl JobRetriever {
    /// The encoder references it is made of: one, or the ensemble's members.
    pub fn members(&self) -> &[String] {
        match self {
            Self::Single { id } => std::slice::from_ref(id),
            Self::Ensemble(e) => &e.members,
        }
    }

    /// For an ensemble whose weights are learned, which languages share them.
    pub fn tuning(&self) -> Option<TuneBy> {
        match self {
            Self::Ensemble(e) => e.tune,
            Self::Single { .. } => None,
        }
    }

    /// The retriever's part of a job name; an ensemble's says its weights and
    /// normalisation, as its records' model id does.
    fn label(&self) -> String {
        match self {
            Self::Single { id } => id.clone(),
            Self::Ensemble(e) => {
                let parts: Vec<String> = e
                    .members
                    .iter()
                    .zip(&e.weights)
                    .map(|(member, weight)| format!("{member}*{weight}"))
                    .collect();
                let z_score = if e.z_score { ",z_score" } else { "" };
                let tuned = e
                    .tune
                    .map_or(String::new(), |by| format!(",tuned-per-{}", by.name()));
                format!("distfuse({}{z_score}{tuned})", parts.join("+"))
            }
        }
    }
}

/// One unit of work: a task on one dataset with one retriever in one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The task.
    pub task: Task,
    /// Dataset name.
    pub dataset: String,
    /// The retriever.
    pub retriever: JobRetriever,
    /// Monolingual or cross-lingual (bitext: cross-lingual); code-switched
    /// datasets turn these into their code-switched settings when run.
    pub setting: Setting,
    /// ICL: the generator reference.
    pub generator: Option<String>,
    /// k values.
    pub ks: Vec<usize>,
    /// Item limit.
    pub limit: Option<usize>,
    /// Test languages (empty: all).
    pub langs: Vec<String>,
    /// Whether the retriever encodes with its models' prompts.
    #[serde(default = "yes")]
    pub prompts: bool,
    /// ICL: whether prompts carry the `Options:` line.
    #[serde(default)]
    pub options: bool,
    /// ICL: the scoring, when the spec overrides the generator's catalog setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring: Option<miners_icl::ScoringKind>,
    /// ICL generation: greedy decoding, else sampling seeded by `seed`.
    #[serde(default)]
    pub greedy: bool,
    /// ICL generation: seed of the sampled generations.
    #[serde(default)]
    pub seed: u64,
    /// Bitext: also scored the other way round.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub both_directions: bool,
    /// How candidates are ranked (the reference: Euclidean).
    #[serde(default, skip_serializing_if = "is_reference")]
    pub ranking: Ranking,
    /// ICL: which retrieved texts become demonstrations.
    #[serde(default, skip_serializing_if = "is_nearest")]
    pub selection: Selection,
    /// Fine-tuning: epochs at most (its seed is `seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
}

fn is_nearest(selection: &Selection) -> bool {
    *selection == Selection::Nearest
}

fn is_reference(ranking: &Ranking) -> bool {
    *ranking == Ranking::Euclidean
}

fn yes() -> bool {
    true
}

impl Job {
    /// The retriever this job runs with: the spec's encoders, weights and
    /// normalisation, ranked as the job says, learning weights on the job's
    /// languages when the ensemble asks.
    pub fn retriever_spec(&self) -> RetrieverSpec {
        let (weights, normalization, fusion) = match &self.retriever {
            JobRetriever::Single { .. } => (Vec::new(), Normalization::None, false),
            JobRetriever::Ensemble(e) => {
                let normalization = match e.z_score {
                    true => Normalization::ZScore,
                    false => Normalization::None,
                };
                (e.weights.clone(), normalization, true)
            }
        };
        let (metric, hubness) = self.ranking.parts(fusion);
        RetrieverSpec {
            encoders: self.retriever.members().to_vec(),
            weights,
            normalization,
            metric,
            hubness: hubness.map(Hubness::choice),
            hubness_k: hubness.map(Hubness::k),
            prompts: Some(self.prompts),
            tuning: self.retriever.tuning().map(|by| Tuning {
                by,
                langs: self.test_langs(),
            }),
        }
    }

    /// Where a classification or ICL job's neighbours come from: the
    /// dataset's usual source in the cross-lingual setting.
    pub fn pool(&self) -> Pool {
        match self.task.pairs_languages() || self.setting != Setting::CrossLingual {
            true => Pool::Own,
            false => Pool::Cross { source: None },
        }
    }

    /// The run of this job, of only `cells` when given (a shard's part).
    pub fn run_spec(&self, cells: Option<&[CellRef]>) -> Result<RunSpec, SweepError> {
        let langs: Vec<Lang> = match cells {
            Some(cells) => cells.iter().filter_map(CellRef::lang).collect(),
            None => self.test_langs(),
        };
        let pairs = PairSelection {
            source: None,
            listed: cells
                .unwrap_or_default()
                .iter()
                .filter_map(CellRef::pair)
                .map(|pair| pair.to_string())
                .collect(),
        };
        let task = match self.task {
            Task::Bitext => RunTask::Bitext(BitextSpec {
                pairs,
                both_directions: self.both_directions,
            }),
            Task::Mining => RunTask::Mining(MiningSpec {
                pairs,
                seed: self.seed,
            }),
            Task::Classification => RunTask::Classification(ClassificationSpec {
                langs,
                pool: self.pool(),
                vote: Vote::Majority,
            }),
            Task::FineTune => RunTask::FineTune(FineTuneSpec {
                langs,
                pool: self.pool(),
                epochs: self.epochs.unwrap_or(FineTuneSpec::default().epochs),
                seed: self.seed,
                ..FineTuneSpec::default()
            }),
            Task::Icl => RunTask::Icl(IclSpec {
                generator: self.generator.clone().ok_or_else(|| SweepError::Spec {
                    origin: self.name(),
                    message: "an ICL job names a generator".into(),
                })?,
                langs,
                pool: self.pool(),
                selection: self.selection.clone(),
                instruction: None,
                options: self.options,
                scoring: self.scoring,
                seed: self.seed,
                greedy: self.greedy,
            }),
        };
        Ok(RunSpec {
            dataset: self.dataset.clone(),
            label_option: None,
            retriever: self.retriever_spec(),
            ks: self.ks.clone(),
            limit: self.limit,
            task,
        })
    }

    fn test_langs(&self) -> Vec<Lang> {
        self.langs.iter().map(|l| Lang::from(l.as_str())).collect()
    }

    /// A stable, file-name-safe name:
    /// `<task>.<dataset>.[<generator>+]<retriever>[~<metric>].<setting>`.
    pub fn name(&self) -> String {
        let generator = self
            .generator
            .as_ref()
            .map(|g| {
                format!(
                    "{}+",
                    CellKey::generator_dir(g, &self.selection, &Scoring::LogProb)
                )
            })
            .unwrap_or_default();
        let ranking = match self.ranking {
            Ranking::Euclidean => String::new(),
            other => format!("~{}", other.name()),
        };
        slug(&format!(
            "{}.{}.{generator}{}{ranking}.{}",
            self.task.name(),
            self.dataset,
            self.retriever.label(),
            self.setting.name()
        ))
    }
}

/// The jobs of `spec`, in order: bitext, classification (datasets in registry
/// order, then retrievers and settings in spec order), ICL (generators, then
/// datasets, then settings), mining (datasets, then retrievers and rankings),
/// fine-tuning (datasets, then encoders).
pub fn jobs(spec: &SweepSpec, data: &DataDir) -> Result<Vec<Job>, SweepError> {
    spec.check().map_err(|message| SweepError::Spec {
        origin: "sweep spec".into(),
        message,
    })?;
    let retrievers: Vec<JobRetriever> = spec
        .encoders
        .iter()
        .map(|id| JobRetriever::Single { id: id.clone() })
        .chain(spec.ensembles.iter().cloned().map(JobRetriever::Ensemble))
        .collect();
    let job = |task, dataset: &str, retriever: &JobRetriever, setting, ks: &[usize]| Job {
        task,
        dataset: dataset.to_owned(),
        retriever: retriever.clone(),
        setting,
        generator: None,
        ks: ks.to_vec(),
        limit: spec.limit,
        langs: Vec::new(),
        prompts: true,
        options: false,
        scoring: None,
        greedy: false,
        seed: 0,
        ranking: Ranking::Euclidean,
        both_directions: false,
        selection: Selection::Nearest,
        epochs: None,
    };
    // Each retriever with each ranking (a DistFuse ranks by its members' metric).
    let ranked: Vec<(&JobRetriever, Ranking)> = retrievers
        .iter()
        .flat_map(|r| spec.metrics.iter().map(move |&m| (r, m)))
        .collect();
    let mut jobs = Vec::new();
    if let Some(task) = &spec.bitext {
        for dataset in present(data, &task.datasets, Task::Bitext)? {
            let untuned = ranked.iter().filter(|(r, _)| r.tuning().is_none());
            for &(retriever, ranking) in untuned {
                jobs.push(Job {
                    prompts: task.prompts,
                    ranking,
                    both_directions: task.both_directions,
                    ..job(
                        Task::Bitext,
                        &dataset,
                        retriever,
                        Setting::CrossLingual,
                        &task.ks,
                    )
                });
            }
        }
    }
    if let Some(task) = &spec.classification {
        for dataset in present(data, &task.datasets, Task::Classification)? {
            let tunable = tunable(&dataset)?;
            let runnable = ranked
                .iter()
                .filter(|(r, _)| tunable || r.tuning().is_none());
            for &(retriever, ranking) in runnable {
                for setting in settings_of(&dataset, &task.settings)? {
                    jobs.push(Job {
                        prompts: task.prompts,
                        ranking,
                        ..job(Task::Classification, &dataset, retriever, setting, &task.ks)
                    });
                }
            }
        }
    }
    if let Some(icl) = &spec.icl {
        let datasets = present(data, &icl.datasets, Task::Icl)?;
        let retriever = icl_retriever(spec, &icl.retriever);
        let selections = icl
            .selection
            .selections()
            .map_err(|message| SweepError::Spec {
                origin: "[icl] selection".into(),
                message,
            })?;
        // Generator-major, so each generator is loaded once.
        for generator in &icl.generators {
            for selection in &selections {
                for dataset in &datasets {
                    for setting in settings_of(dataset, &icl.settings)? {
                        jobs.push(Job {
                            generator: Some(generator.clone()),
                            limit: icl.limit.or(spec.limit),
                            langs: icl.langs.get(dataset).cloned().unwrap_or_default(),
                            prompts: icl.retriever_prompts,
                            options: icl.options,
                            scoring: icl.scoring,
                            greedy: icl.greedy,
                            seed: icl.seed,
                            selection: selection.clone(),
                            ..job(Task::Icl, dataset, &retriever, setting, &icl.ks)
                        });
                    }
                }
            }
        }
    }
    if let Some(mining) = &spec.mining {
        let rankings = mining.metrics.as_ref().unwrap_or(&spec.metrics);
        for dataset in present(data, &mining.datasets, Task::Mining)? {
            for retriever in retrievers.iter().filter(|r| r.tuning().is_none()) {
                for &ranking in rankings {
                    jobs.push(Job {
                        ranking,
                        seed: mining.seed,
                        ..job(
                            Task::Mining,
                            &dataset,
                            retriever,
                            Setting::CrossLingual,
                            &[],
                        )
                    });
                }
            }
        }
    }
    distinct_names(&jobs)?;
    if let Some(finetune) = &spec.finetune {
        for dataset in present(data, &finetune.datasets, Task::FineTune)? {
            let singles = retrievers
                .iter()
                .filter(|r| matches!(r, JobRetriever::Single { .. }));
            for retriever in singles {
                for setting in settings_of(&dataset, &finetune.settings)? {
                    jobs.push(Job {
                        langs: finetune.langs.get(&dataset).cloned().unwrap_or_default(),
                        prompts: false,
                        seed: finetune.seed,
                        epochs: Some(finetune.epochs),
                        ..job(Task::FineTune, &dataset, retriever, setting, &[0])
                    });
                }
            }
        }
    }
    Ok(jobs)
}

/// The ICL retriever `id` names: an ensemble of the spec by the id its
/// records carry, else an encoder.
fn icl_retriever(spec: &SweepSpec, id: &str) -> JobRetriever {
    let ensembles = spec.ensembles.iter().cloned().map(JobRetriever::Ensemble);
    ensembles
        .into_iter()
        .find(|ensemble| ensemble.label() == id)
        .unwrap_or_else(|| JobRetriever::Single { id: id.to_owned() })
}

/// Refuses two different jobs of one name: their ids map to one folder
/// (`a/b` and `a_b`), so one would overwrite the other's records.
fn distinct_names(jobs: &[Job]) -> Result<(), SweepError> {
    let mut seen: std::collections::HashMap<String, &Job> = std::collections::HashMap::new();
    for job in jobs {
        if let Some(first) = seen.insert(job.name(), job)
            && first != job
        {
            return Err(SweepError::Spec {
                origin: job.name(),
                message: format!(
                    "the retrievers `{}` and `{}` map to this one job and folder name; \
                     give one of them another id",
                    first.retriever.label(),
                    job.retriever.label()
                ),
            });
        }
    }
    Ok(())
}

/// Whether DistFuse weights can be learned on a classification dataset.
fn tunable(dataset: &str) -> Result<bool, SweepError> {
    let plan = DatasetSpec::find(dataset)?.classification;
    Ok(plan.is_some_and(|p| validation_is_free(&p)))
}

/// Datasets of a task, in registry order: the listed ones (all must exist),
/// or every present one when the list is empty.
fn present(data: &DataDir, wanted: &[String], task: Task) -> Result<Vec<String>, SweepError> {
    let (names, skipped) = miners_run::present_datasets(data, task, wanted)?;
    for (name, error) in skipped {
        eprintln!("sweep: skipping {name}: {error}");
    }
    match wanted.iter().find(|name| !names.contains(name)) {
        Some(name) => Err(SweepError::UnknownDataset {
            dataset: name.clone(),
            task,
        }),
        None => Ok(names),
    }
}

/// The settings a dataset supports among `wanted` (cross needs a source language).
fn settings_of(dataset: &str, wanted: &[Setting]) -> Result<Vec<Setting>, SweepError> {
    let spec = DatasetSpec::find(dataset)?;
    let crossable = spec
        .classification
        .is_some_and(|p| p.cross_source.is_some());
    Ok(wanted
        .iter()
        .copied()
        .filter(|&s| s == Setting::Monolingual || crossable)
        .collect())
}

/// `i/N`: shard `i` of `N` runs the cells the [`ShardPlan`](crate::ShardPlan) of `N` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Parses `i/N` (0-based, `i < N`).
    pub fn parse(text: &str) -> Result<Self, SweepError> {
        let invalid = || SweepError::Shard(text.to_owned());
        let (i, n) = text.split_once('/').ok_or_else(invalid)?;
        let index: usize = i.trim().parse().map_err(|_| invalid())?;
        let count: usize = n.trim().parse().map_err(|_| invalid())?;
        if count == 0 || index >= count {
            return Err(invalid());
        }
        Ok(Self { index, count })
    }

    /// `SLURM_ARRAY_TASK_ID` / `SLURM_ARRAY_TASK_COUNT` (less
    /// `SLURM_ARRAY_TASK_MIN`, so `--array=1-N` works too), when both are set.
    pub fn from_slurm() -> Result<Option<Self>, SweepError> {
        let (Ok(id), Ok(count)) = (
            std::env::var("SLURM_ARRAY_TASK_ID"),
            std::env::var("SLURM_ARRAY_TASK_COUNT"),
        ) else {
            return Ok(None);
        };
        let min: usize = std::env::var("SLURM_ARRAY_TASK_MIN")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let id: usize = id
            .parse()
            .map_err(|_| SweepError::Shard(format!("SLURM_ARRAY_TASK_ID={id}")))?;
        Self::parse(&format!("{}/{count}", id.saturating_sub(min))).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse() {
        let shard = Shard::parse("1/3").unwrap();
        assert_eq!((shard.index, shard.count), (1, 3));
        for bad in ["3/3", "1", "a/2", "0/0"] {
            let err = Shard::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && !err.contains("--"), "{err}");
        }
    }
}
