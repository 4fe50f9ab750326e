"""llama.cpp's perplexity on given tokens, for Tests/CompressionTests/PerplexityReferenceTests.swift.

  perplexity_reference.py MODEL TOKENS.i32 N_CTX

Computes perplexity as llama.cpp's `llama-perplexity` does: non-overlapping windows of N_CTX
tokens (a partial last window dropped), each evaluated from an empty cache with every
position's logits (llama-cpp-python, logits_all=True), scoring positions N_CTX/2 .. N_CTX-2
against the next token. The model's add_bos_token is false for SmolLM2, so no token is
replaced by BOS (the caller passes the tokens it wants evaluated). Prints one JSON object:
{"perplexity": ..., "scored": ..., "windows": ...}.
"""
from __future__ import annotations

import json
import sys

import numpy as np
from llama_cpp import Llama


def main() -> None:
    model, tokens_path, n_ctx = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tokens = np.fromfile(tokens_path, dtype=np.int32).tolist()
    llm = Llama(model, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True,
                n_threads=2, verbose=False)
    first = n_ctx // 2
    nll = 0.0
    scored = 0
    windows = len(tokens) // n_ctx
    for w in range(windows):
        window = tokens[w * n_ctx:(w + 1) * n_ctx]
        llm.reset()
        llm.eval(window)
        logits = np.asarray(llm.scores[:n_ctx], dtype=np.float64)
        for row in range(first, n_ctx - 1):
            x = logits[row]
            m = x.max()
            log_z = m + np.log(np.exp(x - m).sum())
            nll += log_z - x[window[row + 1]]
            scored += 1
    print(json.dumps({"perplexity": float(np.exp(nll / scored)), "scored": scored, "windows": windows}))


if __name__ == "__main__":
    main()
