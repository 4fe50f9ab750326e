#!/usr/bin/env python3
"""Writes the llama.cpp references for the real Gemma 3 270M model (scripts/fetch-model gemma3-270m):

  Tests/Reference/tokenization/gemma3-270m.json   tokenizer ids (make_tokenization.py's format)
  Tests/Reference/gemma3-270m/logits.json         greedy continuations + top-10 logits
                                                   (make_logits.py's format, no float64 twin)

Tokenization: the shared cases of tokenizer_cases.py plus Gemma's own control tokens, each
plain text also with BOS requested (llama_tokenize add_special=true: BOS is added because
the GGUF's tokenizer.ggml.add_bos_token is true).

Logits: plain prompts and single-turn chats rendered in Gemma's turn format (the file has no
chat template; this is the text Tessera's `gemma` template and llama.cpp's built-in `gemma`
template produce), tokenized with BOS and special parsing, greedy N_GEN tokens one
llama_decode each, then prompt+continuation as one batch (teacher forcing), top-10 per
position. Settings as make_logits.py (n_threads 2, f16 KV cache, no flash attention).
"""
from __future__ import annotations

import sys

import llama_cpp
import numpy as np

import make_tokenization as mt
import refcommon as rc
import tokenizer_cases

MODEL = rc.MODEL_DIR / "gemma3-270m.gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
N_GEN = 24
TOP_K = 10
SETTINGS = dict(n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2, n_threads_batch=2,
                logits_all=True, seed=1234, flash_attn=False, use_mmap=True, n_gpu_layers=0)

GEMMA_SPECIAL = [
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn><end_of_turn><bos><eos><pad>",
    "not special: <start_of_turn > <end_of_turn <start_of_turn>",
    "<start_of_image> image tokens <end_of_image>",
]
GEMMA_PLAIN = [
    "Gemma's SentencePiece keeps   runs of spaces\tand\ttabs",
    "    indented code\n        deeper\n",
    "\n\n\n\n\n\n\n\n\n\nmany newlines",
    "<b>HTML</b> &amp; <i>markup</i> <div class=\"x\">",
    "Ｆｕｌｌｗｉｄｔｈ ａｎｄ　ideographic space",
    "mixed 中文 English 日本語 한국어 text 123",
    "emoji at end 🤖",
    "▁ the SentencePiece space marker itself ▁▁",
    "byte fallback: \U0001F9EC\U0001FAE0\u2e80\u31ef",
]


SHARED_CASES = tokenizer_cases.cases


def gemma_cases():
    cases = list(SHARED_CASES())
    for text in GEMMA_PLAIN:
        cases.append((text, False, False))
    for text in GEMMA_SPECIAL:
        cases.append((text, True, True))
        cases.append((text, False, True))
    # the model's default: BOS added
    for text, special, _ in list(SHARED_CASES())[:40:3]:
        cases.append((text, special, True))
    return cases


PLAIN = [
    ("plain-capital", "The capital of France is"),
    ("plain-story", "Once upon a time, in a small village by the sea, there lived an old fisherman who"),
    ("plain-code", 'def is_prime(n):\n    """Return True if n is a prime number."""\n'),
    ("plain-list", "Shopping list:\n1. Milk\n2. Eggs\n3."),
]
CHAT = [
    ("chat-fact", "What is the capital of Japan?"),
    ("chat-code", "Write a Python function that reverses a string."),
    ("chat-spanish", "¿Cuál es el río más largo del mundo?"),
]


def gemma_turn(user: str) -> str:
    return f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"


def top_entries(row: np.ndarray):
    idx = np.argsort(-row, kind="stable")[:TOP_K]
    return {"top": [[int(i), round(float(row[i]), 4)] for i in idx],
            "margin": round(float(row[idx[0]] - row[idx[1]]), 4)}


def logits_reference(digest: str) -> dict:
    llm = llama_cpp.Llama(model_path=str(MODEL), verbose=False, **SETTINGS)
    prompts = []
    for chat, items in ((False, PLAIN), (True, CHAT)):
        for name, payload in items:
            text = gemma_turn(payload) if chat else payload
            ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
            llm.reset()
            llm.eval(ids)
            cont = []
            for _ in range(N_GEN):
                tok = int(np.argmax(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)))
                cont.append(tok)
                llm.eval([tok])
            llm.reset()
            llm.eval(ids + cont)
            P = len(ids)
            batch = np.array(llm.scores[P - 1:P + N_GEN], dtype=np.float32)
            positions = [top_entries(batch[i]) for i in range(N_GEN + 1)]
            tf_argmax = [int(np.argmax(batch[i])) for i in range(N_GEN)]
            entry = {"name": name, "chat": chat, "text": text, "prompt_ids": ids,
                     "continuation_ids": cont,
                     "continuation_text": llm.detokenize(cont, special=True).decode("utf-8", "replace"),
                     "teacher_forced_argmax_matches": tf_argmax == cont,
                     "positions": positions}
            prompts.append(entry)
            print(f"{name}: {P} prompt tokens, min margin {min(p['margin'] for p in positions):.3f}: "
                  f"{entry['continuation_text']!r}", file=sys.stderr)
    settings = dict(SETTINGS)
    settings.update({"kv_cache_type": "f16 (llama.cpp default)",
                     "add_bos": "model default (tokenizer.ggml.add_bos_token=true)",
                     "tokenize_special": True, "n_gen": N_GEN,
                     "greedy": "argmax of llama.cpp logits, no stop at end of generation",
                     "chat_rendering": "Gemma turn format (the GGUF has no chat template)",
                     "logit_rounding": 4, "top_k": TOP_K,
                     "system_info": llama_cpp.llama_print_system_info().decode().strip()})
    return {"model": "gemma3-270m", "model_sha256": digest, "llama_cpp_version": rc.llama_cpp_version(),
            "settings": settings, "prompts": prompts}


def main():
    if not MODEL.exists():
        raise SystemExit(f"{MODEL} missing: run scripts/fetch-model gemma3-270m")
    digest = rc.sha256_file(MODEL)
    assert digest == MODEL_SHA256, f"unexpected model hash {digest}"
    tokenizer_cases.cases = gemma_cases  # make_tokenization.build reads its cases from here
    tok = mt.build(MODEL, "gemma3-270m", {"vocab_file": "gemma3-270m.gguf", "model_sha256": digest,
                                          "llama_cpp_version": rc.llama_cpp_version()})
    rc.write_json(rc.REF_DIR / "tokenization" / "gemma3-270m.json", tok)
    rc.write_json(rc.REF_DIR / "gemma3-270m" / "logits.json", logits_reference(digest))


if __name__ == "__main__":
    main()
