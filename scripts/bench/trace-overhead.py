#!/usr/bin/env python3
"""What tracing costs: decode throughput of a two-stage cluster with tracing off and with
tracing on (every service exporting over OTLP/gRPC to a receiver in this process), on the
same build in the same run.

Each round starts two clusters side by side (`tessera up`, two workers each, forced into two
stages), one traced and one not, and loads both at the same time with `--streams` concurrent
greedy chats of `--tokens` tokens, `--repeats` times: whatever else the machine does weighs
on both alike (run one after the other, on a shared 2-core machine, the rounds differed by
more than 20%). The traced cluster alternates between the two port ranges. Prints each
round's tokens/s and CPU time per generated token (the cluster's processes but the
verifier, from /proc)
and the mean on/off ratios (docs/tracing.md, "Overhead").

    python3 scripts/bench/trace-overhead.py [--bin .build/debug] [--rounds 2] [--decode-every 16]
"""
import argparse
import concurrent.futures
import os
import pathlib
import statistics
import tempfile
import threading
import time

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from benchlib import ROOT, STAGE_BUDGETS, grpc_metadata, start_cluster, stop_cluster, stubs, wait_pipeline

PROMPT = "Write a short story about a lighthouse keeper."


class CountingReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self):
        self.spans, self.lock = 0, threading.Lock()

    def Export(self, request, context):
        count = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        with self.lock:
            self.spans += count
        return trace_service_pb2.ExportTraceServiceResponse()


def chat(gpb, grpc_mod, port, tokens):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = gpb.ChatRequest(messages=[gpb.ChatMessage(role="user", content=PROMPT)])
        request.sampling.temperature = 0
        request.sampling.max_tokens = tokens
        request.sampling.ignore_eos = True
        return sum(len(m.token_ids) for m in grpc_mod.GatewayStub(channel).Chat(
            request, timeout=600, metadata=grpc_metadata()))


def descendants(pid):
    """The processes under `pid` (tessera up's services), from /proc."""
    children = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_seconds(pids):
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def start(bin_dir, traced, endpoint, args, offset, logs):
    """A two-stage cluster at `offset`, exporting spans to `endpoint` when `traced`."""
    os.environ["TESSERA_INSECURE"] = "1"  # this script's clients speak plaintext gRPC
    if traced:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        os.environ["TESSERA_TRACE_DECODE_EVERY"] = str(args.decode_every)
    else:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    os.environ["TESSERA_SHARD_DIR"] = str(pathlib.Path(logs) / "shards")  # one per cluster
    workers, memory = STAGE_BUDGETS[2]
    return start_cluster(bin_dir, workers, memory, offset, logs)


def load(stub, port, services, args):
    """`--streams` concurrent chats: (tokens, seconds, CPU seconds of the cluster)."""
    gpb, grpc_mod = stub[0], stub[1]
    begin, cpu = time.monotonic(), cpu_seconds(services)
    with concurrent.futures.ThreadPoolExecutor(args.streams) as pool:
        counts = list(pool.map(lambda _: chat(gpb, grpc_mod, port, args.tokens), range(args.streams)))
    return sum(counts), time.monotonic() - begin, cpu_seconds(services) - cpu


def run_round(bin_dir, traced_offset, endpoint, args, stub):
    """Two clusters at once, one traced, under the same load at the same time: whatever else
    the machine does weighs on both alike. Returns {traced: (tok/s, CPU s per token)}."""
    spb, srpc = stub[2], stub[3]
    other = args.port_offset + 1000 if traced_offset == args.port_offset else args.port_offset
    offsets = {True: traced_offset, False: other}
    with tempfile.TemporaryDirectory() as logs:
        ups = {}
        try:
            for traced, offset in offsets.items():
                directory = pathlib.Path(logs) / str(traced)
                directory.mkdir()
                ups[traced] = start(bin_dir, traced, endpoint, args, offset, directory)
            for traced, offset in offsets.items():
                wait_pipeline(spb, srpc, 7401 + offset, stages=2)
                chat(stub[0], stub[1], 7400 + offset, 8)  # warm-up (vocabulary, first sessions)
            # The verifier's work is replaying a sample of the receipts: left out, it is noise.
            services = {traced: [pid for pid in descendants(up.pid) if command(pid) != "verifier"]
                        for traced, up in ups.items()}
            totals = {traced: [0, 0.0, 0.0] for traced in offsets}
            for _ in range(args.repeats):
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    runs = {traced: pool.submit(load, stub, 7400 + offset, services[traced], args)
                            for traced, offset in offsets.items()}
                    for traced, run in runs.items():
                        for index, value in enumerate(run.result()):
                            totals[traced][index] += value
            return {traced: (tokens / seconds, cpu / tokens) for traced, (tokens, seconds, cpu) in totals.items()}
        finally:
            for up in ups.values():
                stop_cluster(up)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / ".build" / "debug"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--decode-every", type=int, default=16)
    parser.add_argument("--port-offset", type=int, default=3000)
    args = parser.parse_args()

    receiver = CountingReceiver()
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    endpoint = f"http://127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    ratios, cpu_ratios = [], []
    with tempfile.TemporaryDirectory() as out:
        stub = stubs(pathlib.Path(out))
        for round_number in range(args.rounds):
            # The traced cluster alternates between the two port ranges.
            traced_offset = args.port_offset + (1000 if round_number % 2 else 0)
            before = receiver.spans
            result = run_round(args.bin, traced_offset, endpoint, args, stub)
            (on, cpu_on), (off, cpu_off) = result[True], result[False]
            ratios.append(on / off)
            cpu_ratios.append(cpu_on / cpu_off)
            print(f"round {round_number + 1}: off {off:6.2f} tok/s {cpu_off * 1000:6.2f} ms CPU/token, "
                  f"on {on:6.2f} tok/s {cpu_on * 1000:6.2f} ms CPU/token: on/off {on / off:.4f}, "
                  f"CPU {cpu_on / cpu_off:.4f} ({receiver.spans - before} spans exported)", flush=True)
    server.stop(grace=None)
    ratio, cpu_ratio = statistics.mean(ratios), statistics.mean(cpu_ratios)
    spread = statistics.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else 0
    print(f"throughput on/off = {ratio:.4f} ± {spread:.4f} (mean of {len(ratios)} rounds ± standard error), "
          f"CPU per token on/off = {cpu_ratio:.4f}; decode steps traced 1 in {args.decode_every}, "
          f"{args.streams} streams x {args.tokens} tokens per cluster")


if __name__ == "__main__":
    main()
