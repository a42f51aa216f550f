//! Every parser of miners, fed arbitrary bytes and structured mutations of a
//! real file (bit flips, truncations, insertions, deletions, duplications),
//! returns a value or an error and never panics.
//!
//! Cases per parser: `MINERS_FUZZ_CASES` (default 1,000, what CI runs);
//! `cargo xtask fuzz` runs 100,000. The random stream is fixed, so a run is
//! repeatable; each parser prints how many cases it ran.

use std::path::{Path, PathBuf};

use miners_core::Embeddings;
use miners_encoders::{Encoder, EncoderError, Prompts, Role, StaticEncoder};
use miners_eval::{EmbeddingCache, Progress, ResultRecord};
use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{Config, TestRng, TestRunner},
};
use sha2::{Digest, Sha256};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cases() -> u32 {
    std::env::var("MINERS_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

/// One structured change to a seed file; positions wrap around its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for mutation in mutations {
        let at = |at: usize, len: usize| if len == 0 { 0 } else { at % len };
        match mutation {
            Mutation::Flip { at: i, bit } if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                bytes[i] ^= 1 << bit;
            }
            Mutation::Set { at: i, byte } if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                bytes[i] = *byte;
            }
            Mutation::Truncate { at: i } => bytes.truncate(at(*i, bytes.len() + 1)),
            Mutation::Insert { at: i, bytes: new } => {
                let i = at(*i, bytes.len() + 1);
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Delete { at: i, len } if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Duplicate { at: i, len } if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                let end = (i + len).min(bytes.len());
                let chunk = bytes[i..end].to_vec();
                bytes.splice(end..end, chunk);
            }
            _ => {}
        }
    }
    bytes
}

/// Arbitrary bytes (one case in five) or a mutated seed.
fn input(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    prop_oneof![
        1 => vec(any::<u8>(), 0..512),
        4 => (0..count, vec(mutation(), 1..6))
            .prop_map(move |(i, mutations)| apply(&seeds[i], &mutations)),
    ]
}

