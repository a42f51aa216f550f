//! The `miners` binary end to end: real runs on a slice of real data, and
//! clear errors (never panics) on bad input.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MINERS_DATA_DIR").map(PathBuf::from),
        Some(workspace().join("../shared/data/miners")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_dir());
    let model = workspace().join("models/static-tokenlearn");
    if found.is_none() || !model.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the data and the fetched model"
        );
        eprintln!("skipping: data or model absent");
        return None;
    }
    found
}

fn miners(data: &Path, out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .arg("--out")
        .arg(out)
        .env_remove("MINERS_DATA_DIR")
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and expects a clean failure whose message contains `needle`.
fn fails_with(data: &Path, args: &[&str], needle: &str) {
    let out = tempfile::tempdir().unwrap();
    let output = miners(data, out.path(), args);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
    assert!(
        message.contains(needle),
        "{args:?}: expected `{needle}` in: {message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn bitext_and_distfuse_write_records_and_a_summary() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let args = [
        "bitext",
        "--dataset",
        "nusax",
        "--model",
        "static-tokenlearn",
        "--limit",
        "40",
        "--k",
        "1,5",
    ];
    let output = miners(&data, out.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains("eng-ace") && table.contains("average (11 cells)"),
        "{table}"
    );
    let record = out
        .path()
        .join("bitext/nusax/static-tokenlearn/cross/eng-jav.k5.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    assert_eq!(
        (json["n"].as_u64(), json["limit"].as_u64()),
        (Some(40), Some(40))
    );

    let fused = [
        "bitext",
        "--dataset",
        "nusax",
        "--model",
        "static-tokenlearn",
        "--model",
        "static-tokenlearn",
        "--weights",
        "1,0.5",
        "--limit",
        "40",
        "--k",
        "1",
    ];
    let output = miners(&data, out.path(), &fused);
    assert!(output.status.success(), "{}", stderr(&output));
    let dir = out
        .path()
        .join("bitext/nusax/distfuse_static-tokenlearn_1+static-tokenlearn_0.5_/cross");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 11);

    // Without --weights the members weigh equally; --metric is each member's.
    let equal = [&fused[..7], &["--limit", "40", "--k", "1"]].concat();
    for (metric, id) in [
        (
            "euclidean",
            "distfuse_static-tokenlearn_1+static-tokenlearn_1_",
        ),
        (
            "manhattan",
            "distfuse_static-tokenlearn_1+static-tokenlearn_1__manhattan",
        ),
    ] {
        let output = miners(
            &data,
            out.path(),
            &[&equal[..], &["--metric", metric]].concat(),
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let dir = out.path().join("bitext/nusax").join(id).join("cross");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            11,
            "{}",
            dir.display()
        );
    }
}

#[test]
fn a_precision_override_is_recorded_as_its_own_model() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let model = workspace().join("fixtures/tiny-bert");
    let model = model.to_str().unwrap();
    for dtype in ["float32", "bfloat16"] {
        let args = [
            "bitext",
            "--dataset",
            "nusax",
            "--pair",
            "eng-jav",
            "--model",
            model,
            "--dtype",
            dtype,
            "--limit",
            "10",
            "--k",
            "1",
        ];
        let output = miners(&data, out.path(), &args);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let models = out.path().join("bitext/nusax");
    let mut names: Vec<String> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["tiny-bert", "tiny-bert_bfloat16"]);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(models.join("tiny-bert_bfloat16/cross/eng-jav.k1.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["model"]["id"], "tiny-bert@bfloat16");
}

#[test]
fn cross_lingual_classification_runs() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let args = [
        "classify",
        "--dataset",
        "fire",
        "--cross",
        "--model",
        "static-tokenlearn",
        "--limit",
        "60",
        "--k",
        "10",
    ];
    let output = miners(&data, out.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        out.path()
            .join("classification/fire/static-tokenlearn/cross-cs/tamil-malayalam.k10.json")
            .is_file()
    );
}

