"""Margin mining: miners against a LASER-style pipeline on FAISS, in one run.

Usage (from the repository root, with numpy and faiss-cpu installed):
    python3 benches/margin_vs_laser.py [--sizes 10000 50000] [--k 4] [--repeats 1]

LASER's `mine_bitexts` (facebookresearch/LASER, source/mine_bitexts.py) on
FAISS: L2-normalise, two `IndexFlatIP` searches of k neighbours (x → y and
y → x), their mean similarities, and the ratio margin of each source's k
candidates; each source keeps its best candidate. miners: the ratio margin
(k = 4, over cosine) with both neighbourhoods from one pass over the score
blocks, then the corrected ranking over *every* target (not only the k
candidates), best of N; also a plain cosine search and the same ranking
computed as three searches, for the ratios. Random float32 sets of each size,
plus real NusaX embeddings (fixtures/hubness). Prints seconds, ratios, and how
often the two pipelines pick the same target. The FLORES stand-in
(`flores_bucc_substitute`, 1,004 pairs each of de/fr/ru/zh-en) is embedded by
e5-small (`query: `, through the `encode-timing` binary) and also scored
against its gold pairs (`--flores` names the pairs; `--no-flores` skips them).
"""
import argparse
import json
import os
import pathlib
import subprocess
import tempfile
import time

import faiss
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent


def laser_mine(x, y, k):
    """Each source's best target by LASER's ratio margin over its k candidates."""
    x, y = x.copy(), y.copy()
    faiss.normalize_L2(x)
    faiss.normalize_L2(y)
    index_y, index_x = faiss.IndexFlatIP(y.shape[1]), faiss.IndexFlatIP(x.shape[1])
    index_y.add(y)
    index_x.add(x)
    sim_xy, ind_xy = index_y.search(x, k)
    sim_yx, _ = index_x.search(y, k)
    x2y_mean, y2x_mean = sim_xy.mean(axis=1), sim_yx.mean(axis=1)
    margins = sim_xy / ((x2y_mean[:, None] + y2x_mean[ind_xy]) / 2)
    return ind_xy[np.arange(len(x)), margins.argmax(axis=1)]


def run(name, x, y, k, repeats, binary, gold=None):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        laser = laser_mine(x, y, k)
        times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        q_path, c_path = pathlib.Path(tmp, "q.f32"), pathlib.Path(tmp, "c.f32")
        x.tofile(q_path)
        y.tofile(c_path)
        out = subprocess.run([binary, q_path, c_path, str(x.shape[1]), str(k), str(repeats)],
                             check=True, capture_output=True, text=True)
    ours = json.loads(out.stdout)
    agree = float(np.mean(np.asarray(ours["top1"]) == laser))
    accuracy = ""
    if gold is not None:
        accuracy = f"  gold top-1: laser {np.mean(laser == gold):.3f}, miners {np.mean(np.asarray(ours['top1']) == gold):.3f}"
    faiss_s = min(times)
    print(f"{name:>22} {faiss_s:>9.3f} {ours['margin_s']:>9.3f} {ours['search_s']:>9.3f} "
          f"{ours['three_searches_s']:>9.3f} {faiss_s / ours['margin_s']:>12.2f} "
          f"{ours['margin_s'] / ours['search_s']:>14.2f} {ours['three_searches_s'] / ours['search_s']:>15.2f} {agree:>7.3f}"
          f"{accuracy}")


def flores_embeddings(data_dir, pair):
    """Both sides of a FLORES stand-in pair, embedded by e5-small (`query: `)."""
    rows = (data_dir / "flores_bucc_substitute/bitext" / f"{pair}.test.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in rows.split("\n")[1:] if line]
    sides = []
    env = dict(os.environ, LD_LIBRARY_PATH=str(ROOT / ".cache/libtorch/torch/lib"))
    with tempfile.TemporaryDirectory() as tmp:
        for column in (0, 1):
            texts, out = pathlib.Path(tmp, "texts.txt"), pathlib.Path(tmp, "out.f32")
            texts.write_text("".join("query: " + row[column].strip() + "\n" for row in rows), encoding="utf-8")
            subprocess.run([ROOT / "target/release/encode-timing", ROOT / "models/e5-small", texts, out],
                           check=True, capture_output=True, env=env)
            sides.append(np.fromfile(out, dtype="<f4").reshape(len(rows), -1))
    return sides


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 50_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--flores", nargs="*", default=["de-en", "fr-en", "ru-en", "zh-en"])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared/data/miners"))
    args = parser.parse_args()
    for binary in ("margin-timing", "encode-timing"):
        subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "miners-benches", "--bin", binary],
                       cwd=ROOT, check=True)
    binary = ROOT / "target/release/margin-timing"
    print(f"faiss {faiss.__version__}, omp threads {faiss.omp_get_max_threads()}, k = {args.k}, "
          f"best of {args.repeats}")
    print(f"{'set':>22} {'laser s':>9} {'miners s':>9} {'search s':>9} {'3-search s':>9} "
          f"{'laser/miners':>12} {'margin/search':>14} {'3-search/search':>15} {'agree':>7}")
    fixture = json.loads((ROOT / "fixtures/hubness/nusax_eng_ind.json").read_text())
    dim = fixture["dim"]
    vectors = np.fromfile(ROOT / "fixtures/hubness/nusax_eng_ind.f32", dtype=np.float32).reshape(-1, dim)
    half = len(vectors) // 2
    run(f"nusax eng-ind ({half})", vectors[:half], vectors[half:], args.k, args.repeats, binary)
    for pair in args.flores:
        x, y = flores_embeddings(pathlib.Path(args.data_dir), pair)
        run(f"flores {pair} ({len(x)})", x, y, args.k, args.repeats, binary, gold=np.arange(len(x)))
    rng = np.random.default_rng(0)
    for n in args.sizes:
        x = rng.standard_normal((n, args.dim), dtype=np.float32)
        y = x + 0.5 * rng.standard_normal((n, args.dim), dtype=np.float32)
        run(f"random {n}x{n} d{args.dim}", x, y, args.k, args.repeats, binary)


if __name__ == "__main__":
    main()
