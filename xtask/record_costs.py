"""What a sweep cost, from its packs: wall seconds, CPU seconds and peak
memory per task, dataset and retriever (/ generator), summed over cells (a
bitext or classification cell's k records share one timing, counted once;
ICL times each k apart). Prints a Markdown table and the totals.

Usage: python3 xtask/record_costs.py docs/results/records
"""
import collections
import pathlib
import sys

from packs import pack_results


def generator(entry):
    """A generator's id, with `(percentile windows)` for a percentile study's runs."""
    windowed = entry.get("selection", {}).get("type") == "percentile"
    return entry["id"] + (" (percentile windows)" if windowed else "")


def main():
    root = pathlib.Path(sys.argv[1])
    totals = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    seen = set()
    for pack in sorted(root.rglob("*.jsonl")):
        if pack.relative_to(root).parts[0] == "mining":
            continue  # mining results carry no per-cell costs
        for r in pack_results(pack):
            who = r["model"]["id"] + (" / " + generator(r["generator"]) if r.get("generator") else "")
            where = r.get("lang") or f'{r.get("source_lang")}-{r.get("target_lang")}'
            cell = (r["task"], r["dataset"], who, r["setting"], where, r.get("reversed", False))
            if r["task"] != "icl":
                if cell in seen:
                    continue
                seen.add(cell)
            entry = totals[(r["task"], r["dataset"], who)]
            entry[0] += r["seconds"]
            entry[1] += r.get("cpu_seconds") or 0.0
            entry[2] = max(entry[2], r.get("peak_rss_mib") or 0.0)
            entry[3] += 1
    print("| task | dataset | retriever / generator | cells | wall s | CPU s | peak MiB |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    wall = cpu = 0.0
    for (task, dataset, who), (w, c, peak, n) in sorted(totals.items()):
        wall, cpu = wall + w, cpu + c
        print(f"| {task} | {dataset} | {who} | {n} | {w:.1f} | {c:.1f} | {peak:.0f} |")
    print(f"\nTotal: wall {wall / 60:.1f} min, CPU {cpu / 60:.1f} min")


if __name__ == "__main__":
    main()
