#!/usr/bin/env python3
"""Distributed generation benchmark: the same prompts through 1, 2 and 3 pipeline stages.

For each stage count it starts a local cluster (`tessera up`) whose worker memory budgets
force the model into that many stages, waits until a pipeline is ready, and measures through
the gateway's gRPC API: time to first token, decode tokens/s of a single stream, and the
aggregate tokens/s of 1, 4 and 16 concurrent streams. The per-hop overhead is the extra
decode time per token per added stage, compared with one stage; the bytes per hop per token
are the activation size (width x 4) plus framing.

    python3 scripts/bench/cluster-bench.py [--bin .build/release] [--tokens 64]
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import grpc

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about distributed systems.",
    "List three uses of a hash function.",
    "What is the capital of France, and why is it famous?",
]


def stubs(out: pathlib.Path):
    from grpc_tools import protoc
    files = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "tessera").rglob("*.proto")]
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}", f"--grpc_python_out={out}", *files]) == 0
    sys.path.insert(0, str(out))
    from tessera.v1 import gateway_pb2, gateway_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc, common_pb2
    return gateway_pb2, gateway_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc, common_pb2


def start_cluster(bin_dir, workers, memory_mb, offset, log_dir, max_batch=None):
    env = dict(os.environ)
    if max_batch:  # the workers inherit it (inference-worker --max-batch)
        env["TESSERA_WORKER_MAX_BATCH"] = str(max_batch)
    up = subprocess.Popen([str(bin_dir / "tessera"), "up", "--workers", str(workers), "--port-offset", str(offset),
                           "--worker-memory-mb", str(memory_mb), "--worker-threads", "1", "--log-dir", str(log_dir)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        if not line:
            raise RuntimeError("tessera up exited")
        if "cluster ready" in line:
            return up
    raise RuntimeError("cluster not ready")


def wait_pipeline(pb, rpc, port, stages):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        api = rpc.SchedulerStub(channel)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                plan = api.GetPlacement(pb.GetPlacementRequest())
                ready = [p for p in plan.pipelines if not p.draining and all(s.ready for s in p.stages)]
                if ready:
                    return plan
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise RuntimeError("no ready pipeline")


def generate(gpb, grpc_mod, port, prompt, tokens):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        api = grpc_mod.GatewayStub(channel)
        request = gpb.ChatRequest(messages=[gpb.ChatMessage(role="user", content=prompt)])
        request.sampling.temperature = 0
        request.sampling.max_tokens = tokens
        request.sampling.ignore_eos = True
        start = time.monotonic()
        first, count = None, 0
        for message in api.Chat(request, timeout=600):
            if message.token_ids and first is None:
                first = time.monotonic()
            count += len(message.token_ids)
        end = time.monotonic()
    return {"ttft": first - start, "decode_tps": (count - 1) / (end - first) if count > 1 else 0, "tokens": count,
            "seconds": end - start}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / ".build" / "debug"))
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--stages", default="1,2,3", help="which of the 1/2/3-stage clusters to run")
    parser.add_argument("--streams", default="1,4,16", help="concurrent streams per aggregate column")
    parser.add_argument("--max-batch", type=int, help="the workers' --max-batch (default: theirs; 1 = no batching)")
    args = parser.parse_args()
    stage_counts = {int(n) for n in args.stages.split(",")}
    stream_counts = [int(n) for n in args.streams.split(",")]
    bin_dir = pathlib.Path(args.bin)
    tmp = pathlib.Path(tempfile.mkdtemp())
    gpb, grpcmod, spb, srpc, _ = stubs(tmp)
    # Budgets that force the model into 1, 2 or 3 stages: 98 MB of weights (the tied
    # embedding counted again when the head sits on another stage) + a KV reserve of
    # 2 sessions x 2048 tokens (~94 MB over 30 layers). Two 85 MiB workers cannot hold it.
    configs = [c for c in [(1, 1, 4096), (2, 2, 150), (3, 3, 85)] if c[1] in stage_counts]
    results = []
    for index, (workers, stages, memory) in enumerate(configs):
        offset = 30000 + index * 100
        up = start_cluster(bin_dir, workers, memory, offset, tmp / f"logs{workers}", args.max_batch)
        try:
            plan = wait_pipeline(spb, srpc, 7401 + offset, stages)
            used = max(len(p.stages) for p in plan.pipelines)
            if used != stages:
                print(f"note: {workers} workers at {memory} MiB were planned as {used} stage(s), not {stages}", flush=True)
            gw = 7400 + offset
            generate(gpb, grpcmod, gw, "warm up", 4)
            single = [generate(gpb, grpcmod, gw, p, args.tokens) for p in PROMPTS[:2]]
            row = {"workers": workers, "stages": used,
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
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
    base = results[0]
    print("\nstages  TTFT ms  decode tok/s  overhead/hop µs  " + "  ".join(f"agg@{n:<3}" for n in stream_counts))
    for row in results:
        hops = row["stages"] - 1
        overhead = ((1 / row["decode_tps"] - 1 / base["decode_tps"]) / hops * 1e6) if hops else 0
        print(f"{row['stages']:>6}  {row['ttft_ms']:7.1f}  {row['decode_tps']:12.1f}  {overhead:15.0f}  "
              + "  ".join(f"{row[f'aggregate_tps_{n}']:7.1f}" for n in stream_counts))
    print("bytes per hop per token: 576 x 4 = 2304 activation bytes + gRPC/HTTP2 framing")


if __name__ == "__main__":
    main()
