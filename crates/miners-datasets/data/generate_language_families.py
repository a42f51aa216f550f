#!/usr/bin/env python3
"""Writes language_families.tsv: each language's top-level Glottolog family.

Source: URIEL's family features (Littell et al., 2017, "URIEL and lang2vec:
Representing languages as typological, geographical, and phylogenetic
vectors", EACL), which encode Glottolog's classification as one membership
feature per family and subfamily; shipped in the PyPI wheel lang2vec 1.1.2
(CC BY-SA 4.0). A language's top-level family is the family feature it has
with the most member languages (an ancestor contains its descendants).
Languages with no family feature (isolates, unclassified) are left out.
ISO 639-1 codes are added through lang2vec's own two-letter table, and the
few ISO 639-3 codes of SIB-200 that URIEL predates through their
macrolanguage (ALIASES).

Usage: generate_language_families.py [WHEEL]  (default: pip download, pinned)
Needs numpy. Output is deterministic (sorted by code).
"""

import hashlib
import io
import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

WHEEL = "lang2vec-1.1.2-py3-none-any.whl"
SHA256 = "bc43eddce15175ee1561c8a0566f56e42019d5987ea6c2890770a1b5d1f48fa4"
# Individual languages of SIB-200 that URIEL lacks -> the ISO 639-3
# macrolanguage it lists (Latvian, Norwegian, Akan, Manding).
ALIASES = {"lvs": "lav", "ltg": "lav", "nob": "nor", "nno": "nor", "twi": "aka", "nqo": "man"}
OUT = pathlib.Path(__file__).with_name("language_families.tsv")


def wheel_bytes(path):
    if path is None:
        directory = tempfile.mkdtemp()
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "lang2vec==1.1.2", "-d", directory],
            check=True,
        )
        path = pathlib.Path(directory) / WHEEL
    data = pathlib.Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {SHA256}")
    return data


def top_families(archive):
    npz = np.load(io.BytesIO(archive.read("lang2vec/data/family_features.npz")))
    names = [str(f).removeprefix("F_") for f in npz["feats"]]
    langs = [str(code) for code in npz["langs"]]
    member = npz["data"][:, :, 0] == 1
    sizes = member.sum(axis=0)
    families = {}
    for row, code in enumerate(langs):
        features = np.flatnonzero(member[row])
        if features.size:
            # The largest family wins; ties go to the first listed.
            best = max(features, key=lambda j: (sizes[j], -j))
            families[code] = names[best]
    return families


def main():
    archive = zipfile.ZipFile(io.BytesIO(wheel_bytes(sys.argv[1] if len(sys.argv) > 1 else None)))
    families = top_families(archive)
    letters = json.loads(archive.read("lang2vec/data/letter_codes.json"))
    for code, macro in ALIASES.items():
        families.setdefault(code, families[macro])
    for two, three in letters.items():
        if three in families and two not in families:
            families[two] = families[three]
    lines = ["code\tfamily"] + [f"{code}\t{families[code]}" for code in sorted(families)]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(families)} codes, {len(set(families.values()))} families")


if __name__ == "__main__":
    main()
