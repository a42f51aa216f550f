"""The GPU check of `cargo xtask gpu-check`: miners on a CUDA device against
sentence-transformers on the same device, and its generators against their
float32 CPU scores. Run by xtask, which builds the binaries against the
libtorch of the Python given here; run it directly only with those built.

Usage: python3 benches/gpu_check.py --bin-dir DIR [--device cuda:0] [--n 1000]

1. Encoders (MiniLM-L6, e5-small) in float32 and float16 (bfloat16 on the
   CPU): sentences/s of miners and of sentence-transformers on the same
   device and texts (real NusaX and SIB-200 sentences), the speed ratio, and
   the max |difference| of the embeddings.
2. A generator (SmolLM2-135M): the label log-probabilities of 20 real NusaX
   ICL prompts (made by `miners icl` on the CPU) in float32, bfloat16 and
   int8 on the device, against float32 on the CPU (`dtype-drift`).
3. Where two or more GPUs exist, the same generator split over them.

The CPU dry run (`--device cpu`) exercises every step on a machine with no
GPU, so that the check is known to work before a GPU is spent on it.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("MINERS_DATA_DIR", ROOT.parent / "shared/data/miners"))
ENCODERS = {"minilm-l6": "", "e5-small": "query: "}
GENERATOR = "smollm2-135m"
LABELS = "negative,neutral,positive"

ST_CHILD = textwrap.dedent("""
    import json, sys, time, numpy as np, torch
    from sentence_transformers import SentenceTransformer
    model_dir, texts_path, out, device, dtype = sys.argv[1:6]
    model = SentenceTransformer(model_dir, device=device)
    if model_dir.endswith("e5-small"):  # tokenize with tokenizer.json itself, as miners and transformers 4 do
        from transformers import PreTrainedTokenizerFast
        field = "processor" if hasattr(model[0], "processor") else "tokenizer"
        old = getattr(model[0], field)
        setattr(model[0], field, PreTrainedTokenizerFast(tokenizer_file=model_dir + "/tokenizer.json",
            model_max_length=old.model_max_length, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
            pad_token="<pad>", cls_token="<s>", sep_token="</s>"))
    if dtype != "float32":
        model = model.to(getattr(torch, dtype))
    texts = open(texts_path, encoding="utf-8").read().split("\\n")[:-1]
    model.encode(texts[:64])  # warm-up
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    synchronize()
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, convert_to_numpy=False, convert_to_tensor=True)
    synchronize()
    seconds = time.perf_counter() - start
    vectors.float().cpu().numpy().astype("<f4").tofile(out)
    print(json.dumps({"sentences": len(texts), "seconds": seconds}))
""")


def sentences(n):
    """`n` real sentences: NusaX English and Indonesian, SIB-200 English and Chinese."""
    texts = []
    for rel, count in [("nusax/classification/eng.train.tsv", n // 4), ("nusax/classification/ind.train.tsv", n // 4),
                       ("sib200/classification/eng_Latn.train.tsv", n // 4), ("sib200/classification/zho_Hans.train.tsv", n // 4)]:
        lines = (DATA / rel).read_text(encoding="utf-8").split("\n")[1 : count + 1]
        texts += [line.split("\t")[0] for line in lines]
    return texts


def last_json(command, env):
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_encoders(args, env, tmp):
    half = "float16" if args.device.startswith("cuda") else "bfloat16"
    texts = sentences(args.n)
    print(f"\n## Encoders: {len(texts)} real sentences, device {args.device}\n")
    print("| model | dtype | miners sent/s | sentence-transformers sent/s | ratio | max abs diff |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for model, prefix in ENCODERS.items():
        model_dir = ROOT / "models" / model
        path = pathlib.Path(tmp, "texts.txt")
        # Stripped as sentence-transformers strips, since `encode-timing` encodes raw.
        path.write_text("".join(prefix + t.strip() + "\n" for t in texts), encoding="utf-8")
        for dtype in ["float32", half]:
            ours_out, theirs_out = pathlib.Path(tmp, "ours.f32"), pathlib.Path(tmp, "theirs.f32")
            theirs = last_json([sys.executable, "-c", ST_CHILD, model_dir, path, theirs_out, args.device, dtype], env)
            ours = last_json([args.bin_dir / "encode-timing", model_dir, path, ours_out, "", "", dtype, args.device], env)
            a, b = np.fromfile(ours_out, dtype="<f4"), np.fromfile(theirs_out, dtype="<f4")
            ours_rate, theirs_rate = ours["sentences"] / ours["seconds"], theirs["sentences"] / theirs["seconds"]
            print(f"| {model} | {dtype} | {ours_rate:.1f} | {theirs_rate:.1f} | {ours_rate / theirs_rate:.2f} | {np.abs(a - b).max():.2e} |")


def check_generator(args, env, tmp):
    model_dir = ROOT / "models" / GENERATOR
    out = pathlib.Path(tmp, "icl")
    subprocess.run([args.bin_dir / "miners", "icl", "--dataset", "nusax", "--lang", "ind", "--k", "1",
                    "--generator", model_dir, "--retriever", ROOT / "models/static-tokenlearn",
                    "--limit", "20", "--data-dir", DATA, "--out", out], check=True, capture_output=True, env=env)
    record = next(out.rglob("*.json"))
    dtypes = "float32,bfloat16,int8"
    print(f"\n## Generator {GENERATOR}: label log-probabilities against float32 on the CPU\n")
    drift = [args.bin_dir / "dtype-drift", "--device", args.device, "--dtypes", dtypes, model_dir, LABELS, record]
    print(subprocess.run(drift, check=True, capture_output=True, text=True, env=env).stdout)
    gpus = cuda_devices()
    if len(gpus) >= 2:
        print(f"\n## The same generator split over {','.join(gpus)}\n")
        split = [args.bin_dir / "dtype-drift", "--device", ",".join(gpus), "--dtypes", "bfloat16", model_dir, LABELS, record]
        print(subprocess.run(split, check=True, capture_output=True, text=True, env=env).stdout)
    else:
        print(f"Two-device split: not run ({len(gpus)} GPU{'s' if len(gpus) != 1 else ''} here).")


def cuda_devices():
    try:
        import torch
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", type=pathlib.Path, required=True)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    env = dict(os.environ)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        check_encoders(args, env, tmp)
        check_generator(args, env, tmp)
    print(f"\ngpu-check: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
