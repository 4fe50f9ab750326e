#!/usr/bin/env python3
"""Writes Tests/Reference/dequant/<TYPE>.json from real tensors.

For each type, the first ROWS rows of two different tensors are taken from the
given GGUF files (the default model has Q4_1, Q8_0 and F32 tensors; Q4_0, Q4_K,
Q6_K and F16 come from requantized copies made by make_requant.py). "values" is
gguf.quants.dequantize() of "bytes_hex"; if llama-cpp-python is installed the C
to_float routine of ggml is run on the same bytes and the result compared bit for bit.

usage: make_dequant.py [--rows 4] MODEL.gguf[=LABEL] ...
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

import refcommon as rc

WANTED = ["F16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K"]


def sha_short(path):
    return rc.sha256_file(Path(path))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()

    try:
        import ggmlc
        ggmlc.lib()
        have_c = True
    except Exception as e:
        print(f"note: C cross-check unavailable ({e})")
        have_c = False

    # type name -> list of (label, path, sha, tensor)
    found: dict[str, list] = {k: [] for k in WANTED}
    for spec in args.models:
        path, _, label = spec.partition("=")
        label = label or Path(path).name
        r = gguf.GGUFReader(path)
        digest = sha_short(path)
        for t in r.tensors:
            name = t.tensor_type.name
            if name in found and len(t.shape) == 2:
                found[name].append((label, path, digest, t))

    for tname in WANTED:
        cands = found[tname]
        if not cands:
            print(f"{tname}: no tensor found, skipped")
            continue
        # two tensors with different roles (name without the layer prefix) if possible
        picked, roles = [], set()
        for c in cands:
            role = c[3].name.split(".", 2)[-1] if c[3].name.startswith("blk.") else c[3].name
            if role not in roles:
                picked.append(c)
                roles.add(role)
            if len(picked) == 2:
                break
        if len(picked) < 2 and len(cands) > 1:
            picked.append(next(c for c in cands if c is not picked[0]))
        qt = T[tname]
        tensors_out = []
        for label, path, digest, t in picked:
            ncols = int(t.shape[0])
            data = np.asarray(t.data)
            rows_out = []
            for i in range(min(args.rows, data.shape[0])):
                raw = data[i].tobytes()
                if tname == "F16":
                    vals = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
                else:
                    vals = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), qt).ravel()
                assert vals.size == ncols
                row = {"row": i, "bytes_hex": raw.hex(), "values": rc.f32_list(vals)}
                if have_c:
                    cv = ggmlc.dequantize(raw, int(qt), ncols)
                    same = np.array_equal(cv.view(np.uint32), vals.astype(np.float32).view(np.uint32))
                    if not same:
                        print(f"  MISMATCH python vs C: {tname} {t.name} row {i} maxdiff {np.max(np.abs(cv - vals))}")
                    row_c = same
                else:
                    row_c = None
                rows_out.append((row, row_c))
            c_ok = None if not have_c else all(x for _, x in rows_out)
            entry = {
                "source": f"{label} {t.name}",
                "model_sha256": digest,
                "tensor": t.name,
                "row_length": ncols,
                "rows": [r for r, _ in rows_out],
            }
            if c_ok is not None:
                entry["matches_llama_cpp_c"] = c_ok
            tensors_out.append(entry)
            print(f"{tname}: {label} {t.name} row_length {ncols} C-match {c_ok}")
        # first tensor at top level (the documented format), all tensors under "tensors"
        first = tensors_out[0]
        obj = {"type": tname, "source": first["source"], "tensor": first["tensor"],
               "row_length": first["row_length"], "rows": first["rows"],
               "more_tensors": tensors_out[1:]}
        rc.write_json(rc.REF_DIR / "dequant" / f"{tname}.json", obj)


if __name__ == "__main__":
    main()