/// Runs `check` on `cases()` inputs; a panic fails with the shrunk input.
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, check: impl Fn(&[u8])) {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&input(seeds), |bytes| {
        check(&bytes);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
    eprintln!("fuzz {name}: {} cases, no panic", cases());
}

fn read(path: impl AsRef<Path>) -> Option<Vec<u8>> {
    std::fs::read(workspace().join(path)).ok()
}

/// A scratch file holding `bytes`.
fn scratch(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn tsv() {
    let mut seeds = vec![b"text\tlabel\n a\tpositive\n\tnegative\nb\tneutral".to_vec()];
    if let Some(real) = read("../shared/data/miners/nusax/classification/eng.test.tsv") {
        let head: Vec<u8> = real
            .split(|&b| b == b'\n')
            .take(30)
            .collect::<Vec<_>>()
            .join(&b'\n');
        seeds.push(
            String::from_utf8_lossy(&head)
                .replace('\n', "\r\n")
                .into_bytes(),
        );
        seeds.push(head);
    }
    let dir = tempfile::tempdir().unwrap();
    fuzz("tsv", seeds, |bytes| {
        let path = scratch(dir.path(), "x.tsv", bytes);
        let _ = miners_datasets::read_two_columns(&path, ["text", "label"], None);
        let _ = miners_datasets::read_two_columns(&path, ["text", "label"], Some(3));
    });
}

#[test]
fn manifest() {
    let mut seeds = vec![br#"{"name": "nusax", "labels": ["negative", "positive"], "files": {"classification/eng.test.tsv": 1}}"#.to_vec()];
    seeds.extend(read("../shared/data/miners/nusax/manifest.json"));
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("nusax");
    std::fs::create_dir_all(root.join("classification")).unwrap();
    std::fs::write(
        root.join("classification/eng.test.tsv"),
        "text\tlabel\nhalo\tpositive\n",
    )
    .unwrap();
    let dir = miners_datasets::DataDir::new(data.path());
    fuzz("manifest", seeds, |bytes| {
        scratch(&root, "manifest.json", bytes);
        if let Ok(dataset) = miners_datasets::Dataset::open(&dir, "nusax") {
            let _ = dataset.label_set();
            if let Ok(langs) = dataset.classification_langs() {
                for lang in langs.iter().take(3) {
                    let _ = dataset.load_classification(lang, miners_datasets::Split::Test, None);
                }
            }
            let _ = dataset.bitext_pairs();
        }
    });
}

#[test]
fn sweep_spec() {
    let mut seeds = vec![b"encoders = [\"m\"]\n[bitext]\nks = [1, 5]\n".to_vec()];
    seeds.extend(read("sweep.toml"));
    let dir = tempfile::tempdir().unwrap();
    fuzz("sweep spec", seeds, |bytes| {
        let path = scratch(dir.path(), "sweep.toml", bytes);
        let _ = miners_sweep::SweepSpec::read(&path);
    });
}

#[test]
fn catalog() {
    let mut seeds = vec![b"[[model]]\nid = \"a\"\nbackend = \"static\"\npath = \"a\"\n".to_vec()];
    seeds.extend(read("models.toml"));
    let dir = tempfile::tempdir().unwrap();
    fuzz("catalog", seeds, |bytes| {
        let path = scratch(dir.path(), "models.toml", bytes);
        if let Ok(models) = miners_models::Models::from_file(&path) {
            let _ = models.encoder_entry("e5-small");
            let _ = models.generator_entry("qwen2.5-0.5b");
        }
    });
}

#[test]
fn gguf() {
    let seeds: Vec<Vec<u8>> = [
        "fixtures/tiny-decoders/quants.gguf",
        "fixtures/tiny-decoders/llama.gguf",
    ]
    .iter()
    .filter_map(read)
    .collect();
    assert!(!seeds.is_empty(), "the GGUF fixtures are committed");
    let dir = tempfile::tempdir().unwrap();
    fuzz("gguf", seeds, |bytes| {
        let path = scratch(dir.path(), "model.gguf", bytes);
        if let Ok(file) = miners_gguf::GgufFile::open(&path) {
            let _ = miners_gguf::tokenizer_json(&file);
        }
    });
}

/// A small static model: the tiny BERT tokenizer and a random embedding table.
fn static_model_seed(dir: &Path) -> Vec<u8> {
    std::fs::copy(
        workspace().join("fixtures/tiny-bert/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(dir.join("config.json"), r#"{"normalize": true}"#).unwrap();
    let (rows, dim) = (300, 4);
    let values: Vec<u8> = (0..rows * dim)
        .flat_map(|i| ((i % 17) as f32 / 17.0).to_le_bytes())
        .collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![rows, dim], &values)
            .unwrap();
    safetensors::serialize([("embeddings", view)], None).unwrap()
}

#[test]
fn safetensors_header() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = vec![static_model_seed(dir.path())];
    fuzz("safetensors", seeds, |bytes| {
        scratch(dir.path(), "model.safetensors", bytes);
        let _ = StaticEncoder::recognizes(dir.path());
        if let Ok(encoder) = StaticEncoder::load(dir.path(), "fuzz") {
            let _ = encoder.encode(&["halo dunia"], Role::Query);
        }
    });
}

/// An encoder whose vectors are a function of the text: no model needed.
struct Hashed;

impl Encoder for Hashed {
    fn id(&self) -> &str {
        "hashed"
    }
    fn dim(&self) -> usize {
        4
    }
    fn fingerprint(&self) -> &str {
        "hashed-v1"
    }
    fn prompts(&self) -> &Prompts {
        static NONE: std::sync::OnceLock<Prompts> = std::sync::OnceLock::new();
        NONE.get_or_init(Prompts::default)
    }
    fn encode_raw(&self, texts: &[&str], _role: Role) -> Result<Embeddings, EncoderError> {
        let rows: Vec<f32> = texts
            .iter()
            .flat_map(|t| {
                let digest = Sha256::digest(t.as_bytes());
                (0..4).map(move |i| f32::from(digest[i]) / 255.0)
            })
            .collect();
        Ok(Embeddings::from_rows(4, rows)?)
    }
}

/// Progress that keeps quiet about repaired segments (there are thousands).
struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: usize) {}
    fn advance(&self, _: usize) {}
    fn finish(&self) {}
    fn warn(&self, _: &str) {}
}

#[test]
fn cache_segment() {
    let texts: Vec<String> = ["halo", "dunia", "selamat", "pagi"]
        .map(String::from)
        .to_vec();
    let seed_dir = tempfile::tempdir().unwrap();
    let clean = EmbeddingCache::new(seed_dir.path())
        .encode(&Hashed, &texts, Role::Query, "seed", &Silent)
        .unwrap();
    let segments = seed_dir.path().join(Hashed.fingerprint());
    let seed = std::fs::read_dir(&segments)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original_name = seed.file_name().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join(Hashed.fingerprint());
    fuzz(
        "cache segment",
        vec![std::fs::read(&seed).unwrap()],
        |bytes| {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            // Half the cases carry their own content hash, so the parser proper runs.
            let digest = Sha256::digest(bytes);
            let own_name = format!(
                "{}.bin",
                digest[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            let renamed = digest[31] % 2 == 0;
            let name = if renamed {
                own_name.into()
            } else {
                original_name.clone()
            };
            scratch(&dir, &name.to_string_lossy(), bytes);
            let got =
                EmbeddingCache::new(work.path()).encode(&Hashed, &texts, Role::Query, "t", &Silent);
            let got = got.expect("a damaged segment is set aside, never an error");
            if !renamed {
                assert_eq!(got, clean, "a segment failing its hash must not be used");
            }
        },
    );
}

/// Found by this fuzzer (100,000 cases): a segment named by its own hash whose
/// vectors hold infinity made `encode` fail; it is now set aside as corrupt.
const INFINITE_SEGMENT: &[u8] = &[
    77, 69, 77, 66, 1, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 183, 247, 129, 41, 99, 171,
    201, 251, 226, 253, 223, 210, 146, 116, 40, 66, 116, 6, 103, 218, 225, 37, 204, 252, 156, 72,
    231, 179, 142, 8, 178, 86, 165, 164, 36, 63, 231, 230, 102, 63, 237, 236, 108, 62, 203, 202,
    74, 63, 48, 63, 105, 162, 12, 121, 8, 116, 161, 167, 207, 83, 29, 208, 189, 42, 218, 99, 57,
    11, 22, 40, 155, 235, 43, 170, 174, 180, 141, 94, 66, 90, 153, 152, 152, 61, 0, 0, 128, 127,
    187, 186, 58, 63, 213, 212, 84, 63, 235, 161, 147, 88, 204, 103, 209, 49, 9, 34, 168, 180, 123,
    104, 215, 114, 88, 25, 178, 228, 7, 214, 66, 21, 214, 164, 166, 8, 32, 220, 108, 10, 129, 128,
    0, 61, 193, 192, 64, 63, 203, 202, 74, 63, 222, 221, 93, 63, 202, 161, 8, 145, 252, 44, 248,
    239, 241, 224, 120, 51, 51, 55, 149, 93, 240, 68, 124, 227, 72, 52, 254, 52, 243, 216, 70, 32,
    223, 175, 100, 109, 169, 168, 168, 61, 201, 200, 200, 61, 171, 170, 42, 63, 145, 144, 16, 61,
];

#[test]
fn a_segment_with_an_infinite_value_is_set_aside() {
    let texts: Vec<String> = ["halo", "dunia", "selamat", "pagi"]
        .map(String::from)
        .to_vec();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join(Hashed.fingerprint());
    std::fs::create_dir_all(&dir).unwrap();
    let digest = Sha256::digest(INFINITE_SEGMENT);
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    scratch(&dir, &format!("{name}.bin"), INFINITE_SEGMENT);
    let got = EmbeddingCache::new(work.path())
        .encode(&Hashed, &texts, Role::Query, "t", &Silent)
        .unwrap();
    assert_eq!(
        got,
        Hashed
            .encode(&["halo", "dunia", "selamat", "pagi"], Role::Query)
            .unwrap()
    );
    assert!(dir.join(format!("{name}.corrupt")).is_file());
}

const RECORD: &str = r#"{
  "schema": 2, "task": "classification", "dataset": "nusax", "setting": "mono",
  "model": {"id": "e5-small", "fingerprint": "ab12"}, "metric": "euclidean",
  "lang": "jav", "k": 10, "n": 400, "limit": 40,
  "metrics": {"accuracy": 0.5, "precision": 0.25, "recall": 0.5, "f1": 0.3, "averaging": "macro"},
  "seconds": 1.5, "peak_rss_mib": 300.0
}"#;

const ICL_RECORD: &str = r#"{
  "schema": 2, "task": "icl", "dataset": "sib200", "setting": "mono",
  "model": {"id": "e5-small"}, "metric": "euclidean", "lang": "eng_Latn", "k": 0, "n": 2,
  "metrics": {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "averaging": "macro"},
  "seconds": 1.0,
  "generator": {"id": "g", "selection": {"type": "nearest"}, "prompt": {"instruction": "x", "options": false}},
  "icl": {"gold": ["a", "b"], "predictions": ["a", "b"], "prompts": ["p", "q"],
          "dropped_demonstrations": [0, 0], "prompt_tokens": 7}
}"#;

#[test]
fn result_record() {
    let seeds = vec![RECORD.as_bytes().to_vec(), ICL_RECORD.as_bytes().to_vec()];
    for seed in &seeds {
        let dir = tempfile::tempdir().unwrap();
        let path = scratch(dir.path(), "r.k1.json", seed);
        ResultRecord::read(&path).expect("the seeds are valid records");
    }
    let dir = tempfile::tempdir().unwrap();
    fuzz("result record", seeds, |bytes| {
        let path = scratch(dir.path(), "r.k1.json", bytes);
        if let Ok(record) = ResultRecord::read(&path) {
            let _ = record.key().path(dir.path(), record.k);
        }
    });
}

/// The entries of a `torch.save` zip archive, in order.
fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().to_owned(), data)
        })
        .collect()
}

