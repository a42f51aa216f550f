"""Writes crates/miners-report/src/mteb_tasks.json: what miners' MTEB export
and import need to know about the MTEB tasks that carry MINERS' datasets,
taken from the pinned `mteb` package itself (task metadata and the
descriptive statistics it ships): each task's type, main score, evaluation
splits, pinned dataset revision, and per subset its language tags and its
number of samples per split.

Run in the interop venv (`cargo xtask interop` builds it):

    .cache/interop-venv/bin/python xtask/mteb_tasks.py

The output is committed; `fixtures/check_mteb.py` fails when the installed
`mteb` gives a different table.
"""

import json
import sys
from pathlib import Path

import mteb
from mteb.abstasks.task_metadata import TaskMetadata

# The MTEB tasks whose data equals a MINERS dataset's (docs/results.md).
TASKS = [
    "NusaXBitextMining",
    "NollySentiBitextMining",
    "PhincBitextMining",
    "NusaTranslationBitextMining",
    "Tatoeba",
    "NusaX-senti",
    "SIB200Classification",
]


def stats(meta: TaskMetadata) -> dict:
    """The descriptive statistics mteb ships for the task, by split."""
    root = Path(mteb.__file__).parent / "descriptive_stats" / meta.type
    return json.loads((root / f"{meta.name}.json").read_text())


def subsets(meta: TaskMetadata) -> dict:
    described = stats(meta)
    out = {}
    for subset, languages in sorted(meta.hf_subsets_to_langscripts.items()):
        samples = {}
        for split in meta.eval_splits:
            per_subset = described[split].get("hf_subset_descriptive_stats", {})
            if subset in per_subset:
                samples[split] = per_subset[subset]["num_samples"]
        out[subset] = {"languages": list(languages), "samples": samples}
    return out


def table() -> dict:
    tasks = []
    for name in TASKS:
        meta = mteb.get_task(name).metadata
        tasks.append(
            {
                "name": meta.name,
                "type": meta.type,
                "main_score": meta.main_score,
                "eval_splits": list(meta.eval_splits),
                "dataset_path": meta.dataset["path"],
                "dataset_revision": meta.dataset["revision"],
                "subsets": subsets(meta),
            }
        )
    return {"mteb_version": mteb.__version__, "tasks": tasks}


def render() -> str:
    """The table as JSON with one subset per line (diff-friendly)."""
    data = table()
    lines = ["{", f' "mteb_version": {json.dumps(data["mteb_version"])},', ' "tasks": [']
    for i, task in enumerate(data["tasks"]):
        head = {k: v for k, v in task.items() if k != "subsets"}
        lines.append("  {")
        for key, value in head.items():
            lines.append(f"   {json.dumps(key)}: {json.dumps(value)},")
        lines.append('   "subsets": {')
        items = list(task["subsets"].items())
        for j, (subset, entry) in enumerate(items):
            comma = "," if j + 1 < len(items) else ""
            lines.append(f"    {json.dumps(subset)}: {json.dumps(entry)}{comma}")
        lines.append("   }")
        lines.append("  }" + ("," if i + 1 < len(data["tasks"]) else ""))
    lines += [" ]", "}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "crates/miners-report/src/mteb_tasks.json"
    out.write_text(render())
    print(f"wrote {out}", file=sys.stderr)
