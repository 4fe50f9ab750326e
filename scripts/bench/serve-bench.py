#!/usr/bin/env python3
"""Serving benchmark: Tessera (1, 2 and 3 stages) and llama.cpp's `llama-server`, side by side.

    scripts/bench/serve-bench.py [--bin .build-release/release] [--stages 1,2,3] [--streams 1,4,16,32]
                                 [--tokens 64-128] [--llama-server PATH] [--out DIR] [--churn 1000]

Both serve the same GGUF (the default model, where `tessera model list` says it is) through
their OpenAI-compatible `POST /v1/completions` with streaming (server-sent events). Every
row sends the same requests in the same order: a fixed list of prompts of mixed length
(8 to 357 tokens), greedy (temperature 0), end-of-generation ignored, so each
request produces exactly its max_tokens (spread over the --tokens range). N client
streams each send requests back to back until the row's requests are done (closed loop).

Per row: aggregate generated tokens/s (usage.completion_tokens over the wall time of the
row), time to first token and inter-token latency (gaps between streamed text chunks)
p50/p99, errors, and RSS before and after (the sum of Tessera's workers; llama-server's
process). Then the ratios Tessera/llama-server per stream count.

Fairness: a Tessera cluster of S stages runs S workers with one compute thread each
(`tessera up --worker-threads 1`, memory budgets that force S stages, as cluster-bench.py,
and as many session slots as the widest row has streams), so it is compared with
llama-server given S threads (`-t S`, or --llama-threads). llama-server
runs with `-np` equal to the stream count and `-c` = streams x --ctx-per-stream, continuous
batching on (its default), prompt caching off per request (Tessera has none, and the
prompts repeat). Both get the same cores; nothing else should run meanwhile.

--churn N adds a session-churn check: N short sessions one after another against one
stage, with the worker's RSS at the start, every tenth and the end (flat RSS is the goal).

Writes serve-bench.json (every row, every setting) and serve-bench.svg (tokens/s against
concurrency, one line per system) to --out, and the servers' logs beside them.
llama-server: build it with scripts/bench/build-llama-server (it prints the path).
"""
import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import (ROOT, STAGE_BUDGETS, auth_headers, grpc_metadata, start_cluster, stop_cluster, stubs,
                      wait_pipeline)
# soak.py's /proc and /metrics helpers, and the system tests' free port offset.
from soak import free_port_offset, percentile, proc_children, rss_mib, scrape, sse_payloads

MODEL = "smollm2-135m"
LLAMA_VERSION = "0.3.36"  # the llama-cpp-python sdist build-llama-server builds from
DEFAULT_LLAMA_SERVER = (pathlib.Path.home() / ".cache/tessera/llama.cpp" / f"llama_cpp_python-{LLAMA_VERSION}"
                        / "vendor/llama.cpp/build/bin/llama-server")

_PASSAGE = (
    "The first practical bicycles appeared in the 1860s, when French makers fitted pedals to the "
    "front wheel of a wooden running machine. Riders called them boneshakers, because iron tyres on "
    "cobbled streets made every journey a test of endurance. In the 1870s the high-wheeler solved the "
    "speed problem by making the driven wheel enormous, but a rider perched above it could be thrown "
    "over the handlebars by a single stone. The safety bicycle of the 1880s brought both wheels back to "
    "the same modest size and drove the rear one with a chain, and within a decade pneumatic tyres, "
    "invented for a child's tricycle, made the ride smooth. Cycling clubs lobbied for paved roads long "
    "before cars needed them, and many early car makers began by building bicycles. ")
_LOG = (
    "12:00:01 worker-2 loaded shard layers 10-19 (31 MiB) in 0.4 s\n"
    "12:00:02 scheduler planned 1 pipeline: worker-1 layers 0-9, worker-2 layers 10-19, worker-3 layers 20-29\n"
    "12:00:07 gateway request req-17 leased pipeline-1\n"
    "12:00:09 worker-3 step took 2.7 s, expected 0.02 s\n"
    "12:00:09 gateway pipeline failed; failing over request req-17\n"
    "12:00:10 scheduler worker-3 removed after a failed health check\n"
    "12:00:12 scheduler planned 1 pipeline: worker-1 layers 0-14, worker-2 layers 15-29\n"
    "12:00:13 gateway failover complete for req-17 after 3.9 s\n")