#[test]
fn bad_arguments_get_clear_errors() {
    let Some(data) = data_dir() else { return };
    let model = ["--model", "static-tokenlearn"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        extra.iter().chain(&model).copied().collect()
    };
    fails_with(
        &data,
        &with(&["bitext", "--dataset", "nope"]),
        "unknown dataset `nope`; known datasets: bucc, flores_bucc_substitute",
    );
    fails_with(
        &data,
        &with(&["classify", "--dataset", "mtop_intent"]),
        "dataset `mtop_intent` is not in the data directory",
    );
    fails_with(
        &data,
        &with(&["bitext", "--dataset", "tatoeba"])
            .into_iter()
            .chain(["--weights", "1,2"])
            .collect::<Vec<_>>(),
        "one weight per encoder (1 encoders, 2 weights)",
    );
    fails_with(
        &data,
        &with(&[
            "classify",
            "--dataset",
            "nusax",
            "--cross",
            "--src-lang",
            "xx",
        ]),
        "cross-lingual pool: xx: not a language of nusax",
    );
    fails_with(
        &data,
        &with(&["classify", "--dataset", "nusax", "--lang", "xx"]),
        "has no language or pair `xx`",
    );
    fails_with(
        &data,
        &with(&["bitext", "--dataset", "nusax", "--limit", "5", "--k", "10"]),
        "k = 10 is larger than the pool of 5 candidates",
    );
    fails_with(
        &data,
        &["bitext", "--dataset", "nusax", "--model", "no-such-model"],
        "encoder `no-such-model`: neither a model directory nor a catalog id (known: static-tokenlearn, minilm-l6, e5-small)",
    );
    fails_with(
        &data,
        &with(&["bitext", "--dataset", "nusax", "--k", "0"]),
        "k values [0]: k = 0 is below 1",
    );
}

#[test]
fn malformed_data_names_file_and_line() {
    if data_dir().is_none() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("nusax/classification");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        data.path().join("nusax/manifest.json"),
        r#"{"labels": ["negative", "neutral", "positive"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("eng.train.tsv"),
        "text\tlabel\ngood\tpositive\nno label here\n",
    )
    .unwrap();
    std::fs::write(dir.join("eng.test.tsv"), "text\tlabel\nfine\tpositive\n").unwrap();
    let args = [
        "classify",
        "--dataset",
        "nusax",
        "--model",
        "static-tokenlearn",
        "--k",
        "1",
    ];
    fails_with(
        data.path(),
        &args,
        "eng.train.tsv:3: expected 2 tab-separated fields, found 1",
    );
    std::fs::write(
        dir.join("eng.test.tsv"),
        b"text\tlabel\nbad \xff byte\tpositive\n",
    )
    .unwrap();
    std::fs::write(dir.join("eng.train.tsv"), "text\tlabel\ngood\tpositive\n").unwrap();
    fails_with(data.path(), &args, "eng.test.tsv:2: invalid UTF-8");
    std::fs::write(dir.join("eng.test.tsv"), "").unwrap();
    fails_with(data.path(), &args, "eng.test.tsv:0: file is empty");
    std::fs::write(data.path().join("nusax/manifest.json"), "{ broken").unwrap();
    fails_with(data.path(), &args, "manifest.json:1:");
}

