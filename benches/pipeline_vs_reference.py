"""End to end against the reference pipeline, same machine, same model directory.

    python benches/pipeline_vs_reference.py MODEL_DIR [--data-dir DIR] [--tatoeba-pairs N]
                                            [--dtypes float32,bfloat16]

The reference side reproduces the published evaluation logic of MINERS'
`bitext.py` and `classification.py` on the CPU: sentence-transformers encodes
in batches of 128 (embeddings grown by `np.concatenate`), then every query
loops over the pool in batches of 128 with `torch.cdist`, sorts Python lists
and votes with `Counter` (classification) or checks whether its own index is
in the top k (bitext); scikit-learn scores k = 1, 5, 10.

Two evaluations, each as the paper runs it:
- NusaX: bitext (English against the 11 others, train split), monolingual
  classification and cross-lingual classification (English pool), i.e. three
  reference scripts, each encoding what it needs;
- Tatoeba: bitext on the first N pairs.
The miners side runs the same as `target/release/miners` commands sharing one
fresh embedding cache (each sentence is encoded once per model). Both sides
are timed end to end (model loading, reading, encoding, search, scoring).
The miners side runs once per `--dtypes` entry (float32 is the reference's
precision; bfloat16 trades the last digits of the scores for speed on CPUs
with AMX / AVX512-BF16).
Prints wall times, ratios and the largest metric difference over all cells.
Needs torch, sentence-transformers, scikit-learn, numpy.
"""

import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KS = [1, 5, 10]
BATCH = 128