# Mixed lengths, 8 to 357 tokens (SmolLM2's tokenizer), long and short interleaved; request k
# uses PROMPTS[k % len(PROMPTS)]. The even ones are short (the churn check uses those).
PROMPTS = [
    "Write a haiku about distributed systems.",
    "Here is a short history:\n\n" + _PASSAGE + "\nSummarize it in three sentences.",
    "What is the capital of France, and why is it famous?",
    "Here is a service log:\n\n" + _LOG + "\nExplain what happened, step by step.",
    "List three uses of a hash function.",
    _PASSAGE + _PASSAGE.replace("bicycle", "tricycle") + "\nWhat changed between the two accounts above?",
    "Explain why the sky is blue in two sentences.",
    "A user reports that their laptop fan runs loudly whenever a video call starts, even on a new "
    "machine with plenty of memory. Suggest five likely causes and how to check each one.",
]


def now():
    return time.monotonic()


# ---------------------------------------------------------------- one streamed request

def stream_completion(port: int, body: dict, timeout: float):
    """POST /v1/completions with "stream": true; what the client saw, with monotonic times."""
    record = {"ok": False, "error": None, "ttft": None, "gaps": [], "tokens": 0, "chunks": 0}
    started = now()
    last = None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/completions", json.dumps(body).encode(),
                     {"Content-Type": "application/json", **auth_headers()})
        response = conn.getresponse()
        if response.status != 200:
            record["error"] = f"HTTP {response.status}: {response.read().decode(errors='replace')[:200]}"
            return record
        done = False
        for chunk in sse_payloads(response):
            if chunk is None:
                done = True
                break
            if "error" in chunk:
                record["error"] = f"stream error: {json.dumps(chunk['error'])[:200]}"
                continue
            for choice in chunk.get("choices") or []:
                if choice.get("text"):
                    arrived = now()
                    if last is None:
                        record["ttft"] = arrived - started
                    else:
                        record["gaps"].append(arrived - last)
                    last = arrived
                    record["chunks"] += 1
            if chunk.get("usage"):
                record["tokens"] = chunk["usage"].get("completion_tokens", 0)
        if record["error"] is None:
            if not done:
                record["error"] = "the stream ended without [DONE]"
            elif record["tokens"] == 0:  # no usage chunk: one token per text chunk
                record["tokens"] = record["chunks"]
            if record["tokens"] != body["max_tokens"] and record["error"] is None:
                record["error"] = f"{record['tokens']} tokens, asked for {body['max_tokens']}"
        record["ok"] = record["error"] is None
    except (OSError, http.client.HTTPException, ValueError) as error:
        record["error"] = f"{type(error).__name__}: {error}"[:200]
    finally:
        conn.close()
        record["seconds"] = now() - started
    return record


class Server:
    """Where one system under test answers, and how its requests differ."""

    def __init__(self, name: str, port: int, extra: dict, rss):
        self.name, self.port, self.extra, self.rss = name, port, extra, rss

    def body(self, k: int, plan):
        return {"model": MODEL, "prompt": PROMPTS[k % len(PROMPTS)], "max_tokens": plan[k % len(plan)],
                "temperature": 0, "ignore_eos": True, "stream": True,
                "stream_options": {"include_usage": True}, **self.extra}

    def warm_up(self, timeout=120):
        """One short request, retried while the server is still getting ready."""
        deadline = now() + timeout
        while True:
            record = stream_completion(self.port, self.body(0, [4]), 60)
            if record["ok"]:
                return
            if now() > deadline:
                raise RuntimeError(f"{self.name}: warm-up failed: {record['error']}")
            time.sleep(1)


def run_row(server: Server, streams: int, requests: int, plan, timeout: float):
    """`streams` clients take the next of `requests` requests as soon as their last one ends."""
    rss_before = server.rss()
    lock = threading.Lock()
    queue = iter(range(requests))
    records = []

    def client():
        while True:
            with lock:
                k = next(queue, None)
            if k is None:
                return
            record = stream_completion(server.port, server.body(k, plan), timeout)
            with lock:
                records.append(record)

    started = now()
    with concurrent.futures.ThreadPoolExecutor(streams) as pool:
        for future in [pool.submit(client) for _ in range(streams)]:
            future.result()
    wall = now() - started
    ok = [r for r in records if r["ok"]]
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    gaps = [g for r in ok for g in r["gaps"]]
    tokens = sum(r["tokens"] for r in records)
    errors = [r["error"] for r in records if not r["ok"]]
    return {"streams": streams, "requests": requests, "tokens": tokens, "seconds": wall,
            "tokens_per_s": tokens / wall,
            "ttft_ms_p50": ms(percentile(ttfts, 50)), "ttft_ms_p99": ms(percentile(ttfts, 99)),
            "itl_ms_p50": ms(percentile(gaps, 50)), "itl_ms_p99": ms(percentile(gaps, 99)),
            "errors": len(errors), "error_examples": sorted(set(errors))[:3],
            "rss_mib_before": rss_before, "rss_mib_after": server.rss()}


