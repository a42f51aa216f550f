"""Writes reference_families.tsv: the SIB-200 language families the reference
colours its t-SNE views by (`LANGS_FAMILY_MAP` in gentaiscool/miners's
utils.py, commit 68fec68), one `code<TAB>family` row per language, sorted.

Usage: generate_reference_families.py PATH/TO/miners/utils.py > reference_families.tsv
"""
import ast
import sys


def family_map(source):
    start = source.index("{", source.index("LANGS_FAMILY_MAP = {"))
    depth = 0
    for end, char in enumerate(source[start:], start):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return ast.literal_eval(source[start : end + 1])
    raise ValueError("LANGS_FAMILY_MAP does not close")


def main():
    families = family_map(open(sys.argv[1], encoding="utf-8").read())
    rows = sorted((code, family) for family, codes in families.items() for code in codes)
    assert len(rows) == len({code for code, _ in rows}), "a language in two families"
    sys.stdout.write("code\tfamily\n" + "".join(f"{code}\t{family}\n" for code, family in rows))


if __name__ == "__main__":
    main()
