#!/usr/bin/env python3
"""Cuts the documented subset of Wycheproof's ML-KEM-768 files that we vendor.

Usage: mlkem_subset.py WYCHEPROOF_CHECKOUT  (C2SP/wycheproof, the commit in README.md)

The full files are about 0.9 MB each; we keep every case of a kind the code must refuse and
a bounded sample of the valid ones. Cases are copied byte for byte (no field changed), the
file header (algorithm, schema, notes) is kept, numberOfTests is the count kept. Deterministic:
running it again on the same commit writes the same bytes.
"""
import json
import sys
from pathlib import Path

SRC = Path(sys.argv[1]) / "testvectors_v1"
OUT = Path(__file__).resolve().parent


def keep_decaps(test):
    comment = test.get("comment", "")
    if test["result"] != "valid":
        return True  # private key (seed) and ciphertext of a wrong length: all 40
    if "Strcmp" in test["flags"]:
        return True
    if comment.startswith(("Random ciphertext", "Bit flipped ciphertext")):
        return True  # implicit rejection: 10 + 10
    if comment.startswith("Test vector based on official round 3 seeds "):
        return int(comment.rsplit(" ", 1)[1]) < 10
    return False


def keep_encaps(test):
    comment = test.get("comment", "")
    if "ModulusOverflow" in test["flags"] or comment == "Public key is too long":
        return True  # CCTV modulus overflow: all 12; a key of the wrong length: 2
    if comment == "Public key not reduced":
        return test["tcId"] % 5 == 0  # every fifth of the 100: 20
    if comment.startswith("Rho leads"):
        return True  # 30 keys with unusual matrices
    if comment.startswith("Test vector based on official round 3 seeds "):
        return int(comment.rsplit(" ", 1)[1]) < 10
    return False


def cut(name, keep):
    data = json.loads((SRC / f"{name}.json").read_text())
    count = 0
    for group in data["testGroups"]:
        group["tests"] = [t for t in group["tests"] if keep(t)]
        count += len(group["tests"])
    data["testGroups"] = [g for g in data["testGroups"] if g["tests"]]
    data["numberOfTests"] = count
    (OUT / f"wycheproof-{name}.subset.json").write_text(json.dumps(data, indent=1) + "\n")
    print(name, count)


cut("mlkem_768_test", keep_decaps)
cut("mlkem_768_encaps_test", keep_encaps)