def ms(seconds):
    return None if seconds is None else 1000 * seconds


def rounded(mib):
    return None if mib is None else round(mib, 1)


# ---------------------------------------------------------------- Tessera

def run_tessera(args, stages: int, stub, out: pathlib.Path, plan, log, churn: int):
    """Start a cluster of `stages` stages, measure every stream count (and the churn), stop it."""
    spb, srpc = stub
    workers, memory = STAGE_BUDGETS[stages]
    offset = free_port_offset(workers)
    log(f"tessera: {stages} stage(s): {workers} worker(s) x {memory} MiB, 1 thread each, port offset {offset}")
    up = start_cluster(args.bin, workers, memory, offset, out / f"tessera-{stages}-stage-logs", args.max_batch,
                       extra_args=args.tessera_up_args)
    try:
        plan_reply = wait_pipeline(spb, srpc, 7401 + offset, stages)
        used = max(len(p.stages) for p in plan_reply.pipelines)
        if used != stages:
            log(f"note: {workers} worker(s) at {memory} MiB were planned as {used} stage(s), not {stages}")

        def worker_rss():
            children = proc_children(up.pid)
            values = [rss_mib(pid) for name, pid in children.items() if name.startswith("worker")
                      or name == "inference-worker"]
            return rounded(sum(v for v in values if v)) if values else None

        server = Server(f"tessera {stages} stage{'s' if stages > 1 else ''}", 8080 + offset, {}, worker_rss)
        server.warm_up()
        rows = []
        for streams in args.stream_counts:
            row = run_row(server, streams, requests_for(args, streams), plan, args.timeout)
            row.update(system="tessera", stages=used, threads=workers)
            log(progress(server.name, row))
            rows.append(row)
        churned = session_churn(server, up, offset, churn, log) if churn else None
        return rows, churned
    finally:
        stop_cluster(up)


def session_slots(args):
    """`tessera up` arguments giving each worker a session slot per stream of the widest row, as
    llama-server gets -np = streams. Workers derive their slots from their memory budget at the
    full served context (2-3 for the budgets that force 3 stages), which would queue most of
    32 streams; these sessions are short (at most 357 + 128 tokens). Only when the build has
    the setting and --up-arg does not set it already."""
    if any("--worker-max-sessions" in arg for arg in args.up_arg):
        return []
    helps = [subprocess.run([str(args.bin / program), *command, "--help"], capture_output=True, text=True).stdout
             for program, command in [("tessera", ["up"]), ("inference-worker", [])]]
    if "--worker-max-sessions" in helps[0] and "--max-sessions" in helps[1]:
        return ["--worker-max-sessions", str(max(args.stream_counts))]
    return []