/// ICL with a real retriever on real data; the generator is the committed
/// tiny random Qwen2 fixture (its predictions are meaningless, the mechanics are not).
#[test]
fn icl_writes_metrics_predictions_and_prompts() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let generator = workspace().join("fixtures/tiny-decoders/qwen2");
    let args = [
        "icl",
        "--dataset",
        "nusax",
        "--retriever",
        "static-tokenlearn",
        "--generator",
        generator.to_str().unwrap(),
        "--k",
        "0,1,2",
        "--cross",
        "--lang",
        "ind",
        "--limit",
        "6",
    ];
    let output = miners(&data, out.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("generator qwen2"), "{stdout}");
    let dir = out.path().join("icl/nusax/qwen2/static-tokenlearn/cross");
    let read = |k: usize| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join(format!("eng-ind.k{k}.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let zero = read(0);
    let two = read(2);
    assert_eq!(zero["task"], "icl");
    assert_eq!(zero["generator"]["id"], "qwen2");
    assert_eq!(zero["n"], 6);
    let prompts = two["icl"]["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 6);
    let prompt = prompts[0].as_str().unwrap();
    assert!(
        prompt.starts_with("Instruction:Generate a sentiment label for a given input.\nInput:")
    );
    assert_eq!(prompt.matches(" Prediction:").count(), 3, "{prompt}");
    assert!(prompt.ends_with(" Prediction:"));
    assert!(!zero["icl"]["prompts"][0].as_str().unwrap().contains("\n\n"));
    let labels = ["negative", "neutral", "positive"];
    for p in two["icl"]["predictions"].as_array().unwrap() {
        assert!(labels.contains(&p.as_str().unwrap()), "{p}");
    }
    // The tiny model's 256-token window forces dropping demonstrations somewhere
    // or not; either way the count is recorded per example.
    assert_eq!(
        two["icl"]["dropped_demonstrations"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn icl_bad_arguments_get_clear_errors() {
    let Some(data) = data_dir() else { return };
    let generator = workspace().join("fixtures/tiny-decoders/qwen2");
    let generator = generator.to_str().unwrap();
    let base = [
        "icl",
        "--dataset",
        "nusax",
        "--retriever",
        "static-tokenlearn",
    ];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter()
            .chain(["--generator", generator].iter())
            .chain(extra)
            .copied()
            .collect()
    };
    fails_with(
        &data,
        &with(&["--percentile", "80-20"]),
        "--percentile 80-20: the window is empty",
    );
    fails_with(&data, &with(&["--percentile", "x"]), "`x` is not a number");
    let mut unknown = base.to_vec();
    unknown.extend(["--generator", "no-such-generator"]);
    fails_with(
        &data,
        &unknown,
        "neither a model directory nor a catalog id",
    );
    let mut tatoeba = with(&["--k", "1"]);
    tatoeba[2] = "tatoeba";
    fails_with(&data, &tatoeba, "classification");
}

/// All records under `dir` (job markers and plans left out), by relative
/// path, with the wall-clock fields removed.
fn records(dir: &Path) -> std::collections::BTreeMap<PathBuf, serde_json::Value> {
    record_files(dir)
        .into_iter()
        .filter(|path| !path.components().any(|c| c.as_os_str() == ".sweep"))
        .map(|path| {
            let mut value: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let object = value.as_object_mut().unwrap();
            object.remove("seconds");
            object.remove("peak_rss_mib");
            object.remove("cpu_seconds");
            (path.strip_prefix(dir).unwrap().to_owned(), value)
        })
        .collect()
}

fn sweep(data: &Path, spec: &Path, out: &Path, extra: &[&str]) -> Output {
    let cache = out.with_extension("cache");
    Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(["sweep", "--spec"])
        .arg(spec)
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .arg("--data-dir")
        .arg(data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .args(extra)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .output()
        .expect("the binary runs")
}

#[test]
fn sweep_shards_merge_to_the_unsharded_run_and_reruns_skip_done_work() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("sweep.toml");
    std::fs::write(
        &spec,
        r#"
encoders = ["static-tokenlearn"]
limit = 30

[[ensembles]]
members = ["static-tokenlearn", "static-tokenlearn"]
weights = [1.0, 0.5]

[bitext]
datasets = ["nusax", "nollysenti"]
ks = [1, 5]

[classification]
datasets = ["nusax", "nollysenti", "fire"]
settings = ["mono", "cross"]
ks = [1, 5]
"#,
    )
    .unwrap();
    let whole = dir.path().join("whole");
    let output = sweep(&data, &spec, &whole, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let unsharded = records(&whole);
    assert!(unsharded.len() > 100, "{}", unsharded.len());

    let shards: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("shard{i}")))
        .collect();
    for (i, shard) in shards.iter().enumerate() {
        let output = sweep(&data, &spec, shard, &["--shard", &format!("{i}/2")]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert!(!records(&shards[0]).is_empty() && !records(&shards[1]).is_empty());
    let merged = dir.path().join("merged");
    let mut merge = Command::new(env!("CARGO_BIN_EXE_miners"));
    merge.args(["merge", "--into"]).arg(&merged).args(&shards);
    assert!(merge.output().unwrap().status.success());
    assert_eq!(records(&merged), unsharded);

    // A rerun skips every job.
    let output = sweep(&data, &spec, &whole, &[]);
    assert!(
        stderr(&output).contains("0 jobs run"),
        "{}",
        stderr(&output)
    );
    // Losing one record (a crash mid-job) redoes only that cell; others stay untouched.
    let lost = whole.join("classification/nusax/static-tokenlearn/mono/jav.k5.json");
    let kept = whole.join("classification/nusax/static-tokenlearn/mono/sun.k5.json");
    let kept_time = std::fs::metadata(&kept).unwrap().modified().unwrap();
    std::fs::remove_file(&lost).unwrap();
    let marker = whole.join(".sweep/classification.nusax.static-tokenlearn.mono.done");
    std::fs::remove_file(&marker).unwrap();
    let output = sweep(&data, &spec, &whole, &[]);
    let message = stderr(&output);
    assert!(
        message.contains("1 jobs run (11 of their cells already done)"),
        "{message}"
    );
    assert_eq!(records(&whole), unsharded);
    assert_eq!(
        std::fs::metadata(&kept).unwrap().modified().unwrap(),
        kept_time
    );
}

#[test]
fn listings_end_quietly_when_the_reader_closes_the_pipe() {
    let Some(data) = data_dir() else { return };
    for args in [
        vec!["datasets"],
        vec!["sweep", "--list", "--spec", "sweep.toml"],
    ] {
        let script = format!(
            "'{}' {} --data-dir '{}' | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}",
            env!("CARGO_BIN_EXE_miners"),
            args.join(" "),
            data.display()
        );
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(workspace())
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert_eq!(status, "0", "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    }
}

#[test]
fn bad_requests_are_refused_before_any_work_with_one_clear_message() {
    let Some(data) = data_dir() else { return };
    let bitext = [
        "bitext",
        "--dataset",
        "nusax",
        "--model",
        "static-tokenlearn",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        bitext.iter().chain(extra).copied().collect()
    };
    fails_with(&data, &with(&["--limit", "0"]), "limit 0 keeps no items");
    fails_with(
        &data,
        &with(&["--pair", "eng-xyz"]),
        "pair eng-xyz: nusax has no such pair; its pairs are eng-ace, eng-ban",
    );
    fails_with(&data, &with(&["--k", "1,5,1"]), "k = 1 is given twice");
    fails_with(
        &data,
        &with(&[
            "--weights",
            "1",
            "--metric",
            "manhattan",
            "--hubness",
            "margin-ratio",
        ]),
        "--model / --metric: the ratio margin divides similarities and metric manhattan is a distance",
    );
    fails_with(
        &data,
        &with(&["--normalization", "z-score"]),
        "z-score normalisation rescales DistFuse members; it needs two or more encoders",
    );
    let two = with(&["--model", "static-tokenlearn", "--weights", "1,-1"]);
    fails_with(
        &data,
        &two,
        "weight 1 is -1; weights must be finite and at least 0",
    );

    // An unwritable --out is found before the first cell is computed.
    let output = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(bitext)
        .args(["--data-dir".as_ref(), data.as_os_str()])
        .args([
            "--catalog".as_ref(),
            workspace().join("models.toml").as_os_str(),
        ])
        .args(["--out", "/dev/null/results"])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("--out /dev/null/results: cannot write results there"),
        "{message}"
    );
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // A --catalog that does not exist is an error, not an empty catalog;
    // the OS reason is said once.
    let missing = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(bitext)
        .args(["--data-dir".as_ref(), data.as_os_str()])
        .args(["--catalog", "/nonexistent/models.toml", "--out", "/tmp"])
        .output()
        .unwrap();
    let message = stderr(&missing);
    assert!(
        message.contains("/nonexistent/models.toml: No such file or directory"),
        "{message}"
    );
    assert_eq!(
        message.matches("No such file or directory").count(),
        1,
        "{message}"
    );
}

#[test]
fn a_truncated_static_model_is_blamed_on_its_weights() {
    let Some(data) = data_dir() else { return };
    let model = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(
            workspace().join("models/static-tokenlearn").join(file),
            model.path().join(file),
        )
        .unwrap();
    }
    let weights = model.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let dir = model.path().to_str().unwrap();
    fails_with(
        &data,
        &[
            "bitext",
            "--dataset",
            "nusax",
            "--model",
            dir,
            "--limit",
            "5",
        ],
        "model.safetensors: not a safetensors file",
    );
}

/// bfloat16 on a CPU without bfloat16 units is emulated and slow: said at load,
/// naming what is missing; silent where AMX or AVX512-BF16 is present.
#[test]
fn bfloat16_on_a_cpu_without_bf16_units_is_warned_about() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let model = workspace().join("fixtures/tiny-bert");
    let args = [
        "bitext",
        "--dataset",
        "nusax",
        "--pair",
        "eng-ind",
        "--limit",
        "3",
        "--k",
        "1",
        "--dtype",
        "bfloat16",
        "--model",
        model.to_str().unwrap(),
    ];
    let output = miners(&data, out.path(), &args);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    let warned = message.contains("neither AMX-BF16 nor AVX512-BF16");
    let native = miners_encoders::spec::native_cpu_bf16();
    assert_eq!(
        warned,
        native.is_none(),
        "native bf16: {native:?}; stderr: {message}"
    );
}

/// Generation scoring on a real chat model: the chat template wraps the prompt
/// with its `Options:` line, answers are generated and kept, and exact matches
/// are scored; greedy decoding makes the run repeatable.
#[test]
fn icl_generation_scoring_uses_the_chat_template_and_keeps_the_answers() {
    let Some(data) = data_dir() else { return };
    if !workspace()
        .join("models/smollm2-135m/tokenizer_config.json")
        .is_file()
    {
        assert!(std::env::var_os("CI").is_none(), "CI fetches smollm2-135m");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let args = [
        "icl",
        "--dataset",
        "nusax",
        "--retriever",
        "static-tokenlearn",
        "--generator",
        "smollm2-135m",
        "--scoring",
        "generate",
        "--greedy",
        "--k",
        "0",
        "--lang",
        "jav",
        "--limit",
        "3",
    ];
    let output = miners(&data, out.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let path = out
        .path()
        .join("icl/nusax/smollm2-135m+generate/static-tokenlearn/mono/jav.k0.json");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(record["generator"]["scoring"]["type"], "generate");
    assert_eq!(record["generator"]["prompt"]["options"], true);
    let icl = &record["icl"];
    let prompt = icl["prompts"][0].as_str().unwrap();
    assert!(prompt.starts_with("<|im_start|>"), "{prompt}");
    assert!(
        prompt.contains("Options:['negative', 'neutral', 'positive']\nInput:"),
        "{prompt}"
    );
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
    let generations = icl["generations"].as_array().unwrap();
    assert_eq!(generations.len(), 3);
    for (generation, prediction) in generations
        .iter()
        .zip(icl["predictions"].as_array().unwrap())
    {
        assert_eq!(&generation["text"], prediction);
        assert!(generation["tokens"].as_u64().unwrap() <= 10);
    }
}

/// `--device cpu,cpu` splits the generator's layers over two (CPU) devices:
/// the records equal the single-device run's; a family that is not split
/// says so.
#[test]
fn a_generator_split_over_a_device_list_records_what_one_device_does() {
    let Some(data) = data_dir() else { return };
    let generator = workspace().join("fixtures/tiny-decoders/llama");
    let run = |device: &str, generator: &Path| {
        let out = tempfile::tempdir().unwrap();
        let args = [
            "icl",
            "--dataset",
            "nusax",
            "--retriever",
            "static-tokenlearn",
            "--generator",
            generator.to_str().unwrap(),
            "--k",
            "1",
            "--lang",
            "ind",
            "--limit",
            "6",
            "--device",
            device,
        ];
        (miners(&data, out.path(), &args), out)
    };
    let (one, one_out) = run("cpu", &generator);
    let (two, two_out) = run("cpu,cpu", &generator);
    assert!(
        one.status.success() && two.status.success(),
        "{}",
        stderr(&two)
    );
    let record = |dir: &Path| -> serde_json::Value {
        let path = dir.join("icl/nusax/llama/static-tokenlearn/mono/ind.k1.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (a, b) = (record(one_out.path()), record(two_out.path()));
    assert_eq!(
        (&a["metrics"], &a["icl"]["predictions"]),
        (&b["metrics"], &b["icl"]["predictions"])
    );
}

/// More shards than cells (here 2^32, which once aborted on a 34 GB
/// allocation) is a clear error, from `--shard` and from Slurm's variables.
#[test]
fn more_shards_than_cells_is_refused() {
    let Some(data) = data_dir() else { return };
    let spec = workspace().join("xtask/slurm/spec.toml");
    let cache = tempfile::tempdir().unwrap();
    let base = [
        "sweep",
        "--spec",
        spec.to_str().unwrap(),
        "--cache",
        cache.path().to_str().unwrap(),
    ];
    let out = tempfile::tempdir().unwrap();
    let mut args = base.to_vec();
    args.extend(["--shard", "0/4294967296"]);
    let output = miners(&data, out.path(), &args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("4294967296 shards for"),
        "{}",
        stderr(&output)
    );
    let output = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(base)
        .arg("--data-dir")
        .arg(&data)
        .arg("--catalog")
        .arg(workspace().join("models.toml"))
        .arg("--out")
        .arg(out.path())
        .env("SLURM_ARRAY_TASK_ID", "0")
        .env("SLURM_ARRAY_TASK_COUNT", "4294967296")
        .env_remove("MINERS_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("shards for"),
        "{}",
        stderr(&output)
    );
}

/// ICL refuses more demonstrations than the pool holds, as classification
/// refuses more neighbours (it once ran k = 501 on 500 and dropped 418).
#[test]
fn icl_refuses_a_k_beyond_the_pool() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let generator = workspace().join("fixtures/tiny-decoders/qwen2");
    let args = [
        "icl",
        "--dataset",
        "nusax",
        "--retriever",
        "static-tokenlearn",
        "--generator",
        generator.to_str().unwrap(),
        "--k",
        "501",
        "--lang",
        "ind",
        "--limit",
        "2",
    ];
    let output = miners(&data, out.path(), &args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("larger than the pool of 500"),
        "{}",
        stderr(&output)
    );
}

/// Every key path that records of every task carry (bitext both ways with a
/// hubness correction, DistFuse with z-scores and with learned weights, a
/// substitute dataset, ICL by log-probability over a percentile window and by
/// generation, mining) is listed in docs/results.md, so that the schema
/// there stays whole.
#[test]
fn every_record_key_is_documented() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    assert!(
        workspace().join("models/smollm2-135m").is_dir(),
        "cargo xtask fetch-models fetches smollm2-135m"
    );
    let runs: Vec<Vec<&str>> = vec![
        vec![
            "bitext",
            "--dataset",
            "nusax",
            "--model",
            "static-tokenlearn",
            "--pair",
            "eng-ind",
        ]
        .into_iter()
        .chain([
            "--both-directions",
            "--metric",
            "cosine",
            "--hubness",
            "csls",
        ])
        .collect(),
        vec![
            "classify",
            "--dataset",
            "nusax",
            "--lang",
            "ind",
            "--model",
            "static-tokenlearn",
        ]
        .into_iter()
        .chain(["--model", "static-tokenlearn", "--weights", "1,2"])
        .chain(["--normalization", "z-score"])
        .collect(),
        vec![
            "classify",
            "--dataset",
            "nusax",
            "--lang",
            "ind",
            "--model",
            "static-tokenlearn",
        ]
        .into_iter()
        .chain(["--model", "static-tokenlearn", "--tune-weights", "family"])
        .collect(),
        vec!["classify", "--dataset", "massive_substitute_slurp_en"]
            .into_iter()
            .chain(["--model", "static-tokenlearn"])
            .collect(),
        vec![
            "icl",
            "--dataset",
            "nusax",
            "--lang",
            "ind",
            "--retriever",
            "static-tokenlearn",
        ]
        .into_iter()
        .chain(["--generator", "smollm2-135m", "--scoring", "logprob"])
        .chain(["--percentile", "50", "--k", "1"])
        .collect(),
        vec![
            "icl",
            "--dataset",
            "nusax",
            "--lang",
            "ind",
            "--retriever",
            "static-tokenlearn",
        ]
        .into_iter()
        .chain([
            "--generator",
            "smollm2-135m",
            "--scoring",
            "generate",
            "--k",
            "1",
        ])
        .collect(),
        vec![
            "mine",
            "--dataset",
            "nusax",
            "--pair",
            "eng-ind",
            "--model",
            "static-tokenlearn",
        ],
    ];
    for run in &runs {
        let mut args = run.clone();
        args.extend(["--limit", "12"]);
        let output = miners(&data, out.path(), &args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    let docs = std::fs::read_to_string(workspace().join("docs/results.md")).unwrap();
    let mut keys = std::collections::BTreeSet::new();
    for file in record_files(out.path()) {
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        key_paths(&record, "", &mut keys);
    }
    for wanted in [
        "reversed",
        "substitute_for",
        "model.tuned_by",
        "icl.generations.text",
    ] {
        assert!(keys.contains(wanted), "no record carried `{wanted}`");
    }
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| !docs.contains(&format!("`{key}`")))
        .collect();
    assert!(missing.is_empty(), "docs/results.md lacks {missing:?}");
}

/// Every `.json` file under `dir`, sorted.
fn record_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = support::files(dir);
    files.retain(|path| path.extension().is_some_and(|e| e == "json"));
    files
}

/// The dotted paths of `value`'s leaves (list items share their list's path).
fn key_paths(
    value: &serde_json::Value,
    prefix: &str,
    keys: &mut std::collections::BTreeSet<String>,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let path = match prefix {
                    "" => key.clone(),
                    _ => format!("{prefix}.{key}"),
                };
                key_paths(child, &path, keys);
            }
        }
        serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => {
            for item in items {
                key_paths(item, prefix, keys);
            }
        }
        _ => {
            keys.insert(prefix.to_owned());
        }
    }
}

/// Mining is a sweep task: `[mining]` mines every pair with every encoder
/// under each ranking, writing what `miners mine` writes byte for byte; a
/// rerun skips the finished jobs, and two shards together write the same.
#[test]
fn a_sweep_mines_as_miners_mine_does_and_resumes() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("sweep.toml");
    std::fs::write(
        &spec,
        r#"
encoders = ["static-tokenlearn"]
limit = 40

[mining]
datasets = ["nusax"]
metrics = ["margin", "csls"]
"#,
    )
    .unwrap();
    let swept = dir.path().join("swept");
    let output = sweep(&data, &spec, &swept, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let cli = dir.path().join("cli");
    for ranking in [&[][..], &["--hubness", "csls", "--metric", "cosine"][..]] {
        let mut args = vec!["mine", "--dataset", "nusax", "--model", "static-tokenlearn"];
        args.extend(["--limit", "40"]);
        args.extend(ranking);
        let output = miners(&data, &cli, &args);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let mined = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let root = dir.join("mining");
        let mut files: Vec<(PathBuf, Vec<u8>)> = record_files(&root)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(&root).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let expected = mined(&cli);
    assert_eq!(
        expected.len(),
        11 * 2,
        "NusaX's 11 pairs under two rankings"
    );
    assert_eq!(mined(&swept), expected);

    let again = sweep(&data, &spec, &swept, &[]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("2 jobs already done"),
        "{}",
        stderr(&again)
    );
    let sharded = dir.path().join("sharded");
    for i in 0..2 {
        let output = sweep(&data, &spec, &sharded, &["--shard", &format!("{i}/2")]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert_eq!(mined(&sharded), expected);
}

/// `mine --limit 1` once wrote `"threshold": null`, which `report` then
/// refused for the whole directory; too few sentences are now refused.
#[test]
fn mining_too_few_sentences_is_refused() {
    let Some(data) = data_dir() else { return };
    let args = [
        "mine",
        "--dataset",
        "nusax",
        "--pair",
        "eng-ind",
        "--model",
        "static-tokenlearn",
        "--limit",
        "1",
    ];
    fails_with(
        &data,
        &args,
        "nusax eng-ind: 1 sentence pair; mining needs at least 2",
    );
}

/// Ids that map to one folder (`a/b` and `a_b`; `模型` and `型模`) once let
/// the second run overwrite the first's records with exit 0, and made a
/// sweep redo both jobs forever (issue 24, #3). The second is refused now,
/// naming both, the first's records stay, and a catalog id that cannot name
/// a folder (`..`) is refused.
#[test]
fn ids_that_share_a_folder_name_are_refused_not_overwritten() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = workspace().join("models/static-tokenlearn");
    let catalog = dir.path().join("models.toml");
    let entry = |id: &str| {
        format!(
            "[[model]]\nid = \"{id}\"\nbackend = \"static\"\npath = \"{}\"\n\n",
            model.display()
        )
    };
    std::fs::write(&catalog, ["a/b", "a_b", "模型", "型模"].map(entry).concat()).unwrap();
    let run = |id: &str, out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_miners"))
            .args([
                "bitext",
                "--dataset",
                "nusax",
                "--pair",
                "eng-ind",
                "--limit",
                "20",
            ])
            .args(["--model", id, "--catalog"])
            .arg(&catalog)
            .arg("--data-dir")
            .arg(&data)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    for (first, second) in [("a/b", "a_b"), ("模型", "型模")] {
        let out = dir.path().join(format!("out-{}", first.len()));
        assert!(run(first, &out).status.success());
        let before = records(&out);
        let refused = run(second, &out);
        let message = stderr(&refused);
        assert!(!refused.status.success(), "{message}");
        assert!(
            message.contains(&format!("`{first} / eng-ind`"))
                && message.contains(&format!("`{second} / eng-ind`"))
                && message.contains("give one of them another id"),
            "{message}"
        );
        assert_eq!(records(&out), before, "the first run's records stay");
    }
    let spec = dir.path().join("sweep.toml");
    std::fs::write(
        &spec,
        "encoders = [\"a/b\", \"a_b\"]\nlimit = 20\n[bitext]\ndatasets = [\"nusax\"]\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_miners"))
        .args(["sweep", "--list", "--spec"])
        .arg(&spec)
        .arg("--catalog")
        .arg(&catalog)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(
        !output.status.success() && message.contains("`a/b` and `a_b` map to this one job"),
        "{message}"
    );
    std::fs::write(&catalog, entry("..")).unwrap();
    let refused = run("..", &dir.path().join("dots"));
    assert!(
        stderr(&refused).contains("id `..`, which cannot name a results folder"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn finetune_writes_a_record_per_language_and_refuses_static_models() {
    let Some(data) = data_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let model = workspace().join("fixtures/tiny-bert");
    let args = [
        "finetune",
        "--dataset",
        "nusax",
        "--model",
        model.to_str().unwrap(),
        "--lang",
        "ind",
        "--epochs",
        "2",
        "--limit",
        "16",
    ];
    let output = miners(&data, out.path(), &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let path = out.path().join("finetune/nusax/tiny-bert/mono/ind.k0.json");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(record["task"], "finetune");
    assert_eq!(record["n"], 16);
    let training = &record["finetune"];
    assert_eq!(training["labels"].as_array().unwrap().len(), 3);
    assert_eq!(
        (training["train"].as_u64(), training["valid"].as_u64()),
        (Some(16), Some(16))
    );
    assert!((1..=2).contains(&training["epochs"].as_array().unwrap().len()));
    fails_with(
        &data,
        &[
            "finetune",
            "--dataset",
            "nusax",
            "--model",
            "static-tokenlearn",
            "--limit",
            "8",
        ],
        "fine-tuning needs a transformer checkpoint run on libtorch; this is a static embedding model",
    );
}
