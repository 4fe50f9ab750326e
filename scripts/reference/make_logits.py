#!/usr/bin/env python3
"""Writes Tests/Reference/logits.json: llama.cpp logits for the default model.

For each prompt: tokenize, greedy-generate 32 tokens one token per llama_decode
(argmax of llama.cpp's logits, no stop at EOS), then evaluate prompt+continuation
as ONE batch (teacher forcing) and record top-10 logits for the last prompt
position and every continuation position (33 positions; position i predicts
continuation token i, the last one predicts the token after the continuation).

Also writes Tests/Reference/logits_exact.json: the same prompt+continuation ids run
through numpy_llama.py (float64 NumPy forward pass over the gguf-py-dequantized
weights: no activation quantization, float64 KV), in the same format. llama.cpp's
CPU path quantizes activations to 8 bits for the quantized matmuls (Q8_1 for Q4_1
weights, Q8_0 for the Q8_0 output matrix) and keeps K/V in f16, so its logits
deviate from the exact result by up to ~1 logit; both files record the gaps.
"""
from __future__ import annotations

import sys

import llama_cpp
import numpy as np

import make_chat_templates as mct
import refcommon as rc
from numpy_llama import NumpyLlama

N_GEN = 32
TOP_K = 10

SETTINGS = dict(n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2, n_threads_batch=2,
                logits_all=True, seed=1234, flash_attn=False, use_mmap=True, n_gpu_layers=0)

LONG_TEXT = (
    "Edge networks place small servers close to the people who use them: in cell towers, "
    "retail stores, factories and home routers. Running a language model there cuts the "
    "round trip to a distant data center, keeps private text on local hardware and keeps "
    "working when the uplink fails. The price is tight memory, few cores and power limits, "
    "so models must be quantized, caches must be shared carefully and requests must be routed "
    "to whichever node has a warm copy of the weights. Operators also want predictable tail "
    "latency and clear metrics, because nobody is on site at night. A scheduler that"
)

PLAIN = [
    ("plain-short", "Once upon a"),
    ("plain-capital", "The capital of France is"),
    ("plain-story", "Once upon a time, in a small village by the sea, there lived an old fisherman who"),
    ("plain-code", 'def is_prime(n):\n    """Return True if n is a prime number."""\n'),
    ("plain-list", "Shopping list:\n1. Milk\n2. Eggs\n3."),
    ("plain-french", "La cuisine française est célèbre dans le monde entier pour"),
    ("plain-long", LONG_TEXT),
]

CHAT = [
    ("chat-hi", [{"role": "user", "content": "Hi!"}]),
    ("chat-fact", [{"role": "user", "content": "What is the capital of Japan?"}]),
    ("chat-code", [{"role": "user", "content": "Write a Python function that reverses a string."}]),
    ("chat-list", [{"role": "user", "content": "List five fruits, one per line."}]),
    ("chat-spanish", [{"role": "user", "content": "¿Cuál es el río más largo del mundo?"}]),
    ("chat-system", [{"role": "system", "content": "You are a cheerful pirate. Answer briefly."},
                     {"role": "user", "content": "How is the weather today?"}]),
    ("chat-multiturn", [{"role": "user", "content": "I have 3 apples and buy 5 more."},
                        {"role": "assistant", "content": "Then you have 8 apples."},
                        {"role": "user", "content": "I eat two of them. How many apples are left? Explain step by step."}]),
]


def top_entries(row: np.ndarray):
    idx = np.argsort(-row, kind="stable")[:TOP_K]
    top = [[int(i), round(float(row[i]), 4)] for i in idx]
    return {"top": top, "margin": round(float(row[idx[0]] - row[idx[1]]), 4)}


