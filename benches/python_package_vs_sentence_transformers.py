"""The `miners` Python package against sentence-transformers + NumPy on the
workload its users write: encode 2,000 real sentences (1,000 NusaX English
queries and 1,000 NusaX Indonesian pool texts, its three splits) and find
each query's 10 nearest pool texts by cosine.

Both sides run in this process, one after the other, on the same model
directory with the same thread count; each side is timed end to end (encode
both sets, then search), best of `--repeat` runs, after one warm-up. Prints
seconds per side, the speed ratio, the largest vector difference and whether
the two top-10 lists agree.

Usage (from the repository root, in a venv with torch, sentence-transformers
and the miners wheel installed, e.g. `.cache/interop-venv` after `cargo
xtask interop`):
    python benches/python_package_vs_sentence_transformers.py [--models e5-small minilm-l6] [--threads 2]
"""
import argparse
import csv
import os
import pathlib
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

import miners

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("MINERS_DATA_DIR", ROOT.parent / "shared/data/miners"))
PREFIX = {"e5-small": "query: "}
csv.field_size_limit(1 << 30)


def sentences():
    """1,000 English queries and 1,000 Indonesian pool texts from NusaX."""
    def column(split, side):
        path = DATA / f"nusax/bitext/eng-ind.{split}.tsv"
        with open(path, encoding="utf-8", newline="") as f:
            return [row[side] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    splits = ("train", "validation", "test")
    queries = [t for split in splits for t in column(split, "src")][:1000]
    pool = [t for split in splits for t in column(split, "tgt")][:1000]
    return queries, pool


def with_sentence_transformers(model, queries, pool, prefix):
    q = model.encode([prefix + t for t in queries], batch_size=32, convert_to_numpy=True)
    p = model.encode([prefix + t for t in pool], batch_size=32, convert_to_numpy=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    scores = qn @ pn.T
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
    return q, np.take_along_axis(top, order, axis=1)


def with_miners(encoder, queries, pool):
    q = encoder.encode(queries, role="query")
    p = encoder.encode(pool, role="passage")
    indices, _ = miners.search(q, p, k=10, metric="cosine")
    return q, indices


def best_of(repeat, run):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["e5-small", "minilm-l6"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    queries, pool = sentences()
    models = miners.Models(ROOT / "models.toml")
    print(f"{len(queries)} queries, {len(pool)} pool texts, k = 10, cosine, {args.threads} threads")
    print("| model | sentence-transformers + NumPy (s) | miners (s) | ratio | max vector difference | top-10 equal |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        st = SentenceTransformer(str(ROOT / "models" / name), device="cpu")
        encoder = models.encoder(name)
        prefix = PREFIX.get(name, "")
        with_sentence_transformers(st, queries[:64], pool[:64], prefix)  # warm-up
        with_miners(encoder, queries[:64], pool[:64])
        theirs_s, (theirs_q, theirs_top) = best_of(
            args.repeat, lambda: with_sentence_transformers(st, queries, pool, prefix))
        ours_s, (ours_q, ours_top) = best_of(args.repeat, lambda: with_miners(encoder, queries, pool))
        diff = float(np.abs(theirs_q - ours_q).max())
        same = float(np.mean(theirs_top == ours_top))
        print(f"| {name} | {theirs_s:.2f} | {ours_s:.2f} | {theirs_s / ours_s:.2f}x | {diff:.1e} | {same:.2%} |")


if __name__ == "__main__":
    main()
