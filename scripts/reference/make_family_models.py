#!/usr/bin/env python3
"""Builds small random-weight GGUFs, one per model family in that family's exact tensor
layout, and records llama.cpp's teacher-forced logits on them.

Families: llama (separate output), llama3 (Llama 3.1/3.2: `rope_freqs` frequency factors,
tied output), mistral (llama with its own head size, one KV head, base 1e6), qwen2 (Q/K/V
biases, tied), qwen3 (Q/K norms, own head size), phi3 (fused QKV and gate-up), gemma3
(pre/post norms, Q/K norms, GELU-tanh, scaled embeddings, sliding window 4 on five of six
layers with base 10000, global layers base 1e6, own head size, tied); and llama-linear,
gemma3-options, phi3-longrope for rarer metadata (see FAMILIES).

Weights are seeded normal values written with the `gguf` package (llama.cpp's gguf-py):
norms F32, matrices F16 in `<family>-f16.gguf` and Q8_0 in `<family>-q8_0.gguf` (same
values). The vocabulary is a tiny SentencePiece one (3 control tokens, 256 byte tokens,
29 pieces): nothing is tokenized here, the token ids are fixed.

The models go to `${TESSERA_MODEL_DIR:-~/.cache/tessera/models}/families/<model>.gguf`
(model = <family>-f16 or <family>-q8_0), never the repository; the same seeds give the same
bytes, so `--models-only` (gguf and numpy only, about a second) rebuilds exactly the files the
committed references were made from. FamilyFidelityTests and FamilyShardTests run it so when
a model is missing.

Without `--models-only`, for each model llama.cpp (`Llama(path, n_ctx=64, n_batch=64,
logits_all=True, n_threads=2)`, f16 KV cache) evaluates TOKENS as one batch, and
`Tests/Reference/families/<model>.json` (committed) records {"model", "family",
"matrix_type", "architecture", "gguf_sha256", versions, "settings", "tokens", "positions":
[{"top": [[id, logit] x 10], "margin"} per position]}.

Usage: make_family_models.py [--out DIR] [--only FAMILY ...] [--types f16 q8_0] [--models-only]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

REPO = Path(__file__).resolve().parents[2]
REFERENCE_DIR = REPO / "Tests" / "Reference" / "families"
WIDTH = 64
HEADS = 4
FFN = 128
CONTEXT = 256
TOKENS = [1, 40, 7, 283, 155, 9, 261, 77, 123, 200, 5, 18, 42, 99, 270, 31, 64, 11, 250, 180,
          3, 88, 140, 260]
SETTINGS = dict(n_ctx=64, n_batch=64, n_ubatch=64, n_threads=2, n_threads_batch=2,
                logits_all=True, seed=1234, flash_attn=False, n_gpu_layers=0, verbose=False)

FAMILIES = {
    # name: (architecture, options)
    "llama": ("llama", dict(layers=3, kv_heads=2, tied=False)),
    "llama3": ("llama", dict(layers=3, kv_heads=2, tied=True, rope_base=500000.0,
                             rope_freqs=True)),
    "mistral": ("llama", dict(layers=3, kv_heads=1, head=32, tied=False,
                              rope_base=1000000.0)),
    "qwen2": ("qwen2", dict(layers=3, kv_heads=2, tied=True, biases=True,
                            rope_base=1000000.0)),
    "qwen3": ("qwen3", dict(layers=3, kv_heads=2, head=32, tied=True, qk_norm=True,
                            rope_base=1000000.0, eps=1e-6)),
    "phi3": ("phi3", dict(layers=3, kv_heads=4, tied=False, fused=True)),
    "gemma3": ("gemma3", dict(layers=6, kv_heads=1, head=32, tied=True,
                              qk_norm=True, post_norms=True, window=4, rope_base=1000000.0,
                              eps=1e-6, embed_std=0.3)),
    # The metadata options real files use less often: llama with linear RoPE scaling
    # (rope.scaling.type/factor); Gemma 3 with an explicit per-layer sliding-window pattern,
    # its own sliding-window RoPE base and a final logit soft cap.
    "llama-linear": ("llama", dict(layers=2, kv_heads=2, tied=False, rope_linear=4.0)),
    # Phi-3 128k / Phi-3.5's LongRoPE: long and short frequency factors and an attention
    # factor; the original context (32) is below the evaluated one (64), so the long ones apply.
    "phi3-longrope": ("phi3", dict(layers=2, kv_heads=4, tied=False, fused=True,
                                   longrope=32, attn_factor=1.19)),
    "gemma3-options": ("gemma3", dict(layers=4, kv_heads=2, head=32, tied=True, qk_norm=True,
                                      post_norms=True, window=3, rope_base=1000000.0,
                                      swa_base=20000.0, eps=1e-6, embed_std=0.3,
                                      swa_pattern=[True, False, True, False], softcap=10.0)),
}


def default_out() -> Path:
    base = Path(os.environ.get("TESSERA_MODEL_DIR", Path.home() / ".cache" / "tessera" / "models"))
    return base / "families"


def add_vocab(w: gguf.GGUFWriter) -> int:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += ["\u2581" + chr(ord("a") + i) for i in range(26)] + ["\u2581the", "\u2581and", "\u2581of"]
    types = [2, 3, 3] + [6] * 256 + [1] * 29
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * 259 + [-float(i) for i in range(29)])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    return len(tokens)


def build(name: str, arch: str, o: dict, path: Path) -> None:
    rng = np.random.default_rng(sum(map(ord, name)) * 7919)
    head = o.get("head", WIDTH // HEADS)
    kv_heads = o["kv_heads"]
    q_width, kv_width = HEADS * head, kv_heads * head
    layers = o["layers"]
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tessera random weights")  # a family name here would make llama.cpp look for its special tokens
    vocab = add_vocab(w)
    w.add_block_count(layers)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(WIDTH)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(kv_heads)
    if "head" in o:
        w.add_key_length(head)
        w.add_value_length(head)
    w.add_rope_dimension_count(head)
    w.add_rope_freq_base(o.get("rope_base", 10000.0))
    w.add_layer_norm_rms_eps(o.get("eps", 1e-5))
    if "window" in o:
        w.add_sliding_window(o["window"])
    if "swa_pattern" in o:
        w.add_array(f"{arch}.attention.sliding_window_pattern", o["swa_pattern"])
    if "swa_base" in o:
        w.add_float32(f"{arch}.rope.freq_base_swa", o["swa_base"])
    if "softcap" in o:
        w.add_float32(f"{arch}.final_logit_softcapping", o["softcap"])
    if "longrope" in o:
        w.add_uint32(f"{arch}.rope.scaling.original_context_length", o["longrope"])
        w.add_float32(f"{arch}.rope.scaling.attn_factor", o["attn_factor"])
    if "rope_linear" in o:
        w.add_string(f"{arch}.rope.scaling.type", "linear")
        w.add_float32(f"{arch}.rope.scaling.factor", o["rope_linear"])
    w.add_file_type(1 if o["matrix"] == Q.F16 else 7)

    def matrix(tensor: str, rows: int, cols: int, std: float) -> None:
        data = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
        if o["matrix"] == Q.F16:
            w.add_tensor(tensor, data.astype(np.float16))
        else:
            packed = gguf.quants.quantize(data, Q.Q8_0)
            w.add_tensor(tensor, packed, raw_shape=packed.shape, raw_dtype=Q.Q8_0)

    def vector(tensor: str, n: int, mean: float, std: float) -> None:
        w.add_tensor(tensor, (mean + rng.standard_normal(n) * std).astype(np.float32))

    matrix("token_embd.weight", vocab, WIDTH, o.get("embed_std", 1.0))
    if o.get("rope_freqs"):
        # Llama 3.1's factors are 1 for high frequencies and up to 8 for low ones.
        w.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, head // 2).astype(np.float32))
    if o.get("longrope"):
        w.add_tensor("rope_factors_long.weight", np.linspace(1.0, 16.0, head // 2).astype(np.float32))
        w.add_tensor("rope_factors_short.weight", np.linspace(1.0, 2.0, head // 2).astype(np.float32))
    s_in, s_ffn = 1 / np.sqrt(WIDTH), 1 / np.sqrt(FFN)
    for i in range(layers):
        p = f"blk.{i}."
        vector(p + "attn_norm.weight", WIDTH, 1.0, 0.1)
        if o.get("fused"):
            matrix(p + "attn_qkv.weight", q_width + 2 * kv_width, WIDTH, s_in)
        else:
            matrix(p + "attn_q.weight", q_width, WIDTH, s_in * 2)
            matrix(p + "attn_k.weight", kv_width, WIDTH, s_in * 2)
            matrix(p + "attn_v.weight", kv_width, WIDTH, s_in)
        if o.get("biases"):
            vector(p + "attn_q.bias", q_width, 0.0, 0.3)
            vector(p + "attn_k.bias", kv_width, 0.0, 0.3)
            vector(p + "attn_v.bias", kv_width, 0.0, 0.3)
        if o.get("qk_norm"):
            vector(p + "attn_q_norm.weight", head, 1.0, 0.2)
            vector(p + "attn_k_norm.weight", head, 1.0, 0.2)
        matrix(p + "attn_output.weight", WIDTH, q_width, 1 / np.sqrt(q_width))
        if o.get("post_norms"):
            vector(p + "post_attention_norm.weight", WIDTH, 1.0, 0.1)
        vector(p + "ffn_norm.weight", WIDTH, 1.0, 0.1)
        if o.get("fused"):
            matrix(p + "ffn_up.weight", 2 * FFN, WIDTH, s_in)
        else:
            matrix(p + "ffn_gate.weight", FFN, WIDTH, s_in)
            matrix(p + "ffn_up.weight", FFN, WIDTH, s_in)
        matrix(p + "ffn_down.weight", WIDTH, FFN, s_ffn)
        if o.get("post_norms"):
            vector(p + "post_ffw_norm.weight", WIDTH, 1.0, 0.1)
    vector("output_norm.weight", WIDTH, 1.0, 0.1)
    if not o["tied"]:
        matrix("output.weight", vocab, WIDTH, 3 * s_in)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


TOP_K = 10


def reference_logits(path: Path) -> tuple[list[list[float]], list[float]]:
    """llama.cpp's full logits row at every position of TOKENS (6 significant digits) and
    each row's top-1 margin (make_weight_type_models.py uses these)."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), **SETTINGS)
    llm.eval(TOKENS)
    rows = np.array(llm.scores[: len(TOKENS)], dtype=np.float32)
    top = np.sort(rows, axis=1)
    margins = (top[:, -1] - top[:, -2]).tolist()
    return [[float(f"{v:.6g}") for v in row] for row in rows], [round(m, 6) for m in margins]


