#!/usr/bin/env python3
"""Builds one small random-weight llama GGUF per tensor type Tessera serves and records
llama.cpp's teacher-forced logits on each.

Every matrix (token embedding, attention, FFN, output) is stored in the type, made by ggml's
own quantizer (`ggml_quantize_chunk`, no importance matrix, via ggmlc.py) from the same
seeded float32 weights; norms stay F32. Widths are multiples of 256 (embedding 256, FFN 512,
4 heads of 64, 2 KV heads, 2 layers) so that the K-quants apply to every matrix. The
vocabulary and the token sequence are make_family_models.py's (nothing is tokenized).

Types: Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K. Output (default
`${TESSERA_MODEL_DIR:-~/.cache/tessera/models}/weight-types/`, never the repository):
`llama-<type>.gguf` and `llama-<type>.logits.json` = {"type", "gguf_sha256",
"llama_cpp_version", "settings", "tokens", "logits": [[float] per position], "margins"}.

Usage: make_weight_type_models.py [--out DIR]. Takes a few seconds; the Swift test
WeightTypeModelTests runs it when its files are missing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q

import ggmlc
from make_family_models import SETTINGS, TOKENS, add_vocab, reference_logits

WIDTH, HEADS, KV_HEADS, FFN, LAYERS, CONTEXT = 256, 4, 2, 512, 2, 256
TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


def default_out() -> Path:
    base = Path(os.environ.get("TESSERA_MODEL_DIR", Path.home() / ".cache" / "tessera" / "models"))
    return base / "weight-types"


def build(type_name: str, path: Path) -> None:
    qtype = Q[type_name]
    rng = np.random.default_rng(20261130)  # the same float weights for every type
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tessera random weights")
    vocab = add_vocab(w)
    head = WIDTH // HEADS
    w.add_block_count(LAYERS)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(WIDTH)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)

    def matrix(name: str, rows: int, cols: int, std: float) -> None:
        data = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
        packed = np.frombuffer(ggmlc.quantize(data, int(qtype), cols), dtype=np.uint8)
        packed = packed.reshape(rows, -1)
        w.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=qtype)

    def vector(name: str, n: int, mean: float, std: float) -> None:
        w.add_tensor(name, (mean + rng.standard_normal(n) * std).astype(np.float32))

    matrix("token_embd.weight", vocab, WIDTH, 1.0)
    s_in, s_ffn = 1 / np.sqrt(WIDTH), 1 / np.sqrt(FFN)
    for i in range(LAYERS):
        p = f"blk.{i}."
        vector(p + "attn_norm.weight", WIDTH, 1.0, 0.1)
        matrix(p + "attn_q.weight", WIDTH, WIDTH, s_in * 2)
        matrix(p + "attn_k.weight", KV_HEADS * head, WIDTH, s_in * 2)
        matrix(p + "attn_v.weight", KV_HEADS * head, WIDTH, s_in)
        matrix(p + "attn_output.weight", WIDTH, WIDTH, s_in)
        vector(p + "ffn_norm.weight", WIDTH, 1.0, 0.1)
        matrix(p + "ffn_gate.weight", FFN, WIDTH, s_in)
        matrix(p + "ffn_up.weight", FFN, WIDTH, s_in)
        matrix(p + "ffn_down.weight", WIDTH, FFN, s_ffn)
    vector("output_norm.weight", WIDTH, 1.0, 0.1)
    matrix("output.weight", vocab, WIDTH, 3 * s_in)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out())
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import llama_cpp

    for type_name in TYPES:
        model = args.out / f"llama-{type_name}.gguf"
        tmp = model.with_suffix(".gguf.tmp")
        build(type_name, tmp)
        tmp.replace(model)
        logits, margins = reference_logits(model)
        record = {
            "type": type_name,
            "gguf_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
            "llama_cpp_version": llama_cpp.__version__,
            "settings": {k: v for k, v in SETTINGS.items() if k != "verbose"},
            "tokens": TOKENS, "logits": logits, "margins": margins,
        }
        out = args.out / f"llama-{type_name}.logits.json"
        out.write_text(json.dumps(record, separators=(",", ":")) + "\n")
        decisive = sum(m >= 0.5 for m in margins)
        print(f"llama-{type_name}: {model.stat().st_size} bytes, logit std "
              f"{float(np.std(np.array(logits))):.2f}, {decisive}/{len(margins)} positions with "
              f"margin >= 0.5", file=sys.stderr)


if __name__ == "__main__":
    main()
