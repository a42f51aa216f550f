//! The embedding cache with the real static model: each text is encoded once
//! per model and prompt, across calls and across processes (reopened caches).

mod support;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use miners_core::Embeddings;
use miners_datasets::{DataDir, Dataset, Pair};
use miners_encoders::{Encoder, EncoderError, Prompts, Role, StaticEncoder, TextPreparation};
use miners_eval::{EmbeddingCache, Quiet, Retriever, RunOptions, run_bitext};

/// The static model, counting the texts it is asked to encode.
struct Counted {
    inner: StaticEncoder,
    texts: AtomicUsize,
    calls: AtomicUsize,
    preparation: TextPreparation,
}

impl Encoder for Counted {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }
    fn prompts(&self) -> &Prompts {
        self.inner.prompts()
    }
    fn preparation(&self) -> TextPreparation {
        self.preparation
    }
    fn encode_raw(&self, texts: &[&str], _role: Role) -> Result<Embeddings, EncoderError> {
        self.texts.fetch_add(texts.len(), Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.encode_raw(texts, Role::Query)
    }
}

fn model(prompts: Prompts) -> Option<Counted> {
    let dir = support::static_model_dir()?;
    let inner = StaticEncoder::load(&dir, "static-tokenlearn")
        .unwrap()
        .with_prompts(prompts);
    Some(Counted {
        inner,
        texts: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
        preparation: TextPreparation::Verbatim,
    })
}

