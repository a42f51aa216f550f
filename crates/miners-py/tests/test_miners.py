"""The `miners` Python package against its peers, on the local models and
real NusaX texts: sentence-transformers' vectors, the `distfuse` package's
scores, a NumPy brute-force search, and Python exceptions for bad arguments.

Run by `cargo xtask interop` after it builds and installs the wheel
(pytest crates/miners-py/tests).
"""
import csv
import os
import pathlib

import numpy as np
import pytest

import miners

ROOT = pathlib.Path(__file__).resolve().parents[3]
DATA = pathlib.Path(os.environ.get("MINERS_DATA_DIR", ROOT.parent / "shared/data/miners"))
MODELS = {name: str(ROOT / "models" / name) for name in ["minilm-l6", "e5-small"]}


def nusax(n=200):
    with open(DATA / "nusax/bitext/eng-ind.train.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1 : n + 1]
    return [r[0] for r in rows], [r[1] for r in rows]


@pytest.fixture(scope="module")
def models():
    return miners.Models(ROOT / "models.toml")


@pytest.mark.parametrize("name", MODELS)
def test_vectors_equal_sentence_transformers(models, name):
    from sentence_transformers import SentenceTransformer

    english, _ = nusax()
    ours = models.encoder(MODELS[name]).encode(english)
    theirs = SentenceTransformer(MODELS[name], device="cpu").encode(english)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-6


@pytest.mark.parametrize("measure", ["euclidean", "cosine", "manhattan"])
def test_score_pairs_equal_the_distfuse_package(models, measure):
    from distfuse import DistFuse

    english, indonesian = nusax(50)
    encoders = [models.encoder(path) for path in MODELS.values()]
    ours = miners.DistFuse(encoders, [0.3, 0.7], dist_measure=measure, first_weight="ignored")
    package = DistFuse([[path, "hf"] for path in MODELS.values()], [0.3, 0.7],
                       dist_measure=measure, device="cpu")
    pairs = ours.score_pairs(english, indonesian)
    assert pairs.shape == (50, 50)
    assert np.abs(pairs - np.array(package.score_pairs(english, indonesian))).max() <= 1e-5
    # One reference per prediction: the package reads a longer list as a
    # sentence-transformers text pair and fails.
    references = ours.score_references(english, [[t] for t in indonesian])
    want = package.score_references(english, indonesian)
    assert np.abs(references - np.array(want)).max() <= 1e-5


def test_search_equals_a_brute_force_ranking(models):
    english, indonesian = nusax(300)
    encoder = models.encoder(MODELS["minilm-l6"])
    queries, pool = encoder.encode(english), encoder.encode(indonesian, role="passage")
    indices, scores = miners.search(queries, pool, k=5, metric="cosine")
    similarity = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        pool / np.linalg.norm(pool, axis=1, keepdims=True)).T
    want = np.argsort(-similarity, axis=1, kind="stable")[:, :5]
    assert (indices == want).all()
    assert np.abs(scores - np.take_along_axis(similarity, want, axis=1)).max() <= 1e-5
    distances = miners.search(queries, pool, k=1)[1][:, 0]
    assert np.abs(distances - np.linalg.norm(queries - pool[indices[:, 0]], axis=1)).max() <= 1e-4


