"""A plain float32/float64 NumPy forward pass of a llama-architecture GGUF model
(weights dequantized with gguf-py). Slow but independent of llama.cpp; used to
judge which llama.cpp evaluation mode (batch vs incremental) is closer to exact."""
from __future__ import annotations

import gguf
import numpy as np


class NumpyLlama:
    def __init__(self, path, dtype=np.float64):
        r = gguf.GGUFReader(str(path))
        self.dtype = dtype
        f = {k: v.contents() for k, v in r.fields.items() if not k.startswith("tokenizer.ggml.")}
        self.n_layer = int(f["llama.block_count"])
        self.n_embd = int(f["llama.embedding_length"])
        self.n_head = int(f["llama.attention.head_count"])
        self.n_head_kv = int(f["llama.attention.head_count_kv"])
        self.eps = float(f["llama.attention.layer_norm_rms_epsilon"])
        self.base = float(f.get("llama.rope.freq_base", 10000.0))
        self.head_dim = self.n_embd // self.n_head
        self.w = {}
        for t in r.tensors:
            a = gguf.quants.dequantize(t.data, t.tensor_type) if t.tensor_type not in (
                gguf.GGMLQuantizationType.F32,) else np.asarray(t.data)
            shape = tuple(int(x) for x in reversed(t.shape))  # numpy order: [rows, cols]
            self.w[t.name] = np.asarray(a, dtype=np.float32).reshape(shape).astype(dtype)
        self.out = self.w.get("output.weight", self.w["token_embd.weight"])

    def _norm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def _rope(self, x, pos):
        # llama.cpp LLAMA_ROPE_TYPE_NORM: rotate adjacent pairs (2i, 2i+1)
        d = self.head_dim
        inv = self.base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
        ang = pos[:, None] * inv[None, :]  # [T, d/2]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def logits(self, ids):
        T = len(ids)
        pos = np.arange(T, dtype=np.float64)
        x = self.w["token_embd.weight"][np.asarray(ids)]
        H, Hkv, D = self.n_head, self.n_head_kv, self.head_dim
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for l in range(self.n_layer):
            p = f"blk.{l}."
            h = self._norm(x, self.w[p + "attn_norm.weight"])
            q = (h @ self.w[p + "attn_q.weight"].T).reshape(T, H, D)
            k = (h @ self.w[p + "attn_k.weight"].T).reshape(T, Hkv, D)
            v = (h @ self.w[p + "attn_v.weight"].T).reshape(T, Hkv, D)
            q, k = self._rope(q, pos), self._rope(k, pos)
            rep = H // Hkv
            k = np.repeat(k, rep, axis=1)
            v = np.repeat(v, rep, axis=1)
            att = np.einsum("thd,shd->hts", q, k) / np.sqrt(D) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum("hts,shd->thd", att, v).reshape(T, H * D)
            x = x + o @ self.w[p + "attn_output.weight"].T
            h = self._norm(x, self.w[p + "ffn_norm.weight"])
            g = h @ self.w[p + "ffn_gate.weight"].T
            u = h @ self.w[p + "ffn_up.weight"].T
            x = x + ((g / (1 + np.exp(-g))) * u) @ self.w[p + "ffn_down.weight"].T
        x = self._norm(x, self.w["output_norm.weight"])
        return x @ self.out.T