/// A `torch.save` archive of `entries`, stored uncompressed as torch writes them.
fn torch_zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        out.start_file(name.as_str(), stored).unwrap();
        out.write_all(data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// The pickle reader through the public API: mutated `data.pkl` bytes of a
/// real `pytorch_model.bin` (and the hostile one), re-zipped with the real
/// storages; whatever opens has every tensor read.
#[test]
fn pytorch_pickle() {
    let Some(real) = read("fixtures/layouts/tiny-xlmr/bin/pytorch_model.bin") else {
        panic!("fixtures/layouts is committed");
    };
    let entries = zip_entries(&real);
    let pickle_at = entries
        .iter()
        .position(|(n, _)| n.ends_with("data.pkl"))
        .unwrap();
    let hostile = read("fixtures/layouts/malicious/pytorch_model.bin").unwrap();
    let seeds = vec![
        entries[pickle_at].1.clone(),
        zip_entries(&hostile)[0].1.clone(),
    ];
    let dir = tempfile::tempdir().unwrap();
    fuzz("pytorch pickle", seeds, |pickle| {
        let mut archive = entries.clone();
        archive[pickle_at].1 = pickle.to_vec();
        scratch(dir.path(), "pytorch_model.bin", &torch_zip(&archive));
        if let Ok(checkpoint) = miners_checkpoint::Checkpoint::open(dir.path()) {
            for name in checkpoint.names() {
                let _ = checkpoint.read(name);
            }
        }
    });
}

/// Safetensors shards and their index: mutated headers of a real shard and
/// mutated indexes naming real shards.
#[test]
fn sharded_checkpoint() {
    let source = workspace().join("fixtures/layouts/llama/sharded-bf16");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let index = std::fs::read(source.join("model.safetensors.index.json")).unwrap();
    let shard = std::fs::read(source.join("model-00002-of-00002.safetensors")).unwrap();
    let open_all = |dir: &Path| {
        if let Ok(checkpoint) = miners_checkpoint::Checkpoint::open(dir) {
            for name in checkpoint.names() {
                let _ = checkpoint.read(name);
            }
        }
    };
    fuzz("shard index", vec![index.clone()], |bytes| {
        scratch(dir.path(), "model.safetensors.index.json", bytes);
        open_all(dir.path());
    });
    scratch(dir.path(), "model.safetensors.index.json", &index);
    fuzz("safetensors shard", vec![shard], |bytes| {
        scratch(dir.path(), "model-00002-of-00002.safetensors", bytes);
        open_all(dir.path());
    });
}

/// SentencePiece models: mutations of a real one become a tokenizer or an
/// error, and a tokenizer that builds encodes text.
#[test]
fn sentencepiece_model() {
    let source = workspace().join("fixtures/sentencepiece/xlmr");
    let model = std::fs::read(source.join("sentencepiece.bpe.model")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        source.join("tokenizer_config.json"),
        dir.path().join("tokenizer_config.json"),
    )
    .unwrap();
    fuzz("sentencepiece", vec![model], |bytes| {
        let _ = miners_encoders::sentencepiece::SentencePieceModel::parse(bytes);
        scratch(dir.path(), "sentencepiece.bpe.model", bytes);
        if let Ok(tokenizer) = miners_encoders::tokenizer::load_tokenizer(dir.path()) {
            let _ = tokenizer.encode("Halo dunia, ini kalimat uji.", true);
        }
    });
}

/// The Hub's API JSON (a repository's file listing) as the project reads it:
/// the files a model needs (`miners_hub::model_files`) and the parquet files
/// of each MTEB / Hub dataset it converts. Whatever the listing holds, what
/// is picked is a safe relative path (files are written under these names).
#[test]
fn hub_listing() {
    let seed = serde_json::json!({
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "siblings": [
            {"rfilename": "config.json"}, {"rfilename": "model.safetensors"},
            {"rfilename": "tokenizer.json"}, {"rfilename": "1_Pooling/config.json"},
            {"rfilename": "model.safetensors.index.json"},
            {"rfilename": "model-00001-of-00002.safetensors"},
            {"rfilename": "default/test/0000.parquet"}, {"rfilename": "en/train/0000.parquet"},
            {"rfilename": "default/validation/0000.parquet"},
            {"rfilename": "default/test/../../../escape.parquet"},
        ],
    });
    let seeds = vec![serde_json::to_vec_pretty(&seed).unwrap()];
    fuzz("hub listing", seeds, |bytes| {
        let Ok(info) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return;
        };
        let listing: Vec<String> = info["siblings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["rfilename"].as_str().map(str::to_owned))
            .collect();
        for name in miners_hub::model_files(&listing) {
            assert!(miners_core::is_inside_path(&name), "model file `{name}`");
        }
        for dataset in miners_datasets::convert::parquet::HUB_DATASETS {
            for (_, _, name) in dataset.parquet_files(&listing) {
                assert!(
                    miners_core::is_inside_path(&name),
                    "{}: parquet file `{name}`",
                    dataset.name
                );
            }
        }
    });
}

/// Embeddings responses (OpenAI and Cohere shapes, numbers and base64): the
/// reader returns exactly the vectors asked for, or an error.
#[test]
fn api_embeddings_responses() {
    use miners_api::{Protocol, responses};
    let openai = serde_json::json!({"data": [
        {"index": 1, "embedding": [0.5, -1.0, 2.0]},
        {"index": 0, "embedding": "AACAPwAAAEAAAEBA"},
    ]});
    let cohere = serde_json::json!({"embeddings": {"float": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}});
    for (protocol, name, seed) in [
        (Protocol::OpenAi, "OpenAI embeddings response", openai),
        (Protocol::Cohere, "Cohere embeddings response", cohere),
    ] {
        assert_eq!(responses::embeddings(protocol, &seed, 2).unwrap().len(), 2);
        fuzz(name, vec![serde_json::to_vec(&seed).unwrap()], |bytes| {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
                return;
            };
            if let Ok(rows) = responses::embeddings(protocol, &value, 2) {
                assert_eq!(rows.len(), 2);
            }
        });
    }
}

