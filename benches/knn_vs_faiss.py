"""Exact k-NN: miners against FAISS IndexFlatL2, on the same matrices, in one run.

Usage (from the repository root, with numpy and faiss-cpu installed):
    python3 benches/knn_vs_faiss.py [--n 10000] [--k 10] [--repeats 3]

Builds the miners timing binary, writes random float32 matrices, times FAISS
flat L2 search (best of N) and miners' search and bare faer GEMM (best of N),
checks that both return the same top-1 neighbours, and prints the ratios.
"""
import argparse
import json
import pathlib
import subprocess
import tempfile
import time

import faiss
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "miners-benches", "--bin", "knn-timing"], cwd=ROOT, check=True)
    binary = ROOT / "target/release/knn-timing"
    print(f"faiss {faiss.__version__}, omp threads {faiss.omp_get_max_threads()}, n = {args.n}, k = {args.k}")
    print(f"{'dim':>5} {'faiss s':>9} {'miners s':>9} {'gemm s':>9} {'faiss/miners':>13} {'gemm/miners':>12} {'top1 agree':>11}")
    rng = np.random.default_rng(0)
    for dim in (384, 768):
        queries = rng.uniform(-1, 1, (args.n, dim)).astype(np.float32)
        candidates = rng.uniform(-1, 1, (args.n, dim)).astype(np.float32)
        index = faiss.IndexFlatL2(dim)
        index.add(candidates)
        faiss_s, (_, faiss_top) = best_of(args.repeats, lambda: index.search(queries, args.k))
        with tempfile.TemporaryDirectory() as tmp:
            q_path, c_path = pathlib.Path(tmp, "q.f32"), pathlib.Path(tmp, "c.f32")
            queries.tofile(q_path)
            candidates.tofile(c_path)
            out = subprocess.run([binary, q_path, c_path, str(dim), str(args.k), str(args.repeats)], check=True, capture_output=True, text=True)
        ours = json.loads(out.stdout)
        faiss_checksum = int(sum(i * 31 + int(j) for i, j in enumerate(faiss_top[:, 0])))
        agree = "yes" if faiss_checksum == ours["top1_checksum"] else "no"
        print(f"{dim:>5} {faiss_s:>9.3f} {ours['search_s']:>9.3f} {ours['gemm_s']:>9.3f} "
              f"{faiss_s / ours['search_s']:>13.2f} {ours['gemm_s'] / ours['search_s']:>12.2f} {agree:>11}")


if __name__ == "__main__":
    main()