def read_tsv(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[1:]


def encode(model, texts):
    """The reference's batching: 128 at a time, grown row by row."""
    out = []
    for i in range(0, len(texts), BATCH):
        batch = model.encode(texts[i:i + BATCH], normalize_embeddings=False)
        if len(out) == 0:
            out = batch
        else:
            for emb in batch:
                out = np.concatenate((out, np.expand_dims(emb, axis=0)), axis=0)
    return out


def ranked(query, pool, k):
    """The reference's per-query loop: cdist against pool batches, sort, top k."""
    dists = []
    for i in range(0, len(pool), BATCH):
        block = torch.FloatTensor(pool[i:i + BATCH]).unsqueeze(1)
        q = torch.FloatTensor(query).unsqueeze(0).expand(len(block), -1).unsqueeze(1)
        d = torch.cdist(q, block, p=2, compute_mode="use_mm_for_euclid_dist_if_necessary").squeeze().tolist()
        if isinstance(d, float):
            d = [d]
        dists.extend([dist, i + j] for j, dist in enumerate(d))
    return [index for _, index in sorted(dists, key=lambda x: x[0])[:k]]


def reference_classification(model, data, cross):
    """classification.py: per language, encode pool and test, vote for each k."""
    results = {}
    folder = os.path.join(data, "nusax", "classification")
    langs = sorted(os.path.basename(p).split(".")[0] for p in glob.glob(f"{folder}/*.test.tsv"))
    for lang in langs:
        if cross and lang == "eng":
            continue
        train = read_tsv(f"{folder}/{'eng' if cross else lang}.train.tsv")
        test = read_tsv(f"{folder}/{lang}.test.tsv")
        train_emb = encode(model, [t for t, _ in train])
        test_emb = encode(model, [t for t, _ in test])
        gold = [label for _, label in test]
        for k in KS:
            hyps = []
            for q in test_emb:
                labels = [train[i][1] for i in ranked(q, train_emb, k)]
                hyps.append(Counter(labels).most_common()[0][0])
            cell = f"eng-{lang}" if cross else lang
            results[("classification", cell, k)] = {
                "accuracy": accuracy_score(gold, hyps),
                "f1": f1_score(gold, hyps, average="macro"),
                "precision": precision_score(gold, hyps, average="macro"),
                "recall": recall_score(gold, hyps, average="macro"),
            }
    return results


def reference_bitext(model, data, dataset, pairs, split):
    """bitext.py: per pair, encode both sides, then check the top k of each source."""
    results = {}
    for pair in pairs:
        rows = read_tsv(os.path.join(data, dataset, "bitext", f"{pair}.{split}.tsv"))
        source = encode(model, [s for s, _ in rows])
        target = encode(model, [t for _, t in rows])
        for k in KS:
            hyps = []
            for i, q in enumerate(source):
                top = ranked(q, target, k)
                hyps.append(i if i in top else top[0])
            golds = list(range(len(source)))
            results[("bitext", pair, k)] = {
                "accuracy": accuracy_score(golds, hyps),
                "f1": f1_score(golds, hyps, zero_division=0.0, average="weighted"),
                "precision": precision_score(golds, hyps, zero_division=0.0, average="weighted"),
                "recall": recall_score(golds, hyps, zero_division=0.0, average="weighted"),
            }
    return results


def miners(commands, out, cache):
    """Runs `miners` commands into `out` with one shared cache; (seconds, records)."""
    binary = os.path.join(ROOT, "target", "release", "miners")
    start = time.perf_counter()
    for args in commands:
        subprocess.run([binary, *args, "--out", out, "--cache", cache], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    results = {}
    for path in glob.glob(f"{out}/**/*.json", recursive=True):
        r = json.load(open(path))
        cell = r.get("lang") or f"{r['source_lang']}-{r['target_lang']}"
        results[(r["task"], cell, r["k"])] = r["metrics"]
    return seconds, results


def compare(name, reference, ours):
    assert set(reference) == set(ours), (name, sorted(set(reference) ^ set(ours))[:5])
    return max(abs(reference[c][m] - ours[c][m]) for c in reference for m in ("accuracy", "precision", "recall", "f1"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "data", "miners"))
    parser.add_argument("--tatoeba-pairs", type=int, default=8)
    parser.add_argument("--dtypes", default="float32", help="miners precisions, comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    pairs = sorted(os.path.basename(p).split(".")[0]
                   for p in glob.glob(f"{args.data_dir}/tatoeba/bitext/*.test.tsv"))[:args.tatoeba_pairs]
    common = ["--model", args.model, "--data-dir", args.data_dir, "--k", "1,5,10"]
    nusax_pairs = sorted(os.path.basename(p).split(".")[0]
                         for p in glob.glob(f"{args.data_dir}/nusax/bitext/eng-*.train.tsv"))
    evaluations = {
        "nusax (bitext + classification mono + cross)": (
            lambda model: {
                **reference_bitext(model, args.data_dir, "nusax", nusax_pairs, "train"),
                **reference_classification(model, args.data_dir, cross=False),
                **{("cross",) + key[1:]: v
                   for key, v in reference_classification(model, args.data_dir, cross=True).items()},
            },
            [["bitext", "--dataset", "nusax", "--src-lang", "eng", *common],
             ["classify", "--dataset", "nusax", *common],
             ["classify", "--dataset", "nusax", "--cross", "--src-lang", "eng", *common]],
        ),
        f"tatoeba bitext ({len(pairs)} pairs)": (
            lambda model: reference_bitext(model, args.data_dir, "tatoeba", pairs, "test"),
            [["bitext", "--dataset", "tatoeba", *[a for p in pairs for a in ("--pair", p)], *common]],
        ),
    }
    report = {}
    for name, (reference_run, commands) in evaluations.items():
        start = time.perf_counter()
        reference = reference_run(SentenceTransformer(args.model, device="cpu"))
        reference_s = time.perf_counter() - start
        for dtype in args.dtypes.split(","):
            with tempfile.TemporaryDirectory() as out:
                with tempfile.TemporaryDirectory() as cache:
                    ours_s, ours = miners([c + ["--dtype", dtype] for c in commands], out, cache)
            ours = {(("cross",) + key[1:]) if key[0] == "classification" and "-" in key[1] else key: v
                    for key, v in ours.items()}
            row = f"{name} [{dtype}]"
            report[row] = {
                "reference_seconds": round(reference_s, 2),
                "miners_seconds": round(ours_s, 2),
                "speedup": round(reference_s / ours_s, 2),
                "cells": len(reference),
                "max_metric_difference": compare(name, reference, ours),
            }
            print(row, json.dumps(report[row]), flush=True)
    print(json.dumps({"model": args.model, "threads": torch.get_num_threads(),
                      "tatoeba_pairs": pairs, "results": report}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
