#!/usr/bin/env python3
"""Writes Tests/Reference/quantize/{Q8_0,Q4_0,Q4_1}.json.

The input is a list of 32-value blocks: 4 blocks from a real F32 tensor of the
default model, 2 blocks of seeded pseudo-random weights and hand-made edge cases.
bytes_hex is gguf.quants.quantize() (the Python reference from llama.cpp's gguf-py).
If llama-cpp-python is installed, the same input is also quantized with ggml's C
ggml_quantize_chunk() and "matches_llama_cpp_c" records whether both agree bit for bit.
"""
from __future__ import annotations

import argparse
import importlib.metadata

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

import refcommon as rc

TYPES = {"Q8_0": T.Q8_0, "Q4_0": T.Q4_0, "Q4_1": T.Q4_1}


def build_input(model_path):
    r = gguf.GGUFReader(model_path)
    tensors = {t.name: t for t in r.tensors}
    name = "blk.0.attn_norm.weight"
    real = np.asarray(tensors[name].data, dtype=np.float32).ravel()[:128]
    blocks, labels = [], []
    for i in range(4):
        blocks.append(real[32 * i:32 * (i + 1)])
        labels.append(f"real: smollm2-135m {name}[{32 * i}:{32 * (i + 1)}]")

    rng = np.random.default_rng(20240601)
    for i in range(2):
        blocks.append((rng.standard_normal(32) * 0.05).astype(np.float32))
        labels.append(f"seeded normal(0, 0.05) #{i}")

    def add(label, values):
        v = np.asarray(values, dtype=np.float32)
        assert v.size == 32, label
        blocks.append(v)
        labels.append(label)

    add("all zeros", np.zeros(32))
    small = (np.arange(32) - 15.5) * 0.001
    add("one large value (1000 at index 5) among small values", np.where(np.arange(32) == 5, 1000.0, small))
    add("negative only", -np.linspace(0.01, 2.0, 32))
    add("all equal (0.25)", np.full(32, 0.25))
    add("largest magnitude is negative (-3)", np.concatenate([[0.5, -3.0], np.linspace(-1, 1, 30)]))
    add("abs-max tie: +8 then -8 (first occurrence wins)", np.concatenate([[8.0, -8.0], np.linspace(-7, 7, 30)]))
    # amax = 127 gives d = 1 for Q8_0, so x*id hits exact .5 ties: ggml rounds half away from zero.
    add("Q8_0 half-way ties (amax 127)", np.concatenate([[127.0], np.arange(31) - 15 + 0.5]))
    add("tiny values (fp16 subnormal scale)", np.linspace(-1e-6, 1e-6, 32))
    add("large values (+-60000)", np.linspace(-60000, 60000, 32))
    add("single nonzero (-0.75 at index 31)", np.where(np.arange(32) == 31, -0.75, 0.0))
    return np.concatenate(blocks).astype(np.float32), labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(rc.DEFAULT_MODEL))
    args = ap.parse_args()
    values, labels = build_input(args.model)
    try:
        import ggmlc
        ggmlc.lib()
        have_c = True
    except Exception as e:  # llama-cpp-python not installed
        print(f"note: C cross-check unavailable ({e})")
        have_c = False

    for name, qt in TYPES.items():
        q = gguf.quants.quantize(values.reshape(-1, 32), qt)
        qb = q.tobytes()
        deq = gguf.quants.dequantize(q, qt).ravel()
        obj = {
            "type": name,
            "block_size": 32,
            "source": f"gguf.quants.quantize (gguf-py {importlib.metadata.version('gguf')})",
            "blocks": labels,
            "input": rc.f32_list(values),
            "bytes_hex": qb.hex(),
            "dequantized": rc.f32_list(deq),
        }
        if have_c:
            cb = ggmlc.quantize(values, int(qt), 32)
            cdeq = ggmlc.dequantize(cb, int(qt), values.size)
            obj["matches_llama_cpp_c"] = cb == qb
            obj["c_dequantize_matches"] = bool(np.array_equal(cdeq.view(np.uint32), deq.astype(np.float32).view(np.uint32)))
            if cb != qb:
                obj["bytes_hex_llama_cpp_c"] = cb.hex()
                bs = len(qb) // len(labels)
                diff = [labels[i] for i in range(len(labels)) if qb[i * bs:(i + 1) * bs] != cb[i * bs:(i + 1) * bs]]
                obj["blocks_differing_from_c"] = diff
            print(name, "python==C:", cb == qb, "dequant python==C:", obj["c_dequantize_matches"])
        rc.write_json(rc.REF_DIR / "quantize" / f"{name}.json", obj)


if __name__ == "__main__":
    main()
