"""Where encoding time goes, stage by stage: miners (libtorch) and
sentence-transformers on the same model directory, texts, machine and thread
count, side by side.

Usage (from the repository root, after `cargo xtask fetch-models`, in a venv
with torch and sentence-transformers, e.g. `.cache/interop-venv`):
    python3 benches/encode_stages.py [--models minilm-l6 e5-small] [--n 1000] [--threads 2] [--dtype float32]

Stages: tokenize (texts into ids), batch (sorting, padding, tensors), embed
(embeddings and their LayerNorm), attention (projections, attention, output
projection and norm, all layers), ffn (the feed-forward blocks, all layers),
pool (pooling, Dense, normalisation), and other (the rest of the wall time).
miners times its stages with `miners_torch::profile` (two clock reads per
stage); sentence-transformers' are timed by forward hooks on the same modules
and by wrapping its tokenizer call. Each side runs in its own process after a
warm-up, as `encode_vs_sentence_transformers.py` runs them; the stage times
of one run are printed with the run's wall time (timing adds a few
microseconds per module on each side).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from encode_vs_sentence_transformers import PREFIX, ROOT, ST_LOAD, build_encode_timing, sentences  # noqa: E402

STAGES = ["tokenize", "batch", "embed", "attention", "ffn", "pool"]

ST_CHILD = textwrap.dedent("""
    import collections, json, sys, time, torch
    torch.set_num_threads(int(sys.argv[3]))
    model_dir, tokenizer = sys.argv[1], sys.argv[4]
""") + ST_LOAD + textwrap.dedent("""
    texts = open(sys.argv[2], encoding="utf-8").read().split("\\n")[:-1]
    seconds = collections.Counter()
    timing = [False]
    def timed(stage, module):
        starts = []
        module.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter()))
        def done(*_):
            elapsed = time.perf_counter() - starts.pop()
            if timing[0]:
                seconds[stage] += elapsed
        module.register_forward_hook(done)
    bert = model[0].auto_model
    timed("embed", bert.embeddings)
    for layer in bert.encoder.layer:
        timed("attention", layer.attention)
        timed("ffn", layer.intermediate)
        timed("ffn", layer.output)
    for module in list(model)[1:]:
        timed("pool", module)
    # encode() tokenizes through `preprocess` (sentence-transformers 6) or `tokenize` (5 and before).
    field = "preprocess" if hasattr(model, "preprocess") else "tokenize"
    tokenize = getattr(model, field)
    def timed_tokenize(*args, **kwargs):
        start = time.perf_counter()
        features = tokenize(*args, **kwargs)
        if timing[0]:
            seconds["tokenize"] += time.perf_counter() - start
        return features
    setattr(model, field, timed_tokenize)
    model.encode(texts[:64])  # warm-up
    timing[0] = True
    start = time.perf_counter()
    model.encode(texts, batch_size=32)
    total = time.perf_counter() - start
    print(json.dumps({"seconds": total, "stages": dict(seconds)}))
""")


def tatoeba_sentences(pairs):
    """Both sides of the first `pairs` Tatoeba test pairs, as pipeline_vs_reference.py reads them."""
    folder = ROOT.parent / "shared/data/miners/tatoeba/bitext"
    texts = []
    for path in sorted(folder.glob("*.test.tsv"))[:pairs]:
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n")[1:] if line]
        texts += [r[0] for r in rows] + [r[1] for r in rows]
    return texts


def table(model, ours, theirs):
    """Prints one model's stages, both sides and their ratio."""
    print(f"\n{model}: seconds per stage (ratio = sentence-transformers / miners)")
    print(f"{'stage':<10} {'miners':>8} {'sent-tr':>8} {'ratio':>6}")
    for name, (a, b) in rows(ours, theirs):
        ratio = f"{b / a:>6.2f}" if a > 0 else f"{'-':>6}"
        print(f"{name:<10} {a:>8.3f} {b:>8.3f} {ratio}")


def rows(ours, theirs):
    """(stage, (miners seconds, sentence-transformers seconds)), with other and total."""
    out = [(s, (ours["stages"].get(s, 0.0), theirs["stages"].get(s, 0.0))) for s in STAGES]
    other = [side["seconds"] - sum(side["stages"].get(s, 0.0) for s in STAGES) for side in (ours, theirs)]
    return out + [("other", tuple(other)), ("total", (ours["seconds"], theirs["seconds"]))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["minilm-l6", "e5-small"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--texts", choices=["mixed", "tatoeba"], default="mixed",
                        help="mixed: NusaX and SIB-200 sentences; tatoeba: both sides of the first 8 Tatoeba pairs (short sentences)")
    args = parser.parse_args()
    build_encode_timing()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), ENCODE_STAGES="1",
               LD_LIBRARY_PATH=str(ROOT / ".cache/libtorch/torch/lib"))
    texts = sentences(args.n) if args.texts == "mixed" else tatoeba_sentences(8)
    source = "NusaX eng/ind, SIB-200 eng/zho" if args.texts == "mixed" else "Tatoeba, 8 pairs, both sides"
    print(f"{len(texts)} real sentences ({source}), {args.threads} threads, CPU, miners in {args.dtype}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            model_dir = ROOT / "models" / model
            path = pathlib.Path(tmp, "texts.txt")
            prefix = PREFIX.get(model, "")
            path.write_text("".join(prefix + t.strip() + "\n" for t in texts), encoding="utf-8")
            tokenizer = "raw" if model == "e5-small" else "auto"
            child = [sys.executable, "-c", ST_CHILD, str(model_dir), str(path), str(args.threads), tokenizer]
            theirs = json.loads(subprocess.run(child, env=env, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            ours_cmd = [str(ROOT / "target/release/encode-timing"), str(model_dir), str(path), str(pathlib.Path(tmp, "o.f32")), "", "", args.dtype]
            ours = json.loads(subprocess.run(ours_cmd, env=env, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            table(model, ours, theirs)


if __name__ == "__main__":
    main()
