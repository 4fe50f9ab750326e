#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) baseline for Tessera's engine benchmarks.

  llamacpp-bench.py --model PATH [--prompt-tokens 128] [--gen-tokens 64] [--threads 1]
                    [--runs 1] [--no-warmup] [--json]

Every measurement runs in a fresh Python subprocess, so peak RSS is clean. In it:
load the model (mmap on, n_ctx >= N+M, n_batch = n_ubatch >= N, n_threads and
n_threads_batch = T, flash attention off), optionally warm up with one
single-token decode (then clear the KV cache), prefill a fixed prompt of exactly N
tokens in one llama_decode (timed), then greedily decode M tokens one llama_decode
each (only the decode calls are timed; argmax happens outside the timer).

Prints one JSON object. peak_rss_bytes is ru_maxrss of the worker (includes the
Python interpreter, numpy and llama-cpp-python; baseline_rss_bytes is the RSS
measured just before the model load, for reference). With --runs K > 1 the
top-level numbers are medians (plus prefill_tps_best / decode_tps_best) and each
run is listed under "runs".
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

PROMPT_SEED_TEXT = (
    "Tessera runs small language models on edge nodes. Each node keeps its weights in memory "
    "mapped files, serves requests from nearby clients and reports its load to its peers. "
    "The scheduler picks the node with the warmest cache and the shortest queue. "
)


def worker(args) -> dict:
    import resource
    import time

    import numpy as np

    def rss_now() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    import importlib.metadata

    import llama_cpp

    N, M, T = args.prompt_tokens, args.gen_tokens, args.threads
    baseline_rss = rss_now()
    n_ctx = max(N + M + 8, 64)
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=n_ctx, n_batch=max(N, 1), n_ubatch=max(N, 1),
                          n_threads=T, n_threads_batch=T, use_mmap=True, logits_all=False,
                          flash_attn=False, n_gpu_layers=0, verbose=False)
    load_s = time.perf_counter() - t0

    ids = []
    text = PROMPT_SEED_TEXT
    while len(ids) < N:
        ids = llm.tokenize(text.encode(), add_bos=True, special=False)
        text += PROMPT_SEED_TEXT
    ids = ids[:N]
    n_vocab = llm.n_vocab()

    def last_logits():
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(n_vocab,))

    if not args.no_warmup:
        llm.reset()
        llm.eval(ids[:1])
        llm.reset()

    t0 = time.perf_counter()
    llm.eval(ids)
    prefill_s = time.perf_counter() - t0

    tok = int(np.argmax(last_logits()))
    decode_s = 0.0
    out = []
    for _ in range(M):
        out.append(tok)
        t0 = time.perf_counter()
        llm.eval([tok])
        decode_s += time.perf_counter() - t0
        tok = int(np.argmax(last_logits()))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "engine": "llama.cpp",
        "llama_cpp_version": f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}, "
                             f"llama.cpp {llama_cpp.llama_version().decode()}",
        "threads": T,
        "prompt_tokens": N,
        "gen_tokens": M,
        "prefill_tps": round(N / prefill_s, 2),
        "decode_tps": round(M / decode_s, 2) if M else None,
        "prefill_seconds": round(prefill_s, 4),
        "decode_seconds": round(decode_s, 4),
        "peak_rss_bytes": peak,
        "baseline_rss_bytes": baseline_rss,
        "load_seconds": round(load_s, 4),
        "warmup": not args.no_warmup,
        "model": os.path.abspath(args.model),
        "generated_ids_head": out[:8],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=1, help="fresh-process measurements (median reported)")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--json", action="store_true", help="print compact single-line JSON")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prompt_tokens < 1 or args.gen_tokens < 0 or args.threads < 1:
        ap.error("need --prompt-tokens >= 1, --gen-tokens >= 0, --threads >= 1")

    if args.worker:
        print(json.dumps(worker(args)))
        return

    runs = []
    for _ in range(max(1, args.runs)):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--model", args.model,
               "--prompt-tokens", str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens),
               "--threads", str(args.threads)] + (["--no-warmup"] if args.no_warmup else [])
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit(f"benchmark worker failed (exit {p.returncode})")
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))

    result = dict(runs[0])
    if len(runs) > 1:
        for k in ("prefill_tps", "decode_tps", "prefill_seconds", "decode_seconds", "load_seconds"):
            result[k] = round(statistics.median(r[k] for r in runs), 4)
        result["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in runs)
        # On a shared machine the best run is the least disturbed one.
        result["prefill_tps_best"] = max(r["prefill_tps"] for r in runs)
        result["decode_tps_best"] = max(r["decode_tps"] or 0 for r in runs)
        result["runs"] = [{k: r[k] for k in ("prefill_tps", "decode_tps", "peak_rss_bytes", "load_seconds")}
                          for r in runs]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
