#!/usr/bin/env python3
"""Regenerates fuzz/corpus/<target>/seed-* from proto/vectors/*.json and proto/spec.md.

Run from the repository root: python3 fuzz/make_seeds.py
"""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "proto", "vectors")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    pad = json.load(open(os.path.join(VECTORS, "padding.json")))
    for i, c in enumerate(pad["valid"]):
        if c["length"] <= 4096:
            put("record_decode", f"valid-{i:02d}", bytes.fromhex(c["padded"]))
    for i, c in enumerate(pad["invalid"]):
        if c["length"] <= 4096:
            put("record_decode", f"invalid-{i:02d}", bytes.fromhex(c["padded"]))

    certs = json.load(open(os.path.join(VECTORS, "certificates.json")))
    for e in certs["encodings"]:
        target = "revocation_decode" if e["kind"] == "revocation_list" else "certificate_decode"
        put(target, e["kind"] + "-body", bytes.fromhex(e["body"]))
        put(target, e["kind"] + "-wire", bytes.fromhex(e["wire"]))
    for c in certs["cases"]:
        if c["name"].startswith("malformed"):
            put("certificate_decode", c["name"] + "-supporter", bytes.fromhex(c["supporter_certificate"])[:-64])
            put("revocation_decode", c["name"] + "-list", bytes.fromhex(c["revocation_list"])[:-64])

    tr = json.load(open(os.path.join(VECTORS, "transcripts.json")))
    put("data_frame", "msg1", bytes.fromhex("00000001" + tr["msg1"]))
    put("data_frame", "msg2", bytes.fromhex("00000001" + tr["msg2"]))
    for i, m in enumerate(tr["messages"][:3]):
        put("data_frame", f"record-{i}", bytes.fromhex("0000002a" + m["ciphertext"]))
    put("data_frame", "chat-zero", bytes.fromhex("00000000" + tr["msg1"]))

    spec = open(os.path.join(ROOT, "proto", "spec.md")).read()
    n = 0
    for block in re.findall(r"```json\n(.*?)```", spec, re.S):
        try:
            v = json.loads(block)
        except ValueError:
            continue
        if isinstance(v, dict) and "type" in v:
            put("control_frame", f"spec-{n:02d}-{v['type']}", json.dumps(v).encode())
            n += 1


if __name__ == "__main__":
    main()
