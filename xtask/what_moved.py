"""What moved: every per-cell number of the report committed at REV
(docs/results/tables/*.json whose title says "per cell") against today's
report of record, for the cells present in both; prints how many were
compared and a Markdown row for each that moved by more than 0.1 points;
then, with `--datasets`, every dataset-level number (the "per dataset"
tables) present in both, moved or not.

Usage: python3 xtask/what_moved.py REV [ROOT] [--datasets]   (REV: e.g.
5fa2289, the last report made before the records of record)

ICL systems are compared without the scoring that reports since 2026-12-07
name after them (` (generate)`, ` (logprob)`, ` (logprob + options)`), so a
generator's row meets its row of before, when its scoring was not named.

The cause column is left as `?`: name it from what changed between the two
runs (docs/results/CHANGES.md keeps the reasoning), then paste the rows there.
"""
import json
import pathlib
import re
import subprocess
import sys


def old_table(root, rev, name):
    shown = subprocess.run(["git", "show", f"{rev}:docs/results/tables/{name}.json"],
                           cwd=root, capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def unscored(system):
    """An ICL system's name without the scoring reports now add."""
    return re.sub(r" \((generate|logprob|logprob \+ options)\)$", "", system)


def cells(table):
    """{(cell, system column): number} of a per-cell table."""
    found = {}
    for row in table["rows"]:
        for column, value in zip(table["header"], row):
            if column not in ("cell", "n") and isinstance(value, (int, float)):
                found[(row[0], unscored(column))] = value
    return found


def datasets(root, rev):
    """Rows `| table | dataset | system | before | now |` of the per-dataset tables."""
    for path in sorted((root / "docs/results/tables").glob("*.json")):
        new = json.loads(path.read_text())
        before = old_table(root, rev, path.stem) if "per dataset" in new["title"] else None
        if before is None:
            continue
        def by_system(table):
            return {(unscored(row[0]), column): value for row in table["rows"]
                    for column, value in zip(table["header"][1:], row[1:])
                    if column != "avg" and isinstance(value, (int, float))}
        a, b = by_system(before), by_system(new)
        for (system, dataset) in sorted(set(a) & set(b), key=lambda k: (k[1], k[0])):
            print(f"| {new['title']} | {dataset} | {system} | {a[system, dataset]:.2f} | "
                  f"{b[system, dataset]:.2f} |")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rev = args[0]
    root = pathlib.Path(args[1] if len(args) > 1 else ".")
    if "--datasets" in sys.argv:
        return datasets(root, rev)
    compared, moved = 0, []
    for path in sorted((root / "docs/results/tables").glob("*.json")):
        new = json.loads(path.read_text())
        before = old_table(root, rev, path.stem) if "per cell" in new["title"] else None
        if before is None:
            continue
        a, b = cells(before), cells(new)
        for key in sorted(set(a) & set(b)):
            compared += 1
            if abs(a[key] - b[key]) > 0.1:
                moved.append((new["title"], *key, a[key], b[key]))
    print(f"{compared} cells compared, {len(moved)} moved by more than 0.1 points")
    for title, cell, system, before, now in moved:
        print(f"| {title} | {cell} | {system} | {before:.2f} | {now:.2f} | ? |")


if __name__ == "__main__":
    main()