/// Completions with echoed log-probabilities (label scoring) and chat
/// completions (generation): a value or an error, never a panic.
#[test]
fn api_completion_and_chat_responses() {
    use miners_api::responses;
    let completion = serde_json::json!({"choices": [{"logprobs": {
        "tokens": ["Input", ":", " pos", "itive"],
        "text_offset": [0, 5, 6, 10],
        "token_logprobs": [null, -0.5, -1.25, -0.25],
    }}]});
    assert_eq!(responses::label_logprob(&completion, 6, 14).unwrap(), -0.75);
    fuzz(
        "completion response",
        vec![serde_json::to_vec(&completion).unwrap()],
        |bytes| {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
                let _ = responses::label_logprob(&value, 6, 14);
            }
        },
    );
    let chat = serde_json::json!({
        "choices": [{"message": {"role": "assistant", "content": "positive"}, "finish_reason": "stop"}],
        "usage": {"completion_tokens": 2},
    });
    assert_eq!(responses::chat(&chat).unwrap().text, "positive");
    fuzz(
        "chat response",
        vec![serde_json::to_vec(&chat).unwrap()],
        |bytes| {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
                let _ = responses::chat(&value);
            }
        },
    );
}

/// Mining results as `report` and `merge` read them: parsed, placed and
/// checked against their path, or refused.
#[test]
fn mining_result() {
    use miners_eval::mining::MiningResult;
    let seed = serde_json::json!({
        "dataset": "flores_bucc_substitute", "pair": "deu-eng", "model": "e5-small~cosine~margin_ratio4",
        "sentences": 200, "seed": 0, "mutual": 180, "threshold": 1.05,
        "tune": {"precision": 0.9, "recall": 0.8, "f1": 0.85},
        "test": {"precision": 0.88, "recall": 0.79, "f1": 0.83},
    });
    let dir = tempfile::tempdir().unwrap();
    fuzz(
        "mining result",
        vec![serde_json::to_vec_pretty(&seed).unwrap()],
        |bytes| {
            if let Ok(result) = serde_json::from_slice::<MiningResult>(bytes) {
                let path = result.path(dir.path());
                assert!(
                    path.starts_with(dir.path().join("mining")),
                    "{}",
                    path.display()
                );
                let _ = result.check_path(dir.path(), &path);
            }
        },
    );
}
