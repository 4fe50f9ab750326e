#!/usr/bin/env python3
"""Writes Tests/Reference/tokenization/<name>.json with llama.cpp's tokenizer.

  make_tokenization.py                 default model + the vocab-only GGUFs present
                                       in $TESSERA_MODEL_DIR/vocab (see scripts/fetch-vocabs)

ids: llama_tokenize(text, add_special=add_bos, parse_special=special) through
llama_cpp.Llama(vocab_only=True).tokenize(). detokenized: llama_detokenize(ids,
remove_special=False, unparse_special=True), i.e. special tokens rendered as text.
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import sys
from pathlib import Path

import llama_cpp

import refcommon as rc
import tokenizer_cases

VOCABS = ["llama-bpe", "qwen2", "gpt-2", "llama-spm", "starcoder"]


def detokenize(llm, ids, unparse_special=True, remove_special=False) -> bytes:
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 256 + 16 * len(ids)
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, remove_special, unparse_special)
        if n >= 0:
            return buf.raw[:n]
        size = -n + 16


def build(path: Path, vocab_name: str, extra: dict) -> dict:
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    meta = llm.metadata
    out_cases = []
    roundtrip_fail = 0
    for text, special, add_bos in tokenizer_cases.cases():
        ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)
        det = detokenize(llm, ids)
        try:
            det_s = det.decode("utf-8")
            ok = True
        except UnicodeDecodeError:
            det_s = None
            ok = False
        case = {"text": text, "special": special, "add_bos": add_bos, "ids": ids, "detokenized": det_s}
        if not ok:
            case["detokenized_hex"] = det.hex()
        if det_s != text:
            roundtrip_fail += 1
        out_cases.append(case)
    obj = {"vocab": vocab_name}
    obj.update(extra)
    obj.update({
        "llama_cpp_python_version": importlib.metadata.version("llama-cpp-python"),
        "llama_cpp_commit": rc.LLAMA_CPP_COMMIT,
        "tokenizer_model": meta.get("tokenizer.ggml.model"),
        "tokenizer_pre": meta.get("tokenizer.ggml.pre"),
        "add_bos_token_default": meta.get("tokenizer.ggml.add_bos_token"),
        "gguf_tokenizer_metadata": {k: v for k, v in sorted(meta.items())
                                    if k.startswith("tokenizer.ggml.")},
        "bos_id": llm.token_bos(),
        "eos_id": llm.token_eos(),
        "n_vocab": llm.n_vocab(),
        "detokenize_call": "llama_detokenize(ids, remove_special=false, unparse_special=true)",
        "cases": out_cases,
    })
    print(f"{vocab_name}: {len(out_cases)} cases, {roundtrip_fail} where detokenized != text", file=sys.stderr)
    return obj


def main():
    model = rc.DEFAULT_MODEL
    digest = rc.sha256_file(model)
    assert digest == rc.DEFAULT_MODEL_SHA256, f"unexpected model hash {digest}"
    obj = build(model, "smollm2-135m", {"model_sha256": digest, "llama_cpp_version": rc.llama_cpp_version()})
    rc.write_json(rc.REF_DIR / "tokenization" / "smollm2-135m.json", obj)
    vdir = rc.MODEL_DIR / "vocab"
    for name in VOCABS:
        p = vdir / f"ggml-vocab-{name}.gguf"
        if not p.exists():
            print(f"skip {name}: {p} missing (run scripts/fetch-vocabs)", file=sys.stderr)
            continue
        obj = build(p, name, {"vocab_file": f"vocab/ggml-vocab-{name}.gguf",
                              "vocab_sha256": rc.sha256_file(p),
                              "llama_cpp_version": rc.llama_cpp_version()})
        rc.write_json(rc.REF_DIR / "tokenization" / f"{name}.json", obj)


if __name__ == "__main__":
    main()
