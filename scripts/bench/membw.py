#!/usr/bin/env python3
"""Single-threaded memory read bandwidth estimate with NumPy.

  membw.py [--gib 1] [--repeats 5] [--json]

Sums a float64 array of the given size (default 1 GiB) and reports the best of
the repeats in GB/s (10^9 bytes/s), plus a copy test (read + write). NumPy's sum
is single-threaded, so this approximates what one core can stream, which bounds
token decode speed (every weight byte is read once per generated token).
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    n = int(args.gib * (1 << 30)) // 8
    a = np.ones(n, dtype=np.float64)  # touch every page before timing
    nbytes = a.nbytes

    read = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        s = a.sum()
        read.append(time.perf_counter() - t0)
    assert s == n

    b = np.empty_like(a)
    copy = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        np.copyto(b, a)
        copy.append(time.perf_counter() - t0)

    res = {
        "bytes": nbytes,
        "repeats": args.repeats,
        "read_gbps_best": round(nbytes / min(read) / 1e9, 2),
        "read_gbps_median": round(nbytes / sorted(read)[len(read) // 2] / 1e9, 2),
        "copy_gbps_best": round(2 * nbytes / min(copy) / 1e9, 2),  # bytes read + bytes written
        "threads": 1,
        "numpy": np.__version__,
    }
    print(json.dumps(res) if args.json else json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
