"""Encoding throughput: miners (libtorch) against sentence-transformers on the
same model directory, same machine, same thread count, run side by side.

Usage (from the repository root, after `cargo xtask fetch-models`, with torch
and sentence-transformers installed):
    python3 benches/encode_vs_sentence_transformers.py [--models minilm-l6 e5-small] [--n 1000] [--threads 2]
                                                       [--dtypes float32,bfloat16]

For each model, 1,000 real NusaX and 1,000 real SIB-200 sentences are encoded
by each side in its own subprocess (so peak memory is per side); the script
prints sentences/s, peak RSS, the speed ratio and the max abs difference of
the embeddings. miners runs once per `--dtypes` entry, each against
sentence-transformers in float32 (the reference's precision), with the
smallest cosine between the two sides' vectors beside the max difference.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/data/miners"
PREFIX = {"e5-small": "query: "}

# Loads `model_dir` as sentence-transformers does; with `tokenizer == "raw"`
# it tokenizes with tokenizer.json itself, as miners and transformers 4 do.
# The children below set both names first.
ST_LOAD = textwrap.dedent("""
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerFast
    model = SentenceTransformer(model_dir, device="cpu")
    if tokenizer == "raw":
        field = "processor" if hasattr(model[0], "processor") else "tokenizer"  # sentence-transformers 5 / 3
        old = getattr(model[0], field)
        setattr(model[0], field, PreTrainedTokenizerFast(tokenizer_file=model_dir + "/tokenizer.json",
            model_max_length=old.model_max_length, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
            pad_token="<pad>", cls_token="<s>", sep_token="</s>"))
""")

ST_CHILD = textwrap.dedent("""
    import json, sys, time, numpy as np, torch
    torch.set_num_threads(int(sys.argv[4]))
    model_dir, tokenizer = sys.argv[1], sys.argv[5]
""") + ST_LOAD + textwrap.dedent("""
    texts = open(sys.argv[2], encoding="utf-8").read().split("\\n")[:-1]
    model.encode(texts[:64])  # warm-up
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=32)
    seconds = time.perf_counter() - start
    np.asarray(vectors, dtype="<f4").tofile(sys.argv[3])
    print(json.dumps({"sentences": len(texts), "seconds": seconds, "threads": torch.get_num_threads()}))
""")


def sentences(n):
    texts = []
    for rel, count in [("nusax/classification/eng.train.tsv", n // 4), ("nusax/classification/ind.train.tsv", n // 4),
                       ("sib200/classification/eng_Latn.train.tsv", n // 4), ("sib200/classification/zho_Hans.train.tsv", n // 4)]:
        lines = (DATA / rel).read_text(encoding="utf-8").split("\n")[1 : count + 1]
        texts += [l.split("\t")[0] for l in lines]
    return texts


# Runs one side in a fresh wrapper process, so that its peak RSS is that side's alone.
PEAK_WRAPPER = textwrap.dedent("""
    import resource, subprocess, sys
    out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True)
    print(out.stdout.strip().splitlines()[-1])
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
""")


def build_encode_timing():
    """libtorch provisioned, and miners' side of the benches built."""
    subprocess.run(["cargo", "xtask", "libtorch"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "miners-benches", "--bin", "encode-timing"], cwd=ROOT, check=True)


def run(command, env=None):
    out = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *map(str, command)], check=True, capture_output=True, text=True, env=env)
    result_line, peak_kib = out.stdout.strip().splitlines()[-2:]
    result = json.loads(result_line)
    result["peak_mib"] = int(peak_kib) / 1024
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["minilm-l6", "e5-small"])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtypes", default="float32")
    args = parser.parse_args()
    build_encode_timing()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), LD_LIBRARY_PATH=str(ROOT / ".cache/libtorch/torch/lib"))
    texts = sentences(args.n)
    print(f"{len(texts)} real sentences (NusaX eng/ind, SIB-200 eng/zho), {args.threads} threads, CPU")
    print(f"{'model':<12} {'side':<22} {'sent/s':>8} {'peak MiB':>9} {'ratio':>6} {'max |diff|':>11} {'min cos':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            model_dir = ROOT / "models" / model
            prefix = PREFIX.get(model, "")
            path = pathlib.Path(tmp, "texts.txt")
            path.write_text("".join(prefix + t.strip() + "\n" for t in texts), encoding="utf-8")  # stripped as sentence-transformers strips
            ours_out, theirs_out = pathlib.Path(tmp, "ours.f32"), pathlib.Path(tmp, "theirs.f32")
            tokenizer = "raw" if model == "e5-small" else "auto"
            theirs = run([sys.executable, "-c", ST_CHILD, str(model_dir), str(path), str(theirs_out), str(args.threads), tokenizer], env)
            rate = theirs["sentences"] / theirs["seconds"]
            print(f"{model:<12} {'sentence-transformers':<22} {rate:>8.1f} {theirs['peak_mib']:>9.0f} {1.0:>6.2f} {0.0:>11.2e} {1.0:>9.6f}")
            b = np.fromfile(theirs_out, dtype="<f4").reshape(len(texts), -1)
            for dtype in args.dtypes.split(","):
                ours = run([str(ROOT / "target/release/encode-timing"), str(model_dir), str(path), str(ours_out), "", "", dtype], env)
                a = np.fromfile(ours_out, dtype="<f4").reshape(len(texts), -1)
                diff = float(np.abs(a - b).max())
                cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
                rate = ours["sentences"] / ours["seconds"]
                ratio = rate / (theirs["sentences"] / theirs["seconds"])
                side = f"miners {dtype}"
                print(f"{model:<12} {side:<22} {rate:>8.1f} {ours['peak_mib']:>9.0f} {ratio:>6.2f} {diff:>11.2e} {float(cosine.min()):>9.6f}")

if __name__ == "__main__":
    main()