def main():
    digest = rc.sha256_file(rc.DEFAULT_MODEL)
    assert digest == rc.DEFAULT_MODEL_SHA256, digest
    llm = llama_cpp.Llama(model_path=str(rc.DEFAULT_MODEL), verbose=False, **SETTINGS)
    tmpl = mct.model_template()
    exact_model = NumpyLlama(rc.DEFAULT_MODEL)
    prompts_out, exact_out = [], []
    for chat, items in ((False, PLAIN), (True, CHAT)):
        for name, payload in items:
            text = mct.render_jinja(tmpl, payload, True) if chat else payload
            ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
            # free-running greedy, one llama_decode per generated token
            llm.reset()
            llm.eval(ids)
            cont, inc_logits = [], []
            for _ in range(N_GEN):
                row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
                inc_logits.append(row)
                tok = int(np.argmax(row))
                cont.append(tok)
                llm.eval([tok])
            inc_logits.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
            # teacher forcing: prompt + continuation in one batch
            llm.reset()
            llm.eval(ids + cont)
            P = len(ids)
            batch = np.array(llm.scores[P - 1:P + N_GEN], dtype=np.float32)
            assert batch.shape[0] == N_GEN + 1
            positions = [top_entries(batch[i]) for i in range(N_GEN + 1)]
            tf_argmax = [int(np.argmax(batch[i])) for i in range(N_GEN)]
            matches = tf_argmax == cont
            diff = float(np.max(np.abs(np.stack(inc_logits) - batch)))
            first_mismatch = next((i for i in range(N_GEN) if tf_argmax[i] != cont[i]), None)
            entry = {"name": name, "chat": chat, "text": text, "prompt_ids": ids,
                     "continuation_ids": cont,
                     "continuation_text": llm.detokenize(cont, special=True).decode("utf-8", "replace"),
                     "teacher_forced_argmax_matches": matches,
                     "max_abs_logit_diff_incremental_vs_batch": round(diff, 4),
                     "positions": positions}
            if first_mismatch is not None:
                entry["first_mismatch_position"] = first_mismatch
            exact = exact_model.logits(ids + cont)[P - 1:P + N_GEN].astype(np.float64)
            ex_argmax = [int(np.argmax(exact[i])) for i in range(N_GEN)]
            exd = np.abs(batch.astype(np.float64) - exact)
            top_ids = np.argsort(-exact, axis=1)[:, :TOP_K]
            entry["max_abs_logit_diff_vs_exact"] = round(float(exd.max()), 4)
            entry["max_abs_logit_diff_vs_exact_top10"] = round(float(np.take_along_axis(exd, top_ids, 1).max()), 4)
            entry["exact_argmax_matches"] = ex_argmax == cont
            exact_out.append({"name": name, "chat": chat, "text": text, "prompt_ids": ids,
                              "continuation_ids": cont,
                              "exact_argmax_matches_continuation": ex_argmax == cont,
                              "exact_argmax": ex_argmax,
                              "positions": [top_entries(exact[i]) for i in range(N_GEN + 1)]})
            print(f"   vs exact: max {exd.max():.4f}, top10 {entry['max_abs_logit_diff_vs_exact_top10']:.4f}, "
                  f"argmax match {ex_argmax == cont}", file=sys.stderr)
            prompts_out.append(entry)
            print(f"{name}: {P} prompt tokens, argmax match {matches}, max|inc-batch| {diff:.4f}, "
                  f"min margin {min(p['margin'] for p in positions):.4f}: {entry['continuation_text']!r}",
                  file=sys.stderr)
    settings = dict(SETTINGS)
    settings.update({"kv_cache_type": "f16 (llama.cpp default)", "add_bos": "model default (tokenizer.ggml.add_bos_token=false, so no BOS)",
                     "tokenize_special": True, "greedy": "argmax of llama.cpp logits (first index on ties), no stop at EOS",
                     "generation": "prompt evaluated as one batch, then one llama_decode per generated token",
                     "teacher_forced": "prompt+continuation evaluated as one batch",
                     "chat_rendering": "tokenizer.chat_template via jinja2 with add_generation_prompt=true",
                     "logit_rounding": 4, "top_k": TOP_K, "system_info": llama_cpp.llama_print_system_info().decode().strip()})
    obj = {"model": "smollm2-135m", "model_sha256": digest, "llama_cpp_version": rc.llama_cpp_version(),
           "settings": settings, "prompts": prompts_out}
    rc.write_json(rc.REF_DIR / "logits.json", obj)
    rc.write_json(rc.REF_DIR / "logits_exact.json", {
        "model": "smollm2-135m", "model_sha256": digest,
        "engine": "scripts/reference/numpy_llama.py (float64 NumPy, weights dequantized by gguf-py "
                  "to float32 then widened; RMSNorm eps, rope NORM type with freq_base from GGUF)",
        "ids_source": "prompt_ids and continuation_ids are the llama.cpp ones from logits.json",
        "logit_rounding": 4, "top_k": TOP_K, "prompts": exact_out})


if __name__ == "__main__":
    main()
