#!/usr/bin/env python3
"""Writes Tests/Reference/ggml-quants/<TYPE>.json for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
Q3_K, Q4_K, Q5_K and Q6_K: blocks made by ggml itself and their dequantization; and
Q8_K-activations.json (see q8_k_activations).

Input: 8 super-blocks of 256 values (2048 floats, so 64 blocks of 32 for the small types):
real weights of the default model, seeded normal weights and awkward cases (all zeros, one
huge outlier, negative only, all equal, zero and nonzero sub-blocks mixed, tiny values,
+-60000). Each super-block's label is in "blocks".

- bytes_hex: ggml's C `ggml_quantize_chunk(type, ..., imatrix=NULL)` from the libggml-base
  that llama-cpp-python ships (ggmlc.py), i.e. the reference quantizer llama-quantize uses
  without an importance matrix.
- dequantized_f32_hex: `gguf.quants.dequantize(bytes)` (gguf-py, numpy), as little-endian
  float32 bytes in hex, so values (including -0) survive exactly. The script also checks
  that ggml's C `to_float` gives the same bits ("c_dequantize_matches").
- input_f32_hex: the input, the same way.
"""
from __future__ import annotations

import importlib.metadata

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

import ggmlc
import refcommon as rc

TYPES = {
    "Q8_0": T.Q8_0, "Q4_0": T.Q4_0, "Q4_1": T.Q4_1, "Q5_0": T.Q5_0, "Q5_1": T.Q5_1,
    "Q2_K": T.Q2_K, "Q3_K": T.Q3_K, "Q4_K": T.Q4_K, "Q5_K": T.Q5_K, "Q6_K": T.Q6_K,
}
ROW = 256  # one ggml_quantize_chunk row per super-block


def real_weights(model_path) -> np.ndarray:
    """256 dequantized values of a real Q4_1 matrix of the default model (first row)."""
    r = gguf.GGUFReader(model_path)
    t = next(t for t in r.tensors if t.name == "blk.0.attn_q.weight")
    deq = gguf.quants.dequantize(t.data, t.tensor_type)
    return np.asarray(deq, dtype=np.float32).ravel()[:ROW]


def build_input(model_path):
    blocks, labels = [], []

    def add(label, values):
        v = np.asarray(values, dtype=np.float32)
        assert v.size == ROW, label
        blocks.append(v)
        labels.append(label)

    try:
        add("real: smollm2-135m blk.0.attn_q.weight row 0 (dequantized Q4_1)", real_weights(model_path))
    except FileNotFoundError:
        raise SystemExit(f"default model missing at {model_path}; run scripts/fetch-model")
    rng = np.random.default_rng(20261130)
    add("seeded normal(0, 0.05)", rng.standard_normal(ROW) * 0.05)
    add("all zeros", np.zeros(ROW))
    small = rng.standard_normal(ROW) * 0.01
    add("one huge outlier (500 at index 77) among normal(0, 0.01)", np.where(np.arange(ROW) == 77, 500.0, small))
    add("negative only (-uniform(0.01, 2))", -rng.uniform(0.01, 2.0, ROW))
    add("all equal (0.25)", np.full(ROW, 0.25))
    mixed = rng.standard_normal(ROW) * 0.3
    mixed[(np.arange(ROW) // 16) % 3 == 0] = 0.0  # every third 16-value sub-block is zero
    mixed[200:216] = rng.standard_normal(16) * 1e-7  # a tiny sub-block next to normal ones
    add("zero, tiny and normal(0, 0.3) sub-blocks mixed", mixed)
    add("large values (uniform +-60000)", rng.uniform(-60000, 60000, ROW))
    return np.concatenate(blocks).astype(np.float32), labels


def main():
    values, labels = build_input(rc.DEFAULT_MODEL)
    for name, qt in TYPES.items():
        cb = ggmlc.quantize(values, int(qt), ROW)
        q = np.frombuffer(cb, dtype=np.uint8).reshape(len(labels), -1)
        deq = np.asarray(gguf.quants.dequantize(q, qt), dtype=np.float32).ravel()
        cdeq = ggmlc.dequantize(cb, int(qt), values.size)
        same = bool(np.array_equal(cdeq.view(np.uint32), deq.view(np.uint32)))
        print(name, "C to_float == gguf-py:", same)
        rc.write_json(rc.REF_DIR / "ggml-quants" / f"{name}.json", {
            "type": name,
            "source": "ggml_quantize_chunk(imatrix=NULL) from " + rc.llama_cpp_version(),
            "dequantizer": f"gguf.quants.dequantize (gguf-py {importlib.metadata.version('gguf')})",
            "c_dequantize_matches": same,
            "blocks": labels,
            "values_per_label": ROW,
            "input_f32_hex": values.astype("<f4").tobytes().hex(),
            "bytes_hex": cb.hex(),
            "dequantized_f32_hex": deq.astype("<f4").tobytes().hex(),
        })


def q8_k_activations() -> None:
    """Tests/Reference/ggml-quants/Q8_K-activations.json: activation rows quantized by ggml's
    quantize_row_q8_K_ref (the Q8_K blocks llama.cpp pairs with K-quant weights):
    `bytes_hex` = per 256 values {float32 d; int8 qs[256]; int16 bsums[16]} (292 bytes)."""
    rng = np.random.default_rng(8)
    rows = [rng.standard_normal(512) * 2.0,
            np.concatenate([np.zeros(256), rng.standard_normal(256) * 0.01]),
            np.where(np.arange(512) == 300, -80.0, rng.standard_normal(512)),
            -rng.uniform(0.0, 3.0, 512)]
    labels = ["normal(0, 2)", "an all-zero block, then normal(0, 0.01)",
              "outlier -80 at index 300 among normal(0, 1)", "negative only"]
    values = np.concatenate(rows).astype(np.float32)
    # Q8_K has no from_float_ref in the type traits; libggml-base exports the function itself.
    quantize_row = ggmlc.lib().quantize_row_q8_K_ref
    quantize_row.restype = None
    quantize_row.argtypes = [ggmlc.ctypes.c_void_p, ggmlc.ctypes.c_void_p, ggmlc.ctypes.c_int64]
    out = ggmlc.ctypes.create_string_buffer(values.size // 256 * 292)
    quantize_row(values.ctypes.data, ggmlc.ctypes.addressof(out), values.size)
    rc.write_json(rc.REF_DIR / "ggml-quants" / "Q8_K-activations.json", {
        "source": "quantize_row_q8_K_ref (type traits from_float_ref) from " + rc.llama_cpp_version(),
        "rows": labels, "columns": 512,
        "input_f32_hex": values.astype("<f4").tobytes().hex(),
        "bytes_hex": out.raw.hex(),
    })


if __name__ == "__main__":
    main()
    q8_k_activations()
