//! The task seam: a task and an encoder written here, outside the crates,
//! through the public traits alone (`TaskRun`, `Encoder`), run by
//! `miners_run::run` like the four MINERS tasks, their records written by a
//! `ResultsDir` and read back.
//!
//! The toy task is nearest-centroid classification: each test text takes the
//! label whose pool texts' mean vector is nearest. Its records are
//! classification records whose model id says `~centroid`.

use std::sync::Arc;

use miners_core::{Embeddings, Lang};
use miners_datasets::{DataDir, Dataset, Split};
use miners_encoders::{Encoder, EncoderError, Prompts, Role};
use miners_eval::{
    MetricsRecord, Quiet, ResultRecord, ResultsDir, SCHEMA_VERSION, Setting, Task,
    metrics::{Average, classification_scores},
};
use miners_models::Models;
use miners_run::{
    CellRef, CellTexts, Context, RetrieverSpec, RunError, RunSpec, RunTask, Session, TaskRun,
    Tuning, run,
};

/// A toy encoder: a text's vector counts its letters a–z.
#[derive(Default)]
struct Letters {
    prompts: Prompts,
}

impl Encoder for Letters {
    fn id(&self) -> &str {
        "letters"
    }

    fn dim(&self) -> usize {
        26
    }

    fn fingerprint(&self) -> &str {
        "letters-v1"
    }

    fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    fn encode_raw(&self, texts: &[&str], _role: Role) -> Result<Embeddings, EncoderError> {
        let mut values = Vec::with_capacity(texts.len() * 26);
        for text in texts {
            let mut counts = [0f32; 26];
            for byte in text
                .to_ascii_lowercase()
                .bytes()
                .filter(u8::is_ascii_lowercase)
            {
                counts[usize::from(byte - b'a')] += 1.0;
            }
            values.extend(counts);
        }
        Ok(Embeddings::from_rows(26, values).expect("finite rows"))
    }
}

/// The toy task: nearest-centroid classification of `langs`.
#[derive(Debug)]
struct NearestCentroid {
    langs: Vec<Lang>,
}

impl TaskRun for NearestCentroid {
    fn task(&self) -> Task {
        Task::Classification
    }

    fn cells(&self, _: &Dataset) -> Result<Vec<CellRef>, RunError> {
        Ok(self
            .langs
            .iter()
            .map(|l| CellRef::Lang(l.to_string()))
            .collect())
    }

    fn cell_texts(
        &self,
        dataset: &Dataset,
        cell: &CellRef,
        limit: Option<usize>,
    ) -> Result<CellTexts, RunError> {
        let plan = dataset
            .spec()
            .classification
            .expect("a classification dataset");
        let lang = cell.lang().expect("a language cell");
        let pool = dataset.load_classification(&lang, plan.pool, limit)?;
        let test = dataset.load_classification(&lang, plan.test, limit)?;
        Ok((test.texts, pool.texts))
    }

    fn run(&self, cx: &mut Context<'_, '_>) -> Result<(), RunError> {
        let plan = cx
            .dataset
            .spec()
            .classification
            .expect("a classification dataset");
        for lang in &self.langs {
            let pool = cx
                .dataset
                .load_classification(lang, plan.pool, cx.options.limit)?;
            let test = cx
                .dataset
                .load_classification(lang, plan.test, cx.options.limit)?;
            let pool_vectors =
                &cx.retriever
                    .encode(&pool.texts, Role::Passage, "pool", cx.progress)?[0];
            let test_vectors =
                &cx.retriever
                    .encode(&test.texts, Role::Query, "test", cx.progress)?[0];
            let predicted = predict(pool_vectors, &pool.labels, test_vectors);
            let scores = classification_scores(&test.labels, &predicted, Average::Macro);
            let mut model = cx.retriever.record();
            model.id.push_str("~centroid");
            cx.sink.accept(&[ResultRecord {
                schema: SCHEMA_VERSION,
                task: Task::Classification,
                dataset: cx.dataset.name(),
                substitute_for: None,
                setting: Setting::Monolingual,
                model,
                metric: cx.retriever.metric(),
                source_lang: None,
                target_lang: None,
                lang: Some(lang.to_string()),
                k: 1,
                n: test.texts.len(),
                limit: cx.options.limit,
                metrics: MetricsRecord {
                    accuracy: scores.accuracy,
                    precision: scores.precision,
                    recall: scores.recall,
                    f1: scores.f1,
                    averaging: Average::Macro,
                    recall_at_k: None,
                },
                seconds: 0.0,
                cpu_seconds: None,
                generator: None,
                peak_rss_mib: None,
                icl: None,
                finetune: None,
                reversed: false,
            }])?;
        }
        Ok(())
    }
}