def session_churn(server: Server, up, offset: int, sessions: int, log):
    """`sessions` short sessions one after another; the worker's RSS along the way."""
    log(f"churn: {sessions} sequential short sessions")
    samples, errors = [], 0
    marks = {0, sessions // 2, sessions} | {sessions * i // 10 for i in range(1, 10)}
    started = now()
    for k in range(sessions + 1):
        if k in marks:
            samples.append({"sessions": k, "seconds": round(now() - started, 1), "rss_mib": server.rss()})
        if k == sessions:
            break
        body = {**server.body(2 * k, [8])}
        errors += not stream_completion(server.port, body, 120)["ok"]
    gauges = {}
    for name, value in (scrape(9410 + offset) or {}).items():  # worker-1's /metrics
        if name.startswith(("tessera_worker_active_sessions", "tessera_worker_kv_cache_bytes")):
            gauges[name] = value
    start, middle, end = (next(s["rss_mib"] for s in samples if s["sessions"] == n)
                          for n in (0, sessions // 2, sessions))
    result = {"sessions": sessions, "errors": errors, "seconds": round(now() - started, 1), "samples": samples,
              "rss_mib_start": start, "rss_mib_middle": middle, "rss_mib_end": end, "worker_gauges_after": gauges}
    log(f"churn: RSS {start} / {middle} / {end} MiB at 0 / {sessions // 2} / {sessions} sessions, "
        f"{errors} errors, {result['seconds']} s")
    return result


# ---------------------------------------------------------------- llama-server

def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_llama(args, threads: int, model_path: str, out: pathlib.Path, plan, log):
    """llama-server restarted for every stream count, since -np (its slots) is a start flag."""
    rows = []
    for streams in args.stream_counts:
        port = free_port()
        command = [args.llama_server, "-m", model_path, "-t", str(threads), "-np", str(streams),
                   "-c", str(streams * args.ctx_per_stream), "--host", "127.0.0.1", "--port", str(port)]
        log_path = out / f"llama-server-t{threads}-np{streams}.log"
        with open(log_path, "w") as log_file:
            proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_http(port, "/health", proc, log_path)
            # Prompts repeat across requests; llama-server would reuse a slot's cached prefix,
            # which Tessera cannot, so the comparison would be of caches rather than serving.
            server = Server(f"llama-server -t {threads}", port, {"cache_prompt": False},
                            lambda: rounded(rss_mib(proc.pid)))
            server.warm_up()
            row = run_row(server, streams, requests_for(args, streams), plan, args.timeout)
            row.update(system="llama-server", stages=None, threads=threads, command=" ".join(command))
            log(progress(server.name, row))
            rows.append(row)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return rows


def wait_http(port: int, path: str, proc, log_path, timeout=120):
    deadline = now() + timeout
    while now() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited ({proc.returncode}); see {log_path}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama-server not healthy after {timeout} s; see {log_path}")


# ---------------------------------------------------------------- report

def requests_for(args, streams: int) -> int:
    # At least every prompt once, so each row sees the same mix of lengths.
    return max(len(PROMPTS), args.requests_per_stream * streams)


def fmt(value, digits=0):
    return "–" if value is None else f"{value:.{digits}f}"


def progress(name, row):
    return (f"{name:<18} {row['streams']:>3} streams: {row['tokens_per_s']:7.1f} tok/s, "
            f"TTFT p50 {fmt(row['ttft_ms_p50'])} ms, ITL p50 {fmt(row['itl_ms_p50'], 1)} ms, "
            f"{row['errors']} errors")


def label(row):
    if row["system"] == "tessera":
        return f"tessera {row['stages']} stage{'s' if row['stages'] > 1 else ''}"
    return f"llama-server -t {row['threads']}"


def table(rows):
    lines = ["system               thr  streams   tok/s   TTFT p50/p99 ms   ITL p50/p99 ms   errors"
             "   RSS MiB before→after"]
    for row in rows:
        lines.append(f"{label(row):<20} {row['threads']:>3}  {row['streams']:>7}  {row['tokens_per_s']:6.1f}"
                     f"   {fmt(row['ttft_ms_p50']):>6} / {fmt(row['ttft_ms_p99']):<6}"
                     f"   {fmt(row['itl_ms_p50'], 1):>5} / {fmt(row['itl_ms_p99'], 1):<6}"
                     f"   {row['errors']:>6}   {fmt(row['rss_mib_before'], 1)} → {fmt(row['rss_mib_after'], 1)}")
    return "\n".join(lines)


def ratios(rows):
    """Tessera / llama-server with the same thread count, per stream count."""
    llama = {(r["threads"], r["streams"]): r for r in rows if r["system"] == "llama-server"}
    out = []
    for row in rows:
        other = llama.get((row["threads"], row["streams"]))
        if row["system"] != "tessera" or other is None:
            continue

        def ratio(key):
            a, b = row[key], other[key]
            return round(a / b, 2) if a is not None and b else None
        out.append({"stages": row["stages"], "threads": row["threads"], "streams": row["streams"],
                    "tokens_per_s": ratio("tokens_per_s"), "ttft_p50": ratio("ttft_ms_p50"),
                    "itl_p50": ratio("itl_ms_p50")})
    return out


def ratio_table(items):
    lines = ["Tessera / llama-server, same threads (tok/s: higher is better for Tessera; latencies: lower)",
             "stages  thr  streams   tok/s   TTFT p50   ITL p50"]
    for r in items:
        lines.append(f"{r['stages']:>6}  {r['threads']:>3}  {r['streams']:>7}   {fmt(r['tokens_per_s'], 2):>5}"
                     f"   {fmt(r['ttft_p50'], 2):>8}   {fmt(r['itl_p50'], 2):>7}")
    return "\n".join(lines)


def goals(rows):
    """The issue's throughput goals for one stage, where the rows to judge them exist."""
    one = {r["streams"]: r for r in rows if r["system"] == "tessera" and r["stages"] == 1}
    llama = {r["streams"]: r for r in rows if r["system"] == "llama-server" and r["threads"] == 1}
    lines = []
    if 1 in one and 16 in one:
        x = one[16]["tokens_per_s"] / one[1]["tokens_per_s"]
        lines.append(f"goal: 1 stage, 16 streams >= 3x its 1-stream aggregate: {x:.2f}x "
                     f"{'met' if x >= 3 else 'NOT met'}")
    if 16 in one and 16 in llama:
        x = one[16]["tokens_per_s"] / llama[16]["tokens_per_s"]
        lines.append(f"goal: 1 stage, 16 streams >= 1.0x llama-server: {x:.2f}x {'met' if x >= 1 else 'NOT met'}")
    errors = sum(r["errors"] for r in rows)
    lines.append(f"goal: no errors: {errors} {'met' if errors == 0 else 'NOT met'}")
    return lines


def write_svg(path: pathlib.Path, rows, stream_counts):
    """Aggregate tokens/s against concurrent streams (log scale), one line per system."""
    width, height, left, right, top, bottom = 760, 420, 70, 190, 40, 370
    xs = sorted(set(stream_counts))
    y_max = max([r["tokens_per_s"] for r in rows] + [1]) * 1.1

    def x(streams):
        return left + (width - left - right) * (xs.index(streams) / max(1, len(xs) - 1))

    def y(value):
        return bottom - (bottom - top) * value / y_max

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="11">', '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="24" font-size="13" font-weight="bold">Aggregate tokens/s against concurrent '
           'streams</text>',
           f'<line x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>']
    for i in range(5):
        value = y_max * i / 4
        out.append(f'<line x1="{left}" y1="{y(value):.1f}" x2="{width - right}" y2="{y(value):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 5}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.0f}</text>')
    for streams in xs:
        out.append(f'<text x="{x(streams):.1f}" y="{bottom + 15}" text-anchor="middle">{streams}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{bottom + 32}" text-anchor="middle">concurrent streams'
               '</text>')
    out.append(f'<text x="15" y="{(top + bottom) / 2}" transform="rotate(-90 15 {(top + bottom) / 2})" '
               'text-anchor="middle">tokens/s</text>')
    # One colour per thread count: Tessera S stages (solid) beside llama-server -t S (dashed).
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    series = {}
    for row in rows:
        series.setdefault(label(row), []).append(row)
    ordered = sorted(series.items(), key=lambda s: (s[1][0]["threads"], s[1][0]["system"] != "tessera"))
    for i, (name, points) in enumerate(ordered):
        color = colors[(points[0]["threads"] - 1) % len(colors)]
        dash = ' stroke-dasharray="6 4"' if points[0]["system"] == "llama-server" else ""
        coords = " ".join(f"{x(p['streams']):.1f},{y(p['tokens_per_s']):.1f}"
                          for p in sorted(points, key=lambda p: p["streams"]))
        out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for p in points:
            out.append(f'<circle cx="{x(p["streams"]):.1f}" cy="{y(p["tokens_per_s"]):.1f}" r="3" fill="{color}"/>')
        ly = top + 16 * i
        out.append(f'<line x1="{width - right + 10}" y1="{ly + 5}" x2="{width - right + 34}" y2="{ly + 5}" '
                   f'stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{width - right + 40}" y="{ly + 9}">{name}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


# ---------------------------------------------------------------- options and main

def positive_list(text: str):
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}' needs positive integers")
    return values


def token_plan(text: str):
    """'64-128' -> [64, 96, 128] (request k asks for plan[k % 3]); '16' -> [16]."""
    try:
        low, _, high = text.partition("-")
        low, high = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not N or MIN-MAX")
    if low <= 0 or high < low:
        raise argparse.ArgumentTypeError(f"'{text}' needs 0 < MIN <= MAX")
    return sorted({low, (low + high) // 2, high})


def default_bin():
    for candidate in [ROOT / ".build-release/release", ROOT / ".build/release", ROOT / ".build/debug"]:
        if (candidate / "tessera").exists():
            return candidate
    return ROOT / ".build/debug"


def model_path(bin_dir: pathlib.Path):
    """Where Tessera finds the model it serves (`tessera model list`: name, tab, path)."""
    listing = subprocess.run([str(bin_dir / "tessera"), "model", "list"], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        name, _, path = line.partition("\t")
        if name == MODEL and os.path.exists(path):
            return path
    raise SystemExit(f"serve-bench: {MODEL} is not downloaded; run `tessera model pull {MODEL}`")


def git_revision():
    result = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True)
    return result.stdout.strip() or None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--bin", type=pathlib.Path, default=default_bin(),
                        help="directory holding tessera and the services (default: a release build if any)")
    parser.add_argument("--stages", default="1,2,3", type=positive_list, metavar="LIST",
                        help="Tessera stage counts to run, each 1-3 (default 1,2,3)")
    parser.add_argument("--streams", dest="stream_counts", default="1,4,16,32", type=positive_list, metavar="LIST",
                        help="concurrent client streams per row (default 1,4,16,32)")
    parser.add_argument("--tokens", dest="plan", default="64-128", type=token_plan, metavar="N|MIN-MAX",
                        help="generated tokens per request, N or MIN-MAX (default 64-128)")
    parser.add_argument("--requests-per-stream", type=int, default=2,
                        help="requests per row = this x streams, at least one per prompt (default 2)")
    parser.add_argument("--llama-server", default=os.environ.get("TESSERA_LLAMA_SERVER"), metavar="PATH",
                        help="llama-server binary (default: env TESSERA_LLAMA_SERVER, else build-llama-server's "
                             f"path, {DEFAULT_LLAMA_SERVER})")
    parser.add_argument("--llama-threads", type=int,
                        help="llama-server's -t for every row (default: the stage count it is compared with)")
    parser.add_argument("--ctx-per-stream", type=int, default=512,
                        help="llama-server context per slot: -c = streams x this (default 512)")
    parser.add_argument("--skip-llama-server", action="store_true", help="only measure Tessera")
    parser.add_argument("--skip-tessera", action="store_true", help="only measure llama-server")
    parser.add_argument("--churn", type=int, default=0,
                        help="also run this many sequential short sessions on one stage, RSS sampled (0: off)")
    parser.add_argument("--max-batch", type=int, help="the workers' --max-batch (default: theirs)")
    parser.add_argument("--up-arg", action="append", default=[], metavar="ARG",
                        help="one more argument for `tessera up`, repeatable; write it with '=' when it starts "
                             "with '-': --up-arg=--worker-max-sessions=32")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one request may take (default 600)")
    parser.add_argument("--out", type=pathlib.Path,
                        help="output directory (default: a new one under the temporary directory)")
    args = parser.parse_args()

    bad = [s for s in args.stages if s not in STAGE_BUDGETS]
    if bad:
        parser.error(f"--stages: {bad} not supported; each must be one of {sorted(STAGE_BUDGETS)}")
    if args.requests_per_stream <= 0 or args.ctx_per_stream <= 0 or args.churn < 0 or args.timeout <= 0:
        parser.error("--requests-per-stream, --ctx-per-stream and --timeout must be positive, --churn >= 0")
    if args.llama_threads is not None and args.llama_threads <= 0:
        parser.error("--llama-threads must be positive")
    if args.skip_tessera and args.skip_llama_server:
        parser.error("--skip-tessera and --skip-llama-server leave nothing to measure")
    if not (args.bin / "tessera").exists():
        parser.error(f"--bin: no tessera in {args.bin} (build with `swift build -c release`)")
    if not args.skip_llama_server:
        args.llama_server = args.llama_server or str(DEFAULT_LLAMA_SERVER)
        if not os.access(args.llama_server, os.X_OK):
            parser.error(f"no llama-server at {args.llama_server}: build it with scripts/bench/build-llama-server "
                         "(it prints the path), then pass --llama-server PATH or set TESSERA_LLAMA_SERVER")
    # The longest prompt (357 tokens) and the most tokens asked for must fit in one slot.
    if not args.skip_llama_server and args.ctx_per_stream < 384 + max(args.plan):
        parser.error(f"--ctx-per-stream {args.ctx_per_stream} is too small for {max(args.plan)} tokens after "
                     f"prompts of up to 357 tokens; use at least {384 + max(args.plan)}")

    out = args.out or pathlib.Path(tempfile.mkdtemp(prefix="serve-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    path = model_path(args.bin)
    cores = os.cpu_count()

    def log(line):
        print(line, file=sys.stderr, flush=True)

    def llama_threads(stages):
        return args.llama_threads or stages

    load_before = os.getloadavg()[0]
    log(f"serve-bench: {MODEL} ({path}), {cores} cores, tessera from {args.bin}, output in {out}")
    # Both systems share the same few cores with the clients; anything else running skews the
    # comparison (llama.cpp's threads, which spin while they wait for each other, suffer most).
    if load_before > 0.5:
        log(f"warning: load average {load_before:.2f} before the start: other work competes for the {cores} cores")
    if "debug" in args.bin.parts:
        log("warning: a debug build of Tessera; use a release build for figures worth comparing")
    log(f"fairness: Tessera with S stages = S workers x 1 compute thread; llama-server -t "
        f"{args.llama_threads or 'S'}; tokens per request {args.plan}, greedy, EOS ignored")
    if not args.skip_tessera:
        args.tessera_up_args = args.up_arg + session_slots(args)
        log(f"tessera up: {' '.join(args.tessera_up_args) or 'no extra arguments'} (workers without "
            "--worker-max-sessions derive their session slots from memory)")
    stub = stubs(pathlib.Path(tempfile.mkdtemp(prefix="serve-bench-stubs-")))[2:4]
    rows, churn = [], None
    churn_on = min(args.stages)  # one stage when it is measured
    for stages in sorted(set(args.stages)):
        if not args.skip_tessera:
            tessera_rows, churned = run_tessera(args, stages, stub, out, args.plan, log,
                                                args.churn if stages == churn_on else 0)
            rows += tessera_rows
            churn = churned or churn
        threads = llama_threads(stages)
        if not args.skip_llama_server and not any(r["system"] == "llama-server" and r["threads"] == threads
                                                  for r in rows):
            rows += run_llama(args, threads, path, out, args.plan, log)
    if args.churn and churn_on != 1:
        log(f"note: the churn ran on {churn_on} stages (1 was not among --stages)")

    summary = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "revision": git_revision(),
        "model": MODEL, "model_path": path, "cores": cores, "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0], "tessera_bin": str(args.bin),
        "llama_server": None if args.skip_llama_server else args.llama_server,
        "tokens_per_request": args.plan, "requests_per_stream": args.requests_per_stream,
        "prompts": len(PROMPTS), "fairness": "Tessera S stages = S workers x 1 thread; llama-server -t S "
        "(or --llama-threads), -np = streams, -c = streams x ctx_per_stream, cache_prompt off",
        "ctx_per_stream": args.ctx_per_stream, "tessera_up_args": getattr(args, "tessera_up_args", None),
        "rows": rows, "ratios": ratios(rows), "churn": churn,
    }
    (out / "serve-bench.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_svg(out / "serve-bench.svg", rows, args.stream_counts)

    print(table(rows))
    if summary["ratios"]:
        print()
        print(ratio_table(summary["ratios"]))
    if churn:
        print(f"\nchurn: {churn['sessions']} sequential sessions, {churn['errors']} errors: worker RSS "
              f"{churn['rss_mib_start']} / {churn['rss_mib_middle']} / {churn['rss_mib_end']} MiB at start / "
              f"middle / end")
    print()
    for line in goals(rows):
        print(line)
    print(f"fairness: Tessera S stages = S workers x 1 compute thread; llama-server -t "
          f"{args.llama_threads or 'S'}, -np = streams; {cores} cores shared by everything")
    print(f"load average before/after: {load_before:.2f} / {summary['load_average_after']:.2f}")
    print(f"results: {out}/serve-bench.json, {out}/serve-bench.svg")
    return 1 if any(r["errors"] for r in rows) or (churn and churn["errors"]) else 0


if __name__ == "__main__":
    sys.exit(main())