/// The one segment a first encoding wrote for `encoder` under `root`.
fn only_segment(root: &Path, encoder: &dyn Encoder) -> PathBuf {
    std::fs::read_dir(root.join(encoder.fingerprint()))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_text_is_encoded_once_per_prompt_and_survives_reopening() {
    let Some(encoder) = model(Prompts {
        query: Some("query: ".into()),
        passage: None,
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(dir.path());

    let first = texts(&["Halo dunia", "Selamat pagi", "Halo dunia"]);
    let got = cache
        .encode(&encoder, &first, Role::Passage, "t", &Quiet)
        .unwrap();
    assert_eq!(
        encoder.texts.load(Ordering::Relaxed),
        2,
        "duplicates are encoded once"
    );
    let direct = encoder
        .inner
        .encode(&["Halo dunia", "Selamat pagi", "Halo dunia"], Role::Passage)
        .unwrap();
    assert_eq!(got, direct);

    let second = texts(&["Selamat pagi", "Apa kabar"]);
    cache
        .encode(&encoder, &second, Role::Passage, "t", &Quiet)
        .unwrap();
    assert_eq!(
        encoder.texts.load(Ordering::Relaxed),
        3,
        "only the new text is encoded"
    );

    // Another prompt is another entry: `query: Halo dunia` is not `Halo dunia`.
    let queried = cache
        .encode(&encoder, &texts(&["Halo dunia"]), Role::Query, "t", &Quiet)
        .unwrap();
    assert_eq!(encoder.texts.load(Ordering::Relaxed), 4);
    assert_eq!(
        queried,
        encoder.inner.encode(&["Halo dunia"], Role::Query).unwrap()
    );
    assert_ne!(queried.row(0), got.row(0));

    // A new process finds everything on disk.
    let reopened = EmbeddingCache::new(dir.path());
    let again = reopened
        .encode(&encoder, &first, Role::Passage, "t", &Quiet)
        .unwrap();
    assert_eq!(again, got);
    assert_eq!(encoder.texts.load(Ordering::Relaxed), 4);
}

/// Progress that keeps its warnings.
#[derive(Default)]
struct Warnings(std::sync::Mutex<Vec<String>>);

impl miners_eval::Progress for Warnings {
    fn begin(&self, _: &str, _: usize) {}
    fn advance(&self, _: usize) {}
    fn finish(&self) {}
    fn warn(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_owned());
    }
}

/// A name and a way to damage a segment's bytes.
type Corruption = (&'static str, fn(&mut Vec<u8>));

/// Every corruption of a segment, same-size byte flips included, is caught
/// on open: the segment is set aside and its texts are encoded again.
#[test]
fn corrupt_segments_are_set_aside_and_reencoded() {
    let Some(encoder) = model(Prompts::default()) else {
        return;
    };
    let items = texts(&["Halo dunia", "Selamat pagi"]);
    let corruptions: [Corruption; 4] = [
        ("truncated", |b| b.truncate(b.len() - 3)),
        ("flipped", |b| {
            let at = b.len() - 5;
            b[at] ^= 0x10;
        }),
        ("extended", |b| b.push(0)),
        ("header", |b| b[0] = b'X'),
    ];
    for (what, corrupt) in corruptions {
        let dir = tempfile::tempdir().unwrap();
        let clean = EmbeddingCache::new(dir.path())
            .encode(&encoder, &items, Role::Query, "t", &Quiet)
            .unwrap();
        let segment = only_segment(dir.path(), &encoder);
        let mut bytes = std::fs::read(&segment).unwrap();
        corrupt(&mut bytes);
        std::fs::write(&segment, &bytes).unwrap();

        let before = encoder.texts.load(Ordering::Relaxed);
        let warnings = Warnings::default();
        let again = EmbeddingCache::new(dir.path())
            .encode(&encoder, &items, Role::Query, "t", &warnings)
            .unwrap();
        assert_eq!(again, clean, "{what}");
        assert_eq!(encoder.texts.load(Ordering::Relaxed), before + 2, "{what}");
        let warnings = warnings.0.into_inner().unwrap();
        assert_eq!(warnings.len(), 1, "{what}: {warnings:?}");
        assert!(
            warnings[0].contains(&segment.display().to_string()) && warnings[0].contains("corrupt"),
            "{what}: {warnings:?}"
        );
        assert!(segment.with_extension("corrupt").is_file(), "{what}");
    }
}

/// The static model under another fingerprint: another model, as the cache sees it.
struct Other(Counted);

impl Encoder for Other {
    fn id(&self) -> &str {
        "other"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn fingerprint(&self) -> &str {
        "another-model"
    }
    fn prompts(&self) -> &Prompts {
        self.0.prompts()
    }
    fn encode_raw(&self, texts: &[&str], role: Role) -> Result<Embeddings, EncoderError> {
        self.0.encode_raw(texts, role)
    }
}

/// A segment copied into another model's folder once gave the first model's
/// vectors under the second's fingerprint (issue 24, #12): segments carry
/// their model's fingerprint, and a stranger is set aside as corrupt.
#[test]
fn a_segment_of_another_model_is_set_aside() {
    let Some(encoder) = model(Prompts::default()) else {
        return;
    };
    let other = Other(model(Prompts::default()).unwrap());
    let items = texts(&["Halo dunia", "Selamat pagi"]);
    let dir = tempfile::tempdir().unwrap();
    EmbeddingCache::new(dir.path())
        .encode(&encoder, &items, Role::Query, "t", &Quiet)
        .unwrap();
    let segment = only_segment(dir.path(), &encoder);
    let planted = dir
        .path()
        .join(other.fingerprint())
        .join(segment.file_name().unwrap());
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::copy(&segment, &planted).unwrap();
    let warnings = Warnings::default();
    EmbeddingCache::new(dir.path())
        .encode(&other, &items, Role::Query, "t", &warnings)
        .unwrap();
    assert_eq!(other.0.texts.load(Ordering::Relaxed), 2, "encoded afresh");
    let warnings = warnings.0.into_inner().unwrap();
    assert!(
        warnings.len() == 1 && warnings[0].contains("written for another model"),
        "{warnings:?}"
    );
    assert!(planted.with_extension("corrupt").is_file());
}

/// What is not a segment is left alone: a directory named like one is
/// neither read nor renamed (it once became `*.corrupt`).
#[test]
fn a_directory_named_like_a_segment_is_left_alone() {
    let Some(encoder) = model(Prompts::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join(encoder.fingerprint()).join("notes.bin");
    std::fs::create_dir_all(&odd).unwrap();
    let warnings = Warnings::default();
    EmbeddingCache::new(dir.path())
        .encode(
            &encoder,
            &texts(&["Halo dunia"]),
            Role::Query,
            "t",
            &warnings,
        )
        .unwrap();
    assert!(odd.is_dir(), "the directory stays where it was");
    assert!(warnings.0.into_inner().unwrap().is_empty());
}

/// A stripping encoder (sentence-transformers' preparation) sees padded and
/// unpadded copies of a text alike: one entry, the prepared text's vector.
#[test]
fn texts_that_prepare_alike_share_one_entry() {
    let Some(mut encoder) = model(Prompts {
        query: Some("query: ".into()),
        passage: None,
    }) else {
        return;
    };
    encoder.preparation = TextPreparation::SentenceTransformers;
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(dir.path());
    let padded = texts(&[" Halo dunia", "Halo dunia \r\n", "Halo dunia", "  \t"]);
    let vectors = cache
        .encode(&encoder, &padded, Role::Query, "t", &Quiet)
        .unwrap();
    assert_eq!(encoder.texts.load(Ordering::Relaxed), 3);
    let want = encoder
        .inner
        .encode_raw(
            &["query:  Halo dunia", "query: Halo dunia", "query:"],
            Role::Query,
        )
        .unwrap();
    assert_eq!(vectors.row(0), want.row(0));
    assert_eq!(vectors.row(1), want.row(1));
    assert_eq!(vectors.row(2), want.row(1));
    assert_eq!(vectors.row(3), want.row(2));
}

/// ICL retrieval as the reference runs it: the same model without its prompts,
/// recorded under the same id but another fingerprint.
#[test]
fn a_retriever_without_prompts_encodes_the_bare_text() {
    let Some(encoder) = model(Prompts {
        query: Some("query: ".into()),
        passage: Some("query: ".into()),
    }) else {
        return;
    };
    let bare = encoder
        .inner
        .encode_raw(&["Halo dunia"], Role::Query)
        .unwrap();
    let prompted_vectors = encoder.inner.encode(&["Halo dunia"], Role::Query).unwrap();
    let encoder: std::sync::Arc<dyn Encoder> = std::sync::Arc::new(encoder);
    let prompted = Retriever::single(encoder.clone(), miners_core::Metric::Euclidean);
    let unprompted = Retriever::single(encoder, miners_core::Metric::Euclidean).without_prompts();
    let texts = texts(&["Halo dunia"]);
    let got = unprompted.encode(&texts, Role::Query, "t", &Quiet).unwrap();
    assert_eq!(got[0], bare);
    let got = prompted.encode(&texts, Role::Query, "t", &Quiet).unwrap();
    assert_eq!(got[0], prompted_vectors);
    assert_eq!(prompted.record().id, unprompted.record().id);
    assert_ne!(
        prompted.record().fingerprint,
        unprompted.record().fingerprint
    );
}

/// Progress that asks to stop once `after` texts have been encoded.
struct StopAfter {
    after: usize,
    done: AtomicUsize,
}

impl miners_eval::Progress for StopAfter {
    fn begin(&self, _: &str, _: usize) {}
    fn advance(&self, n: usize) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    fn finish(&self) {}
    fn cancelled(&self) -> bool {
        self.done.load(Ordering::Relaxed) >= self.after
    }
}

#[test]
fn a_cancelled_encoding_stops_between_batches_and_keeps_what_arrived() {
    let Some(encoder) = model(Prompts::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(dir.path());
    let many: Vec<String> = (0..2_000).map(|i| format!("kalimat nomor {i}")).collect();
    let stop = StopAfter {
        after: 300,
        done: AtomicUsize::new(0),
    };
    let error = cache
        .encode(&encoder, &many, Role::Passage, "t", &stop)
        .unwrap_err();
    assert!(
        matches!(error, miners_eval::EvalError::Cancelled),
        "{error}"
    );
    // Two batches of 256 ran, not the eight that all 2,000 texts take.
    assert_eq!(encoder.texts.load(Ordering::Relaxed), 512);

    // The next run encodes only what the stopped one did not.
    let all = cache
        .encode(&encoder, &many, Role::Passage, "t", &Quiet)
        .unwrap();
    assert_eq!(encoder.texts.load(Ordering::Relaxed), 2_000);
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(all, encoder.inner.encode(&refs, Role::Passage).unwrap());
}

/// Records, with the cells named in `done` already done.
struct Resumed {
    records: Vec<miners_eval::ResultRecord>,
    done: Vec<&'static str>,
}

impl miners_eval::RecordSink for Resumed {
    fn accept(
        &mut self,
        records: &[miners_eval::ResultRecord],
    ) -> Result<(), miners_eval::EvalError> {
        self.records.extend_from_slice(records);
        Ok(())
    }
    fn is_done(
        &self,
        cell: &miners_eval::CellKey,
        _: &[usize],
        _: Option<usize>,
        _: Option<&str>,
    ) -> bool {
        self.done.contains(&cell.cell.as_str())
    }
}

#[test]
fn bitext_encodes_every_pending_cell_ahead_in_one_stream_per_role() {
    let (Some(encoder), Some(data)) = (model(Prompts::default()), shared_data()) else {
        return;
    };
    let nusax = Dataset::open(&data, "nusax").unwrap();
    let pairs = english_to(&["sun", "jav", "ind"]);
    let options = RunOptions {
        ks: vec![1, 5],
        limit: Some(40),
        both_directions: false,
    };
    let encoder = std::sync::Arc::new(encoder);
    let metric = miners_core::Metric::Euclidean;
    let plain = Retriever::single(encoder.clone(), metric);
    let mut expected = Vec::new();
    run_bitext(&nusax, &plain, &pairs, &options, &Quiet, &mut expected).unwrap();
    for done in [vec![], vec!["eng-sun"]] {
        encoder.texts.store(0, Ordering::Relaxed);
        encoder.calls.store(0, Ordering::Relaxed);
        let dir = tempfile::tempdir().unwrap();
        let cached = Retriever::single(encoder.clone(), metric)
            .with_cache(std::sync::Arc::new(EmbeddingCache::new(dir.path())));
        let mut sink = Resumed {
            records: Vec::new(),
            done: done.clone(),
        };
        run_bitext(&nusax, &cached, &pairs, &options, &Quiet, &mut sink).unwrap();
        // The English sources (the same 40 in every pair) once, in one call,
        // and every pending pair's targets in one more; pair by pair it
        // would have been four calls.
        let pending = pairs.len() - done.len();
        assert_eq!(encoder.calls.load(Ordering::Relaxed), 2, "done: {done:?}");
        assert_eq!(encoder.texts.load(Ordering::Relaxed), 40 + 40 * pending);
        let scored: Vec<_> = expected
            .iter()
            .filter(|r| {
                !done.contains(
                    &r.target_lang
                        .as_deref()
                        .map(|t| format!("eng-{t}"))
                        .unwrap()
                        .as_str(),
                )
            })
            .map(|r| (r.key(), r.k, r.metrics.clone()))
            .collect();
        let got: Vec<_> = sink
            .records
            .iter()
            .map(|r| (r.key(), r.k, r.metrics.clone()))
            .collect();
        assert_eq!(got, scored);
        // Each cell is charged its part of the encoding done ahead.
        assert!(sink.records.iter().all(|r| r.seconds > 0.0));
    }
}

#[test]
fn a_pair_that_does_not_load_fails_after_the_cells_before_it() {
    let (Some(encoder), Some(shared)) = (model(Prompts::default()), shared_data()) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    copy_dir(&shared.path().join("nusax"), &data.path().join("nusax"));
    let broken = data.path().join("nusax/bitext/eng-jav.train.tsv");
    std::fs::write(&broken, "src\ttgt\none\ttwo\tthree\n").unwrap();
    let nusax = Dataset::open(&DataDir::resolve(Some(data.path())).unwrap(), "nusax").unwrap();
    let pairs = english_to(&["sun", "jav", "ind"]);
    let options = RunOptions {
        ks: vec![1],
        limit: Some(20),
        both_directions: false,
    };
    let cache = tempfile::tempdir().unwrap();
    let retriever = Retriever::single(std::sync::Arc::new(encoder), miners_core::Metric::Euclidean)
        .with_cache(std::sync::Arc::new(EmbeddingCache::new(cache.path())));
    let mut records = Vec::new();
    let error = run_bitext(&nusax, &retriever, &pairs, &options, &Quiet, &mut records).unwrap_err();
    assert!(error.to_string().contains("eng-jav"), "{error}");
    let scored: Vec<_> = records.iter().map(|r| r.key().cell).collect();
    assert_eq!(scored, ["eng-sun"]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        match entry.file_type().unwrap().is_dir() {
            true => copy_dir(&entry.path(), &to.join(entry.file_name())),
            false => {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
}

/// The shared data directory (`$MINERS_DATA_DIR` or `../shared/data/miners`),
/// or `None` (the test skips) where it is absent; CI always has it.
fn shared_data() -> Option<DataDir> {
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/miners");
    let data = DataDir::resolve(None).or_else(|_| DataDir::resolve(Some(&beside)));
    assert!(
        data.is_ok() || std::env::var_os("CI").is_none(),
        "CI must have the data"
    );
    data.ok()
}

/// Pairs from English into each of `targets`.
fn english_to(targets: &[&str]) -> Vec<Pair> {
    targets
        .iter()
        .map(|&target| Pair {
            source: "eng".into(),
            target: target.into(),
        })
        .collect()
}