def reference_positions(path: Path) -> list[dict]:
    """llama.cpp's top-10 [id, logit] and top-1 margin at every position of TOKENS."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), **SETTINGS)
    llm.eval(TOKENS)
    rows = np.array(llm.scores[: len(TOKENS)], dtype=np.float32)
    positions = []
    for row in rows:
        order = np.argsort(-row, kind="stable")[:TOP_K]
        positions.append({
            "top": [[int(i), round(float(row[i]), 4)] for i in order],
            "margin": round(float(row[order[0]] - row[order[1]]), 4),
        })
    return positions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out())
    parser.add_argument("--only", nargs="*", choices=sorted(FAMILIES))
    parser.add_argument("--types", nargs="*", choices=["f16", "q8_0"], default=["f16", "q8_0"])
    parser.add_argument("--models-only", action="store_true",
                        help="only write the GGUFs (needs gguf and numpy, not llama.cpp)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.models_only:
        import llama_cpp

    for name, type_name in [(n, t) for n in args.only or FAMILIES for t in args.types]:
        arch, options = FAMILIES[name]
        options = dict(options, matrix=Q.F16 if type_name == "f16" else Q.Q8_0)
        model_name = f"{name}-{type_name}"
        model = args.out / f"{model_name}.gguf"
        tmp = model.with_suffix(".gguf.tmp")
        build(name, arch, options, tmp)
        tmp.replace(model)
        sha256 = hashlib.sha256(model.read_bytes()).hexdigest()
        print(f"{model_name}: {model} ({model.stat().st_size} bytes, sha256 {sha256})",
              file=sys.stderr)
        if args.models_only:
            continue
        positions = reference_positions(model)
        record = {
            "model": model_name, "family": name, "matrix_type": type_name.upper(),
            "architecture": arch, "gguf_sha256": sha256,
            "llama_cpp_version": llama_cpp.__version__, "gguf_version": gguf_version(),
            "numpy_version": np.__version__,
            "settings": {k: v for k, v in SETTINGS.items() if k != "verbose"},
            "tokens": TOKENS, "positions": positions,
        }
        REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
        out = REFERENCE_DIR / f"{model_name}.json"
        out.write_text(json.dumps(record, separators=(",", ":")) + "\n")
        decisive = sum(p["margin"] >= 0.5 for p in positions)
        print(f"  -> {out.relative_to(REPO)}: {decisive}/{len(positions)} positions with margin "
              ">= 0.5", file=sys.stderr)


def gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    main()
