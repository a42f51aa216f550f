"""One epoch of fine-tuning: miners (libtorch, `finetune-steps`) against
transformers' `Trainer` on the same model directory, data and machine, run
one after the other, each in its own process.

Usage (from the repository root, after `cargo xtask fetch-models` and
`cargo build --release -p miners-benches --bin finetune-steps`, in the
interop venv of `cargo xtask interop`):
    python benches/finetune_vs_trainer.py [--model minilm-l6] [--lang ind] [--threads 2] [--repeat 1]

The data is NusaX sentiment (3 labels), the language's 500 training texts in
order, batch 8 (63 steps), lr 5e-5, dropout on; both sides pad each batch to
its longest text. With `--reference-padding`, `Trainer` also runs as the
reference runs it (`padding="max_length"`: every text padded to 512 tokens).
Prints each side's seconds for the steps alone (the fastest of `--repeat`
runs each, alternating) and the ratios.
"""
import argparse
import csv
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("MINERS_DATA_DIR", ROOT.parent / "shared/data/miners"))
LABELS = ["negative", "neutral", "positive"]
TRAINER = r'''
import json, sys, time, torch
from torch.utils.data import SequentialSampler
from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                          DataCollatorWithPadding, Trainer, TrainingArguments)
request = json.load(sys.stdin)
torch.set_num_threads(request["threads"])
tokenizer = AutoTokenizer.from_pretrained(request["model"])
model = AutoModelForSequenceClassification.from_pretrained(request["model"], num_labels=3)
# The reference (finetune_baseline.py) pads every text to the model's length.
padding = "max_length" if request["reference_padding"] else False
rows = [dict(tokenizer(t, truncation=True, padding=padding), labels=y)
        for t, y in zip(request["texts"], request["targets"])]
class InOrder(Trainer):
    def _get_train_sampler(self):
        return SequentialSampler(self.train_dataset)
args = TrainingArguments(output_dir=request["out"], num_train_epochs=1, per_device_train_batch_size=8,
                         learning_rate=5e-5, weight_decay=0.01, save_strategy="no",
                         logging_strategy="no", report_to=[], use_cpu=True, seed=42,
                         disable_tqdm=True)
trainer = InOrder(model=model, args=args, train_dataset=rows,
                  data_collator=DataCollatorWithPadding(tokenizer))
started = time.perf_counter()
trainer.train()
print(json.dumps({"train_seconds": time.perf_counter() - started}))
'''


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--lang", default="ind")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each side, alternating; the fastest of each is compared")
    parser.add_argument("--reference-padding", action="store_true",
                        help="also time Trainer as the reference runs it: every text padded to 512 tokens")
    args = parser.parse_args()
    with open(DATA / f"nusax/classification/{args.lang}.train.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    texts, targets = [r[0] for r in rows], [LABELS.index(r[1]) for r in rows]
    model = str(ROOT / "models" / args.model)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    def trainer(reference_padding):
        with tempfile.TemporaryDirectory() as out:
            request = {"model": model, "texts": texts, "targets": targets,
                       "threads": args.threads, "out": out, "reference_padding": reference_padding}
            done = subprocess.run([sys.executable, "-c", TRAINER], input=json.dumps(request),
                                  capture_output=True, text=True, env=env, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    steps = -(-len(texts) // 8)
    request = {"model": model, "labels": 3, "texts": texts, "targets": targets, "steps": steps,
               "batch_size": 8, "learning_rate": 5e-5, "dropout": True}
    binary = ROOT / "target/release/finetune-steps"

    def miners():
        done = subprocess.run([binary], input=json.dumps(request), capture_output=True, text=True,
                              env=env, check=True)
        return json.loads(done.stdout)

    runs = [(trainer(False)["train_seconds"], miners()["train_seconds"]) for _ in range(args.repeat)]
    t_ref, t_ours = min(r for r, _ in runs), min(o for _, o in runs)
    every = "; ".join(f"{r:.1f} / {o:.1f}" for r, o in runs)
    print(f"{args.model}, NusaX {args.lang}, {len(texts)} texts, {steps} steps, "
          f"{args.threads} threads: Trainer {t_ref:.1f} s, miners {t_ours:.1f} s, "
          f"{t_ref / t_ours:.2f}x (both padding each batch to its longest text; "
          f"fastest of {args.repeat}, every run Trainer / miners: {every})")
    if args.reference_padding:
        t_max = trainer(True)["train_seconds"]
        print(f"  Trainer as the reference runs it (every text padded to 512 tokens): "
              f"{t_max:.1f} s, {t_max / t_ours:.2f}x miners")


if __name__ == "__main__":
    main()
