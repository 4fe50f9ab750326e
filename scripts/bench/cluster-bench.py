#!/usr/bin/env python3
"""Distributed generation benchmark: the same prompts through 1, 2 and 3 pipeline stages.

For each stage count it starts a local cluster (`tessera up`) whose worker memory budgets
force the model into that many stages, waits until a pipeline is ready, and measures through
the gateway's gRPC API: time to first token, decode tokens/s of a single stream, and the
aggregate tokens/s of 1, 4 and 16 concurrent streams. The per-hop overhead is the extra
decode time per token per added stage, compared with one stage; the bytes per hop per token
are the activation size (width x 4) plus framing. `--answers direct,relayed` runs each
pipeline of two or more stages both ways (the gateway's --answers: the last stage answers
the gateway directly, or the answer goes back up through every stage), one after the other.

    python3 scripts/bench/cluster-bench.py [--bin .build/release] [--tokens 64]
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import tempfile
import time

import grpc

from benchlib import ROOT, STAGE_BUDGETS, generate, start_cluster, stop_cluster, stubs, wait_pipeline

PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about distributed systems.",
    "List three uses of a hash function.",
    "What is the capital of France, and why is it famous?",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / ".build" / "debug"))
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--stages", default="1,2,3", help="which of the 1/2/3-stage clusters to run")
    parser.add_argument("--streams", default="1,4,16", help="concurrent streams per aggregate column")
    parser.add_argument("--max-batch", type=int, help="the workers' --max-batch (default: theirs; 1 = no batching)")
    parser.add_argument("--answers", default="direct",
                        help="the gateway's --answers for 2+ stages: direct, relayed, or both (direct,relayed)")
    args = parser.parse_args()
    stage_counts = {int(n) for n in args.stages.split(",")}
    if not stage_counts <= set(STAGE_BUDGETS):
        parser.error(f"--stages: each must be one of {sorted(STAGE_BUDGETS)}")
    stream_counts = [int(n) for n in args.streams.split(",")]
    bin_dir = pathlib.Path(args.bin)
    tmp = pathlib.Path(tempfile.mkdtemp())
    gpb, grpcmod, spb, srpc, _ = stubs(tmp)
    modes = args.answers.split(",")
    if not set(modes) <= {"direct", "relayed"}:
        parser.error("--answers: direct, relayed or both")
    configs = [(STAGE_BUDGETS[s][0], s, STAGE_BUDGETS[s][1], mode if s > 1 else "-")
               for s in sorted(stage_counts) for mode in (modes if s > 1 else ["-"])]
    results = []
    for index, (workers, stages, memory, mode) in enumerate(configs):
        offset = 30000 + index * 100
        if mode != "-":  # `tessera up` passes it on to the gateway
            os.environ["TESSERA_GATEWAY_ANSWERS"] = mode
        # The small budgets that force the stage split would derive 1-4 session slots (KV at the
        # full served context); as many as the widest column has streams, as llama-server's -np.
        up = start_cluster(bin_dir, workers, memory, offset, tmp / f"logs{workers}", args.max_batch,
                           extra_args=["--worker-max-sessions", str(max(stream_counts))])
        try:
            plan = wait_pipeline(spb, srpc, 7401 + offset, stages)
            used = max(len(p.stages) for p in plan.pipelines)
            if used != stages:
                print(f"note: {workers} workers at {memory} MiB were planned as {used} stage(s), not {stages}", flush=True)
            gw = 7400 + offset
            generate(gpb, grpcmod, gw, "warm up", 4)
            single = [generate(gpb, grpcmod, gw, p, args.tokens) for p in PROMPTS[:2]]
            row = {"workers": workers, "stages": used, "answers": mode,
                   "ttft_ms": 1000 * sum(r["ttft"] for r in single) / len(single),
                   "decode_tps": sum(r["decode_tps"] for r in single) / len(single)}
            for concurrency in stream_counts:
                start = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                    runs = list(pool.map(lambda i: generate(gpb, grpcmod, gw, PROMPTS[i % len(PROMPTS)], args.tokens),
                                         range(concurrency)))
                elapsed = time.monotonic() - start
                row[f"aggregate_tps_{concurrency}"] = sum(r["tokens"] for r in runs) / elapsed
            results.append(row)
            print(json.dumps(row), flush=True)
        finally:
            stop_cluster(up)
    base = results[0]
    print("\nstages  answers  TTFT ms  decode tok/s  overhead/hop µs  " + "  ".join(f"agg@{n:<3}" for n in stream_counts))
    for row in results:
        hops = row["stages"] - 1
        overhead = ((1 / row["decode_tps"] - 1 / base["decode_tps"]) / hops * 1e6) if hops else 0
        print(f"{row['stages']:>6}  {row['answers']:>7}  {row['ttft_ms']:7.1f}  {row['decode_tps']:12.1f}  {overhead:15.0f}  "
              + "  ".join(f"{row[f'aggregate_tps_{n}']:7.1f}" for n in stream_counts))
    print("bytes per hop per token: 576 x 4 = 2304 activation bytes + gRPC/HTTP2 framing")


if __name__ == "__main__":
    main()