/// Each test vector's label: the label whose pool centroid is nearest.
fn predict<L: Clone + Ord>(pool: &Embeddings, labels: &[L], test: &Embeddings) -> Vec<L> {
    let mut names: Vec<L> = labels.to_vec();
    names.sort();
    names.dedup();
    let centroids: Vec<Vec<f32>> = names
        .iter()
        .map(|name| {
            let rows: Vec<usize> = (0..pool.len()).filter(|&i| &labels[i] == name).collect();
            (0..pool.dim())
                .map(|d| rows.iter().map(|&i| pool.row(i)[d]).sum::<f32>() / rows.len() as f32)
                .collect()
        })
        .collect();
    (0..test.len())
        .map(|i| {
            let distance = |c: &Vec<f32>| -> f32 {
                c.iter()
                    .zip(test.row(i))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum()
            };
            let nearest = (0..names.len())
                .min_by(|&a, &b| distance(&centroids[a]).total_cmp(&distance(&centroids[b])))
                .expect("a label");
            names[nearest].clone()
        })
        .collect()
}

/// The shared data directory beside the workspace (`../shared/data/miners`).
fn data() -> Option<DataDir> {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    DataDir::resolve(None)
        .or_else(|_| DataDir::resolve(Some(&workspace.join("../shared/data/miners"))))
        .ok()
}

fn spec(task: RunTask) -> RunSpec {
    RunSpec {
        dataset: "nusax".into(),
        label_option: None,
        retriever: RetrieverSpec::single("letters"),
        ks: vec![1],
        limit: Some(60),
        task,
    }
}

#[test]
fn a_task_written_outside_the_crates_runs_through_the_run_layer() {
    let Some(data) = data() else {
        eprintln!("skipping: no data directory");
        return;
    };
    let models = Models::default();
    let letters = Arc::new(Letters::default());
    let mut session = Session::new(&models, None).with_encoder("letters", letters);
    let langs = vec![Lang::from("ind"), Lang::from("jav")];
    let toy = RunTask::Custom(Arc::new(NearestCentroid {
        langs: langs.clone(),
    }));
    let out = tempfile::tempdir().unwrap();
    let mut sink = ResultsDir::new(out.path());
    run(&spec(toy.clone()), &mut session, &data, &Quiet, &mut sink).unwrap();

    let records: Vec<ResultRecord> = sink
        .files()
        .iter()
        .map(|path| ResultRecord::read(path).unwrap())
        .collect();
    assert_eq!(records.len(), langs.len());
    let dataset = miners_datasets::Dataset::open(&data, "nusax").unwrap();
    for (record, lang) in records.iter().zip(&langs) {
        record.check().unwrap();
        assert_eq!(record.model.id, "letters~centroid");
        assert_eq!(record.lang.as_deref(), Some(lang.as_str()));
        // The run layer handed the task the dataset, limit and encoder asked
        // for: the same centroids, computed here by hand, score the same.
        let split = |split| dataset.load_classification(lang, split, Some(60)).unwrap();
        let (pool, test) = (split(Split::Train), split(Split::Test));
        let encode = |texts: &[String]| {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            Letters::default().encode_raw(&texts, Role::Query).unwrap()
        };
        let predicted = predict(&encode(&pool.texts), &pool.labels, &encode(&test.texts));
        let expected = classification_scores(&test.labels, &predicted, Average::Macro);
        assert_eq!(record.n, test.texts.len());
        assert_eq!(record.metrics.accuracy, expected.accuracy);
        // Letter counts tell sentiment apart barely, never perfectly.
        assert!((0.4..0.9).contains(&record.metrics.accuracy), "{record:?}");
    }

    // Its cells are what a sweep would shard it by, and their texts what it encodes.
    let cells = toy.runner().cells(&dataset).unwrap();
    assert_eq!(
        cells,
        [CellRef::Lang("ind".into()), CellRef::Lang("jav".into())]
    );
    let (queries, _) = toy
        .runner()
        .cell_texts(&dataset, &cells[0], Some(60))
        .unwrap();
    assert_eq!(queries.len(), records[0].n);

    // The run layer's rules hold for a task of one's own too.
    let mut tuned = spec(toy);
    tuned.retriever.encoders.push("letters".into());
    tuned.retriever.tuning = Some(Tuning {
        by: miners_eval::tune::TuneBy::Dataset,
        langs: Vec::new(),
    });
    let mut records: Vec<ResultRecord> = Vec::new();
    let error = run(&tuned, &mut session, &data, &Quiet, &mut records).unwrap_err();
    assert!(
        error.to_string().contains("learned DistFuse weights"),
        "{error}"
    );
    assert!(records.is_empty());
}

#[test]
fn a_sink_that_keeps_no_mining_results_says_so() {
    let Some(data) = data() else {
        eprintln!("skipping: no data directory");
        return;
    };
    let models = Models::default();
    let letters = Arc::new(Letters::default());
    let mut session = Session::new(&models, None).with_encoder("letters", letters);
    let mining = RunTask::Mining(miners_run::MiningSpec {
        pairs: miners_run::PairSelection {
            source: None,
            listed: vec!["eng-ind".into()],
        },
        seed: 0,
    });
    let mut records: Vec<ResultRecord> = Vec::new();
    let error = run(&spec(mining), &mut session, &data, &Quiet, &mut records).unwrap_err();
    assert!(
        error.to_string().contains("keeps no mining results"),
        "{error}"
    );
}
