"""ICL label scoring: miners (libtorch, dequantized GGUF) against llama.cpp
(quantized GGUF), on the prompts of a real ICL record.

    python benches/icl_vs_llama_cpp.py FILE.gguf IMPORTED_DIR RECORD.json [N]

Runs `target/release/icl-timing` (tree-masked batched scoring vs one forward
per label, same process) and llama-cpp-python on the same prompts; prints
the speed-up, miners' prompt tokens/s, llama.cpp's time for the reference's
one-forward-per-label loop, how often the two agree on the top label, and the
largest label log-prob difference (quantized matmuls vs dequantized f32
weights differ slightly). Needs `pip install llama-cpp-python numpy`.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from llama_cpp import Llama


def llama_cpp_scores(llm, prompt, labels):
    scores = []
    prompt_ids = llm.tokenize(prompt.encode(), add_bos=False, special=False)
    for label in labels:
        label_ids = llm.tokenize(label.encode(), add_bos=False, special=False)
        llm.reset()
        llm.eval(prompt_ids + label_ids)
        logits = np.asarray(llm.scores[: len(prompt_ids) + len(label_ids)], dtype=np.float64)
        total = 0.0
        for j, token in enumerate(label_ids):
            row = logits[len(prompt_ids) - 1 + j]
            total += row[token] - (row.max() + np.log(np.exp(row - row.max()).sum()))
        scores.append(total / len(label_ids))
    return scores


def main():
    gguf, imported, record = sys.argv[1:4]
    n = sys.argv[4] if len(sys.argv) > 4 else "16"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "scores.json")
        summary = subprocess.run(
            [os.path.join(root, "target/release/icl-timing"), imported, record, out, n],
            check=True, capture_output=True, text=True,
        ).stdout
        ours = json.load(open(out))
    print("miners:", summary.strip())
    llm = Llama(model_path=gguf, n_ctx=4096, logits_all=True, verbose=False, n_threads=2)
    start = time.perf_counter()
    theirs = [llama_cpp_scores(llm, p, ours["labels"]) for p in ours["prompts"]]
    seconds = time.perf_counter() - start
    same_top = sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(ours["scores"], theirs))
    diff = max(abs(a - b) for x, y in zip(ours["scores"], theirs) for a, b in zip(x, y))
    print(json.dumps({
        "llama_cpp_one_by_one_seconds": seconds,
        "same_top_label": f"{same_top}/{len(theirs)}",
        "max_abs_log_prob_difference": diff,
    }))


if __name__ == "__main__":
    main()