def test_bad_arguments_raise_python_exceptions_with_the_rust_message(models, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.toml: No such file"):
        miners.Models(tmp_path / "missing.toml")
    with pytest.raises(FileNotFoundError, match="neither a model directory nor a catalog id"):
        models.encoder(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="device"):
        miners.Models(device="tpu")
    encoder = models.encoder("static-tokenlearn")
    vectors = encoder.encode(["a", "b"])
    with pytest.raises(ValueError, match="out of range"):
        miners.search(vectors, vectors, k=3)
    with pytest.raises(ValueError, match="unknown metric"):
        miners.search(vectors, vectors, k=1, metric="hamming")
    with pytest.raises(ValueError, match="role"):
        encoder.encode(["a"], role="document")
    with pytest.raises(ValueError, match="dimension"):
        miners.search(vectors, vectors[:, :10].copy(), k=1)
    with pytest.raises(ValueError, match="members"):
        miners.DistFuse([encoder], weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="dist_measure"):
        miners.DistFuse([encoder], dist_measure="chebyshev")


TIME_FIELDS = ("seconds", "cpu_seconds", "peak_rss_mib")


def untimed(record):
    return {k: v for k, v in record.items() if k not in TIME_FIELDS}


def test_bitext_records_equal_the_clis(models, tmp_path):
    import json
    import subprocess

    binary = os.environ.get("MINERS_BINARY", str(ROOT / "target/release/miners"))
    subprocess.run([binary, "bitext", "--dataset", "nusax", "--model", "static-tokenlearn",
                    "--limit", "40", "--catalog", str(ROOT / "models.toml"),
                    "--data-dir", str(DATA), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    cli = {}
    for path in (tmp_path / "bitext").rglob("*.json"):
        record = json.loads(path.read_text())
        cli[(record["source_lang"], record["target_lang"], record["k"])] = untimed(record)
    ours = miners.bitext("nusax", "static-tokenlearn", models=models, limit=40, data_dir=DATA)
    assert len(ours) == len(cli) == 33
    for record in ours:
        assert untimed(record) == cli[(record["source_lang"], record["target_lang"], record["k"])]


def test_classification_and_sweeps_run_from_python(models, tmp_path):
    records = miners.classify("nusax", "static-tokenlearn", models=models, k=[1, 5], limit=30,
                              data_dir=DATA)
    assert {r["k"] for r in records} == {1, 5} and len(records) == 2 * 12
    assert all(r["task"] == "classification" and 0 <= r["metrics"]["f1"] <= 1 for r in records)
    spec = tmp_path / "sweep.toml"
    spec.write_text('encoders = ["static-tokenlearn"]\nlimit = 20\n'
                    '[bitext]\ndatasets = ["nusax"]\nks = [1]\n')
    out = tmp_path / "results"
    assert miners.sweep(spec, out, models=models, data_dir=DATA) == (1, 0, [])
    assert len(list((out / "bitext").rglob("*.json"))) == 11
    assert miners.sweep(spec, out, models=models, data_dir=DATA) == (0, 1, [])
    with pytest.raises(ValueError, match="not in the data directory|unknown dataset|no dataset"):
        miners.bitext("no_such_dataset", "static-tokenlearn", models=models, data_dir=DATA)


def interrupt_after(seconds):
    """A Ctrl-C in `seconds`, as the terminal sends it to the main thread."""
    import _thread
    import threading

    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_stops_an_encoding_between_batches(models):
    import time

    minilm = models.encoder("minilm-l6")
    texts = [f"sentence {i}: a cat sat on the mat near the door" for i in range(50_000)]
    started = time.monotonic()
    interrupt_after(1.0)
    with pytest.raises(KeyboardInterrupt):
        minilm.encode(texts)
    # The whole list takes minutes; a chunk of 1,024 texts seconds.
    assert time.monotonic() - started < 60
    assert minilm.encode(["still works"]).shape == (1, 384)


def test_ctrl_c_stops_a_sweep_which_resumes_without_redoing_finished_cells(models, tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text('encoders = ["minilm-l6"]\nlimit = 150\n[bitext]\ndatasets = ["nusax"]\nks = [1]\n')
    out = tmp_path / "results"
    interrupt_after(2.0)
    with pytest.raises(KeyboardInterrupt):
        miners.sweep(spec, out, models=models, data_dir=DATA)
    finished = {p: p.stat().st_mtime_ns for p in (out / "bitext").rglob("*.json")} \
        if (out / "bitext").exists() else {}
    assert len(finished) < 11
    assert miners.sweep(spec, out, models=models, data_dir=DATA) == (1, 0, [])
    records = list((out / "bitext").rglob("*.json"))
    assert len(records) == 11
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items())
