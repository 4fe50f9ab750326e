"""Reference for Tessera's Wanda pruning (Tests/CompressionTests/WandaReferenceTests.swift).

  norms MODEL TOKENS.i32 OUT.f32
      Runs the token ids (int32, one window) through numpy_llama's float64 forward pass and
      writes the L2 norm over tokens of every linear layer's input columns, layer by layer,
      in the order attn input (width n_embd), attn_output input (n_head*head_dim), ffn input
      (n_embd), ffn_down input (n_ff): float32.
  prune WEIGHTS.f32 ROWS COLUMNS NORMS.f32 PATTERN OUT.u8
      Wanda's score |W_ij|*||X_j|| in float32; PATTERN 50 removes the lowest half of each row
      (stable ascending sort: on a tie the lower column goes first), 24 the two lowest of every
      four consecutive columns. Writes the kept mask (1 = kept), one byte per weight.
"""
from __future__ import annotations

import sys

import numpy as np

from numpy_llama import NumpyLlama


def input_norms(model_path: str, ids: np.ndarray) -> np.ndarray:
    m = NumpyLlama(model_path, dtype=np.float64)
    T = len(ids)
    pos = np.arange(T, dtype=np.float64)
    x = m.w["token_embd.weight"][ids]
    H, Hkv, D = m.n_head, m.n_head_kv, m.head_dim
    mask = np.triu(np.full((T, T), -np.inf), 1)
    out = []

    def norm_of(a):
        out.append(np.sqrt((a * a).sum(axis=0)))

    for layer in range(m.n_layer):
        p = f"blk.{layer}."
        h = m._norm(x, m.w[p + "attn_norm.weight"])
        norm_of(h)
        q = (h @ m.w[p + "attn_q.weight"].T).reshape(T, H, D)
        k = (h @ m.w[p + "attn_k.weight"].T).reshape(T, Hkv, D)
        v = (h @ m.w[p + "attn_v.weight"].T).reshape(T, Hkv, D)
        q, k = m._rope(q, pos), m._rope(k, pos)
        k = np.repeat(k, H // Hkv, axis=1)
        v = np.repeat(v, H // Hkv, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(D) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, H * D)
        norm_of(o)
        x = x + o @ m.w[p + "attn_output.weight"].T
        h = m._norm(x, m.w[p + "ffn_norm.weight"])
        norm_of(h)
        g = h @ m.w[p + "ffn_gate.weight"].T
        u = h @ m.w[p + "ffn_up.weight"].T
        a = (g / (1 + np.exp(-g))) * u
        norm_of(a)
        x = x + a @ m.w[p + "ffn_down.weight"].T
    return np.concatenate(out).astype(np.float32)


def kept_mask(weights: np.ndarray, norms: np.ndarray, pattern: str) -> np.ndarray:
    score = np.abs(weights.astype(np.float32)) * norms.astype(np.float32)[None, :]
    keep = np.ones(weights.shape, dtype=np.uint8)
    if pattern == "50":
        removed = weights.shape[1] // 2
        order = np.argsort(score, axis=1, kind="stable")[:, :removed]
        np.put_along_axis(keep, order, 0, axis=1)
    elif pattern == "24":
        rows, columns = weights.shape
        groups = score.reshape(rows, columns // 4, 4)
        order = np.argsort(groups, axis=2, kind="stable")[:, :, :2]
        keep4 = keep.reshape(rows, columns // 4, 4)
        np.put_along_axis(keep4, order, 0, axis=2)
    else:
        raise SystemExit(f"unknown pattern {pattern}")
    return keep


def main() -> None:
    mode = sys.argv[1]
    if mode == "norms":
        _, _, model, tokens, out = sys.argv
        input_norms(model, np.fromfile(tokens, dtype=np.int32)).tofile(out)
    elif mode == "prune":
        _, _, weights, rows, columns, norms, pattern, out = sys.argv
        w = np.fromfile(weights, dtype=np.float32).reshape(int(rows), int(columns))
        kept_mask(w, np.fromfile(norms, dtype=np.float32), pattern).tofile(out)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
