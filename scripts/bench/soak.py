#!/usr/bin/env python3
"""Soak test with faults: a local cluster (`tessera up`) under steady streamed load for a
bounded time, with one fault a minute, then checks that nothing leaked.

    scripts/bench/soak.py [--minutes 10] [--streams 32] [--workers 3] [--build debug|release] [--out DIR]

It starts `tessera up --workers N` on 127.0.0.1 (free ports, its own model store, shard and
log directories), waits until a pipeline is ready, then runs `--streams` client loops, each
sending streamed OpenAI chat completions (greedy, 64-128 tokens, short varied prompts) back
to back over raw HTTP and recording every request: outcome (ok, or the kind of error and
its message), tokens, time to first token, duration, and its `x-request-id` (`soak-L-N`, on
every log line of that request at the gateway and the workers).

Faults, in rotation, the first `--first-fault-s` (30) into the run and then every
`--fault-every-s` (60), none in the last 30 s:
  1. worker-kill      SIGKILL an inference worker (`tessera up` restarts it)
  2. worker-stop      SIGSTOP a worker for `--stop-s` (10) seconds, then SIGCONT
  3. scheduler-kill   SIGKILL the scheduler (`tessera up` restarts it)
A fault is recovered when the process is back (new pid for a kill), its /readyz and the
gateway's say ready, and the scheduler has as many ready pipelines as before the fault. Its
window runs from the fault to `--grace-s` (15) after recovery; an error counts as caused by a
fault when its request was in flight during that window.

Every `--sample-s` (10) seconds it samples each service's RSS (/proc) and scrapes /metrics
of the gateway, scheduler and workers, and the scheduler's leases (`tessera placement`).

At the end it stops the load, waits `--settle-s` (5) seconds and checks: no leases held (the
gateway's gauge and the scheduler's pipelines), no generations running or waiting at the
gateway, no sessions and no KV cache bytes at the workers. It writes to `--out`:
requests.jsonl, samples.jsonl, summary.json, soak.svg (RSS per service and tokens/s over
time, faults marked), the services' logs (logs/), and prints a short table.

It also reads the logs: every failover at the gateway ("pipeline failed; failing over"),
placed against the fault windows by its own time, the pauses failovers caused ("failover
complete"), and the scheduler's re-plans, expiries and workers dropped after a client's report;
and it compares the sessions open at the workers with the leases the scheduler knows.

Exit status 1 when: an error happened outside every fault window, greedy output differed
from the usual answer for its prompt outside a fault window, something leaked, a service's
RSS grew (from one minute into its life, under load, to the end of the load) by more than
max(--max-rss-growth-mib, --max-rss-growth-pct of its size), a fault did not recover, a
service exited that no fault killed, or a failover happened outside every fault window (the
gateway gave up on a worker no fault touched; --allow-spurious-failovers reports it only).
Errors inside fault windows are reported, not fatal.
"""
import argparse
import bisect
import collections
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = "smollm2-135m"
PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about distributed systems.",
    "List three uses of a hash function.",
    "What is the capital of France, and why is it famous?",
    "Tell me about rivers.",
    "Give me a short recipe for pancakes.",
    "Why do cats purr?",
    "Describe the water cycle briefly.",
    "What is a prime number?",
    "Suggest a name for a small bakery.",
    "How does a bicycle stay upright?",
    "Write one sentence about the ocean.",
    "What are the colors of the rainbow?",
    "Explain recursion to a child.",
    "What is the tallest mountain on Earth?",
    "Summarize the plot of Romeo and Juliet in two sentences.",
]
MAX_TOKENS = [64, 96, 128]  # prompt i always asks for MAX_TOKENS[i % 3]: its greedy answer is fixed
FAULTS = ["worker-kill", "worker-stop", "scheduler-kill"]
SERVICES = ["gateway", "scheduler", "cache-manager", "verifier"]
PROGRAMS = {"gateway", "scheduler", "cache-manager", "verifier", "inference-worker"}


def now():
    return time.monotonic()


# ---------------------------------------------------------------- ports and processes

# free_port_offset: the system tests' own (every port of the cluster free, below the
# ephemeral range).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "Tests" / "System"))
from conftest import free_port_offset  # noqa: E402


def proc_children(parent: int):
    """{service name: pid} of `parent`'s children: gateway, scheduler, cache-manager,
    verifier, and worker-N by its --worker-id."""
    found = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not argv or int(stat.rsplit(")", 1)[1].split()[1]) != parent:
            continue
        program = os.path.basename(argv[0])
        if program not in PROGRAMS:
            continue
        name = program
        if program == "inference-worker" and "--worker-id" in argv:
            name = argv[argv.index("--worker-id") + 1]
        found[name] = int(entry.name)
    return found


def rss_mib(pid: int):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def http_get(port: int, path: str, timeout=5.0):
    """(status, body text); (None, error) when nothing answers."""
    try:
        key = os.environ.get("TESSERA_API_KEY")
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                         headers={"Authorization": f"Bearer {key}"} if key else {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as error:
        return None, str(error)


def ready(port: int) -> bool:
    return http_get(port, "/readyz", timeout=2)[0] == 200


def scrape(port: int):
    """Prometheus text as {series (name and labels): value}; None when it does not answer."""
    status, text = http_get(port, "/metrics")
    if status != 200:
        return None
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "_bucket{" in line:
            continue
        try:
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
        except ValueError:
            continue
    return values


class Cluster:
    """`tessera up` and what the soak needs of it: ports, children, placement."""

    def __init__(self, bin_dir: pathlib.Path, workers: int, log_dir: pathlib.Path, scratch: pathlib.Path,
                 worker_memory_mb=None):
        self.bin_dir, self.workers, self.log_dir = bin_dir, workers, log_dir
        self.offset = free_port_offset(workers)
        o = self.offset
        # The gateway's API (needs the key) and its operations port (/metrics, /readyz).
        self.http = {"gateway": 8080 + o, "gateway-ops": 9400 + o, "scheduler": 9401 + o, "cache-manager": 9402 + o,
                     "verifier": 9403 + o}
        self.worker_names = [f"worker-{i + 1}" for i in range(workers)]
        for i, name in enumerate(self.worker_names):
            self.http[name] = 9410 + i + o
        args = [str(bin_dir / "tessera"), "up", "--workers", str(workers), "--port-offset", str(o),
                "--log-dir", str(log_dir), "--shard-dir", str(scratch / "shards")]
        if worker_memory_mb:
            args += ["--worker-memory-mb", str(worker_memory_mb)]
        env = {**os.environ, "TESSERA_STORE_DIR": str(scratch / "store")}
        self.started = now()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        self.output = []  # (monotonic time, line)
        self.ready_event = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.output.append((now(), line.rstrip("\n")))
            if line.startswith("api key: "):
                os.environ["TESSERA_API_KEY"] = line.split(": ", 1)[1].strip()
            if "cluster ready" in line:
                self.ready_event.set()

    def wait_ready(self, timeout=300):
        deadline = now() + timeout
        while not self.ready_event.wait(0.2):
            if self.proc.poll() is not None or now() > deadline:
                raise SystemExit("tessera up did not become ready:\n" + "\n".join(l for _, l in self.output))
        while now() < deadline:
            status, text = http_get(self.http["gateway"], "/v1/models")
            if status == 200 and any(m.get("ready") for m in json.loads(text).get("data", [])):
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"no pipeline ready after {timeout}s; logs in {self.log_dir}")
        # Every worker registered and placed, every pipeline of the plan ready, twice in a row
        # 2 s apart (the plan grows as workers register).
        last = None
        while now() < deadline:
            workers = (scrape(self.http["scheduler"]) or {}).get("tessera_scheduler_workers")
            placement = self.placement()
            if workers == self.workers and placement and placement["pipelines"] \
                    and placement["ready"] == len(placement["pipelines"]):
                if last == placement["ready"]:
                    return placement
                last = placement["ready"]
            else:
                last = None
            time.sleep(2)
        raise SystemExit("pipelines never all ready")

    def children(self):
        return proc_children(self.proc.pid)

    def placement(self):
        """{"pipelines": [(name, state, active)], "ready": n, "leases": n}; None if the scheduler
        does not answer."""
        try:
            result = subprocess.run([str(self.bin_dir / "tessera"), "placement", "--port-offset", str(self.offset)],
                                    capture_output=True, text=True, timeout=15)
        except (subprocess.TimeoutExpired, OSError):
            return None
        if result.returncode != 0:
            return None
        pipelines = [(m[1], m[2], int(m[3])) for m in
                     re.finditer(r"^(pipeline-\S+): ([\w-]+), (\d+) active", result.stdout, re.M)]
        return {"pipelines": pipelines, "ready": sum(1 for _, state, _ in pipelines if state == "ready"),
                "leases": sum(active for _, _, active in pipelines)}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.reader.join(timeout=5)


# ---------------------------------------------------------------- load

class Load:
    """`streams` loops of streamed chat completions, back to back, every request recorded."""

    def __init__(self, port: int, streams: int, t0: float, timeout_s: float):
        self.port, self.streams, self.t0, self.timeout_s = port, streams, t0, timeout_s
        self.records = []
        self.lock = threading.Lock()
        self.tokens_per_second = collections.Counter()  # second of the run -> content chunks
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(streams)]

    def start(self):
        for i, thread in enumerate(self.threads):
            thread.start()
            time.sleep(min(0.1, 2.0 / max(1, self.streams)))

    def stop(self, timeout=180):
        self.stopping.set()
        deadline = now() + timeout
        for thread in self.threads:
            thread.join(timeout=max(0.1, deadline - now()))
        return [i for i, t in enumerate(self.threads) if t.is_alive()]

    def _loop(self, loop: int):
        n = 0
        while not self.stopping.is_set():
            index = (loop * 5 + n) % len(PROMPTS)
            record = self.request(index, f"soak-{loop}-{n}")
            record["loop"] = loop
            with self.lock:
                self.records.append(record)
            n += 1
            if record["outcome"] != "ok":
                # A real client backs off (the gateway says Retry-After: 2 when it cannot serve).
                self.stopping.wait(min(2.0, record.get("retry_after") or 0.5))

    def request(self, index: int, request_id: str):
        prompt, max_tokens = PROMPTS[index], MAX_TOKENS[index % len(MAX_TOKENS)]
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True,
                           "stream_options": {"include_usage": True}, "temperature": 0,
                           "max_tokens": max_tokens}).encode()
        started = now()
        record = {"id": request_id, "prompt": index, "start": started - self.t0, "outcome": None, "message": "",
                  "status": None, "ttft": None, "max_gap": 0.0, "tokens": 0, "chunks": 0, "finish": None,
                  "text": ""}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
        text, done, last_chunk = [], False, started
        try:
            conn.request("POST", "/v1/chat/completions", body,
                         {"Content-Type": "application/json", "x-request-id": request_id,
                          "Authorization": f"Bearer {os.environ.get('TESSERA_API_KEY', '')}"})
            response = conn.getresponse()
            record["status"] = response.status
            if response.status != 200:
                payload = response.read().decode(errors="replace")
                retry = response.getheader("Retry-After")
                record["retry_after"] = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
                try:
                    error = json.loads(payload)["error"]
                    record["outcome"] = f"http_{response.status}:{error.get('code') or error.get('type')}"
                    record["message"] = error.get("message", "")
                except (ValueError, KeyError, TypeError):
                    record["outcome"] = f"http_{response.status}"
                    record["message"] = payload[:300]
                return record
            for chunk in sse_payloads(response):
                if chunk is None:
                    done = True
                    break
                if "error" in chunk:
                    error = chunk["error"] or {}
                    record["outcome"] = f"stream_error:{error.get('code') or error.get('type')}"
                    record["message"] = error.get("message", "")
                    continue
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        arrived = now()
                        if record["ttft"] is None:
                            record["ttft"] = arrived - started
                        else:
                            record["max_gap"] = max(record["max_gap"], arrived - last_chunk)
                        last_chunk = arrived
                        text.append(content)
                        record["chunks"] += 1
                        with self.lock:
                            self.tokens_per_second[int(now() - self.t0)] += 1
                    if choice.get("finish_reason"):
                        record["finish"] = choice["finish_reason"]
                if chunk.get("usage"):
                    record["tokens"] = chunk["usage"].get("completion_tokens", 0)
            if record["outcome"] is None:
                if not done:
                    record["outcome"], record["message"] = "truncated", "the stream ended without [DONE]"
                elif record["finish"] is None:
                    record["outcome"], record["message"] = "no_finish", "[DONE] without a finish reason"
                else:
                    record["outcome"] = "ok"
        except socket.timeout:
            record["outcome"], record["message"] = "timeout", f"nothing for {self.timeout_s}s"
        except ConnectionRefusedError as error:
            record["outcome"], record["message"] = "connection_refused", str(error)
        except http.client.RemoteDisconnected as error:
            record["outcome"], record["message"] = "disconnected", str(error)
        except (ConnectionResetError, BrokenPipeError) as error:
            record["outcome"], record["message"] = "connection_reset", str(error)
        except http.client.IncompleteRead as error:
            record["outcome"], record["message"] = "incomplete_read", repr(error)[:300]
        except (OSError, http.client.HTTPException, ValueError) as error:
            record["outcome"], record["message"] = type(error).__name__, str(error)[:300]
        finally:
            conn.close()
            record["end"] = now() - self.t0
            record["duration"] = now() - started
            record["text"] = "".join(text)
        return record


# ---------------------------------------------------------------- faults and sampling

class Faults:
    """One fault a minute, in rotation; each waits for recovery and records its window."""

    def __init__(self, cluster: Cluster, t0: float, duration: float, first: float, every: float, stop_s: float,
                 grace: float, expected_ready: int, log):
        self.cluster, self.t0, self.duration = cluster, t0, duration
        self.first, self.every, self.stop_s, self.grace = first, every, stop_s, grace
        self.expected_ready, self.log = expected_ready, log
        self.faults = []
        self.stopped_pid = None
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def join(self):
        self.halt.set()
        if self.thread.ident is not None:
            self.thread.join(timeout=self.stop_s + 120)
        if self.stopped_pid:  # never leave a worker stopped
            try:
                os.kill(self.stopped_pid, signal.SIGCONT)
            except OSError:
                pass

    def _run(self):
        n = 0
        while True:
            due = self.first + n * self.every
            if due + 30 > self.duration:
                return
            if self.halt.wait(max(0.0, self.t0 + due - now())):
                return
            kind = FAULTS[n % len(FAULTS)]
            worker = self.cluster.worker_names[(n // len(FAULTS)) % len(self.cluster.worker_names)]
            try:
                self.faults.append(self._inject(n, kind, worker))
            except Exception as error:  # a broken fault must not end the soak silently
                self.faults.append({"index": n, "kind": kind, "error": repr(error)})
                self.log(f"fault {n} ({kind}) failed: {error!r}")
            n += 1

    def _inject(self, n, kind, worker):
        target = "scheduler" if kind == "scheduler-kill" else worker
        children = self.cluster.children()
        pid = children.get(target)
        if pid is None:
            raise RuntimeError(f"{target} is not running (children: {children})")
        fault = {"index": n, "kind": kind, "target": target, "pid": pid}
        fault["at"] = now() - self.t0
        if kind == "worker-stop":
            self.stopped_pid = pid
            os.kill(pid, signal.SIGSTOP)
            self.log(f"[{fault['at']:7.1f}s] fault {n}: SIGSTOP {target} (pid {pid}) for {self.stop_s:.0f} s")
            self.halt.wait(self.stop_s)
            os.kill(pid, signal.SIGCONT)
            self.stopped_pid = None
            fault["resumed"] = now() - self.t0
        else:
            os.kill(pid, signal.SIGKILL)
            self.log(f"[{fault['at']:7.1f}s] fault {n}: SIGKILL {target} (pid {pid})")
        recovered = self._wait_recovered(target, pid, new_pid=kind != "worker-stop", timeout=90)
        fault["recovered"] = recovered
        fault["new_pid"] = self.cluster.children().get(target)
        if recovered is None:
            fault["window"] = [fault["at"], now() - self.t0 + self.grace]
            self.log(f"           fault {n}: NOT recovered after 90 s")
        else:
            fault["window"] = [fault["at"], recovered + self.grace]
            self.log(f"[{recovered:7.1f}s] fault {n}: recovered {recovered - fault['at']:.1f} s after the fault")
        return fault

    def _wait_recovered(self, target, old_pid, new_pid, timeout):
        deadline = now() + timeout
        while now() < deadline:
            pid = self.cluster.children().get(target)
            if pid is not None and (pid != old_pid or not new_pid) and ready(self.cluster.http[target]) \
                    and ready(self.cluster.http["gateway-ops"]):
                placement = self.cluster.placement()
                if placement and placement["ready"] >= self.expected_ready:
                    return now() - self.t0
            time.sleep(0.25)
        return None


class Sampler:
    """Every `every` seconds: RSS per service, gauges from /metrics, leases at the scheduler."""

    def __init__(self, cluster: Cluster, t0: float, every: float):
        self.cluster, self.t0, self.every = cluster, t0, every
        self.samples = []
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def join(self):
        self.halt.set()
        self.thread.join(timeout=60)

    def _run(self):
        while True:
            try:
                self.samples.append(self.sample())
            except Exception as error:  # one bad sample must not end the sampling
                print(f"sampling failed: {error!r}", file=sys.stderr)
            if self.halt.wait(self.every):
                return

    def sample(self, phase="load"):
        t = now() - self.t0
        children = self.cluster.children()
        sample = {"t": t, "phase": phase, "pids": children,
                  "rss_mib": {name: rss_mib(pid) for name, pid in children.items()}, "metrics": {}}
        for name in ["gateway", "scheduler", *self.cluster.worker_names]:
            values = scrape(self.cluster.http[name])
            if values is not None:
                sample["metrics"][name] = {k: v for k, v in values.items() if GAUGE.match(k)}
        placement = self.cluster.placement()
        sample["placement"] = placement
        return sample


GAUGE = re.compile(r"^tessera_(gateway_(active_generations|requests_waiting_for_pipeline|leases|failovers_total|"
                   r"requests_total|tokens_total)|worker_(active_sessions|kv_cache_bytes|shard_bytes|"
                   r"sessions_opened_total|sessions_closed_total)|scheduler_(workers|replans_total))")


# ---------------------------------------------------------------- checks and report

def in_flight_windows(record, faults):
    """The faults whose window overlaps the request's time in flight."""
    return [f["index"] for f in faults if "window" in f
            and record["start"] <= f["window"][1] and record["end"] >= f["window"][0]]


def sse_payloads(response):
    """The parsed `data:` payloads of a server-sent-event stream; None for `[DONE]`, then it ends."""
    while True:
        line = response.readline()
        if not line:
            return
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            yield None
            return
        yield json.loads(data)


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def leak_check(cluster: Cluster, workers):
    """What is still held once the load is over."""
    held = {}
    gateway = scrape(cluster.http["gateway-ops"]) or {}
    for gauge in ("tessera_gateway_leases", "tessera_gateway_active_generations",
                  "tessera_gateway_requests_waiting_for_pipeline"):
        held[gauge] = gateway.get(gauge, 0.0) if gateway else None
    placement = cluster.placement()
    held["scheduler_leases"] = placement["leases"] if placement else None
    for name in workers:
        values = scrape(cluster.http[name])
        for gauge in ("tessera_worker_active_sessions", "tessera_worker_kv_cache_bytes"):
            held[f"{name}:{gauge}"] = values.get(gauge, 0.0) if values is not None else None
    return held


def rss_report(samples, load_end, max_mib, max_pct, warmup):
    """Per service: RSS one minute (`warmup`) into the life of the process running at the end,
    under load; at the end of the load; after it; the highest seen; the growth."""
    report = {}
    names = sorted({name for s in samples for name in s["rss_mib"]})
    for name in names:
        series = [(s["t"], s["pids"].get(name), s["rss_mib"].get(name), s["phase"]) for s in samples
                  if s["rss_mib"].get(name) is not None]
        if not series:
            continue
        final_pid = series[-1][1]
        life = [x for x in series if x[1] == final_pid]
        loaded = [x for x in life if x[3] == "load" and x[0] <= load_end]
        born = life[0][0]
        baseline = next((x for x in loaded if x[0] >= born + warmup), None)
        entry = {"pid": final_pid, "restarts_seen": len({x[1] for x in series}) - 1,
                 "max_mib": round(max(x[2] for x in series), 1),
                 "idle_end_mib": round(series[-1][2], 1)}
        if baseline and loaded and loaded[-1][0] > baseline[0]:
            start, end = baseline[2], loaded[-1][2]
            limit = max(max_mib, max_pct / 100 * start)
            entry.update(start_mib=round(start, 1), start_t=round(baseline[0], 1), end_mib=round(end, 1),
                         end_t=round(loaded[-1][0], 1), growth_mib=round(end - start, 1),
                         limit_mib=round(limit, 1), grew_too_much=end - start > limit)
        else:
            entry.update(start_mib=None, end_mib=round(loaded[-1][2], 1) if loaded else None, growth_mib=None,
                         note=f"process lived less than {warmup:.0f} s under load: no growth measured")
        report[name] = entry
    return report


def log_findings(log_dir: pathlib.Path):
    """Lines at warning and above per service log, with a few examples."""
    findings = {}
    for path in sorted(log_dir.glob("*.log")):
        counts, examples = collections.Counter(), []
        for line in path.read_text(errors="replace").splitlines():
            match = re.search(r"level=(warning|error|critical)", line)
            if match or "Fatal error" in line or "fatal error" in line:
                level = match[1] if match else "fatal"
                counts[level] += 1
                message = re.search(r'msg="([^"]*)"', line)
                key = (level, message[1] if message else line[:120])
                if len(examples) < 12 and key not in [(e["level"], e["msg"]) for e in examples]:
                    examples.append({"level": level, "msg": key[1], "line": line[:600]})
        if counts:
            findings[path.stem] = {"counts": dict(counts), "examples": examples}
    return findings


LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def log_events(path: pathlib.Path, messages, wall_t0: float):
    """The lines of a service log whose msg is in `messages`, as dicts with `t` (seconds into
    the run, from the line's ts=)."""
    import datetime
    events = []
    if not path.exists():
        return events
    for line in path.read_text(errors="replace").splitlines():
        fields = {k: v[1:-1] if v.startswith('"') else v for k, v in LOGFMT.findall(line)}
        if fields.get("msg") not in messages or "ts" not in fields:
            continue
        try:
            stamp = datetime.datetime.fromisoformat(fields["ts"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        fields["t"] = round(stamp - wall_t0, 3)
        events.append(fields)
    return events


def in_windows(t, faults, slack=0.5):
    """The faults whose window holds time t (a log line's clock may read a little early)."""
    return [f["index"] for f in faults if "window" in f and f["window"][0] - slack <= t <= f["window"][1]]


def failover_report(log_dir: pathlib.Path, faults, wall_t0: float):
    """Failovers from the gateway's log, each placed against the fault windows by its own time:
    one outside every window means the gateway gave up on a worker no fault touched. And the
    scheduler's view: workers dropped after a client's report, expiries, re-plans."""
    gateway = log_events(log_dir / "gateway.log", {"pipeline failed; failing over", "failover complete"}, wall_t0)
    failovers = [e for e in gateway if e["msg"] == "pipeline failed; failing over" and e["t"] >= 0]
    completes = [e for e in gateway if e["msg"] == "failover complete" and e["t"] >= 0]
    outside = [e for e in failovers if not in_windows(e["t"], faults)]
    pauses = sorted(((int(e.get("pause_ms", 0)) / 1000, e.get("request_id"), e["t"]) for e in completes), reverse=True)
    scheduler = log_events(log_dir / "scheduler.log", {"worker failed a health check after a client report",
                                                        "worker expired", "placement planned", "worker registered"},
                           wall_t0)
    scheduler = [e for e in scheduler if e["t"] >= 0]
    keep = ("t", "request_id", "worker", "pipeline", "attempt", "generated", "error")
    return {
        "failovers": len(failovers),
        "failovers_outside_fault_windows": len(outside),
        "outside_examples": [{k: e.get(k) for k in keep} for e in outside[:10]],
        "failovers_by_error": dict(collections.Counter(re.sub(r"[\d.]+ seconds", "N seconds",
                                                              re.sub(r"step \d+", "step N", e.get("error", "")))
                                                       for e in failovers)),
        "failover_pause_s": {"count": len(pauses), "max": pauses[0][0] if pauses else None,
                             "p50": percentile([p for p, _, _ in pauses], 50),
                             "longest": [{"pause_s": p, "request_id": r, "t": t} for p, r, t in pauses[:5]]},
        "scheduler": {
            "dropped_after_client_report": [(e["t"], e.get("worker")) for e in scheduler
                                            if e["msg"] == "worker failed a health check after a client report"],
            "expired": [(e["t"], e.get("worker")) for e in scheduler if e["msg"] == "worker expired"],
            "registrations": len([e for e in scheduler if e["msg"] == "worker registered"]),
            "replans": [(e["t"], e.get("reasons")) for e in scheduler if e["msg"] == "placement planned"],
        },
    }


def write_svg(path: pathlib.Path, samples, faults, tokens_per_second, duration):
    """RSS per service over time (top) and tokens/s in 10 s buckets (bottom), faults marked."""
    width, height, left, right = 960, 620, 70, 150
    panels = [(40, 300), (380, 560)]  # (top, bottom) of each plot area
    x_max = max(duration, max((s["t"] for s in samples), default=1), 1)

    def x(t):
        return left + (width - left - right) * t / x_max

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">', '<rect width="100%" height="100%" fill="white"/>']
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
              "#17becf"]
    fault_colors = {"worker-kill": "#d62728", "worker-stop": "#ff7f0e", "scheduler-kill": "#9467bd"}

    def axes(top, bottom, y_max, label, title):
        out.append(f'<text x="{left}" y="{top - 10}" font-size="13" font-weight="bold">{title}</text>')
        out.append(f'<line x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}" stroke="black"/>')
        out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>')
        for i in range(5):
            value = y_max * i / 4
            y = bottom - (bottom - top) * i / 4
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{value:.0f}</text>')
        step = 60 if x_max > 240 else 30
        for t in range(0, int(x_max) + 1, step):
            out.append(f'<text x="{x(t):.1f}" y="{bottom + 14}" text-anchor="middle">{t}s</text>')
        out.append(f'<text x="15" y="{(top + bottom) / 2}" transform="rotate(-90 15 {(top + bottom) / 2})" '
                   f'text-anchor="middle">{label}</text>')
        for fault in faults:
            if "window" not in fault:
                continue
            color = fault_colors.get(fault["kind"], "black")
            a, b = x(fault["window"][0]), x(min(fault["window"][1], x_max))
            out.append(f'<rect x="{a:.1f}" y="{top}" width="{max(1, b - a):.1f}" height="{bottom - top}" '
                       f'fill="{color}" fill-opacity="0.08"/>')
            out.append(f'<line x1="{a:.1f}" y1="{top}" x2="{a:.1f}" y2="{bottom}" stroke="{color}" '
                       f'stroke-dasharray="4 3"/>')
            if top == panels[0][0]:
                out.append(f'<text x="{a + 3:.1f}" y="{top + 12}" fill="{color}">{fault["kind"]} '
                           f'{fault["target"]}</text>')

    def legend(entries, top):
        for i, (name, color) in enumerate(entries):
            y = top + 14 * i
            out.append(f'<rect x="{width - right + 10}" y="{y}" width="10" height="10" fill="{color}"/>')
            out.append(f'<text x="{width - right + 24}" y="{y + 9}">{name}</text>')

    names = sorted({name for s in samples for name in s["rss_mib"]})
    rss_max = max([v for s in samples for v in s["rss_mib"].values() if v] + [1]) * 1.1
    top, bottom = panels[0]
    axes(top, bottom, rss_max, "RSS (MiB)", "RSS per service")
    for i, name in enumerate(names):
        points = [(x(s["t"]), bottom - (bottom - top) * s["rss_mib"][name] / rss_max) for s in samples
                  if s["rss_mib"].get(name) is not None]
        if points:
            d = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            out.append(f'<polyline points="{d}" fill="none" stroke="{colors[i % len(colors)]}" stroke-width="1.5"/>')
    legend([(name, colors[i % len(colors)]) for i, name in enumerate(names)], top)

    buckets = collections.Counter()
    for second, count in tokens_per_second.items():
        buckets[second // 10] += count
    series = [(b * 10 + 5, buckets.get(b, 0) / 10) for b in range(int(x_max // 10) + 1)]
    tps_max = max([v for _, v in series] + [1]) * 1.1
    top, bottom = panels[1]
    axes(top, bottom, tps_max, "tokens/s", "Tokens/s (streamed chunks, 10 s buckets)")
    d = " ".join(f"{x(t):.1f},{bottom - (bottom - top) * v / tps_max:.1f}" for t, v in series)
    out.append(f'<polyline points="{d}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    legend([(kind, color) for kind, color in fault_colors.items()], top)
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    default_build = "release" if (ROOT / ".build/release/tessera").exists() else "debug"
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--build", choices=["debug", "release"], default=default_build)
    parser.add_argument("--bin", help="directory of the executables (overrides --build)")
    parser.add_argument("--out", help="results directory (default: a new /tmp/tessera-soak-… directory)")
    parser.add_argument("--worker-memory-mb", type=int, help="passed to tessera up")
    parser.add_argument("--first-fault-s", type=float, default=30)
    parser.add_argument("--fault-every-s", type=float, default=60)
    parser.add_argument("--stop-s", type=float, default=10, help="how long a SIGSTOPped worker stays stopped")
    parser.add_argument("--grace-s", type=float, default=15, help="fault window after recovery")
    parser.add_argument("--sample-s", type=float, default=10)
    parser.add_argument("--settle-s", type=float, default=5)
    parser.add_argument("--request-timeout-s", type=float, default=120, help="client read timeout")
    parser.add_argument("--max-rss-growth-mib", type=float, default=64)
    parser.add_argument("--max-rss-growth-pct", type=float, default=25)
    parser.add_argument("--no-faults", action="store_true", help="load only (a baseline)")
    parser.add_argument("--allow-spurious-failovers", action="store_true",
                        help="do not fail the run for failovers outside fault windows (still reported)")
    args = parser.parse_args()

    built = pathlib.Path(args.bin) if args.bin else ROOT / ".build" / args.build
    programs = ["tessera", *sorted(PROGRAMS)]
    missing = [p for p in programs if not (built / p).exists()]
    if missing:
        raise SystemExit(f"{built} lacks {', '.join(missing)}: swift build{' -c release' if args.build == 'release' else ''}")
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix=f"tessera-soak-{time.strftime('%Y%m%d-%H%M%S')}-"))
    out.mkdir(parents=True, exist_ok=True)
    log_dir = out / "logs"
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="tessera-soak-state-"))
    # A copy of the executables: a `swift build` during the soak rewrites them in place, and
    # `tessera up` restarts services from its binary directory.
    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    for program in programs:
        shutil.copy2(built / program, bin_dir / program)
    duration = args.minutes * 60
    lines = []

    def log(line):
        print(line, flush=True)
        lines.append(line)

    log(f"soak: {args.minutes:g} min, {args.streams} streams, {args.workers} workers, {built}, results in {out}")
    cluster = Cluster(bin_dir, args.workers, log_dir, scratch, args.worker_memory_mb)
    interrupted = []

    def on_signal(number, _frame):
        interrupted.append(number)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    faults = load = sampler = None
    try:
        placement = cluster.wait_ready()
        expected_ready = placement["ready"]
        log(f"cluster ready in {now() - cluster.started:.1f} s on port offset {cluster.offset}: "
            f"{expected_ready} pipeline(s); gateway http://127.0.0.1:{cluster.http['gateway']}/v1")
        t0, wall_t0 = now(), time.time()
        log(f"t=0 is {time.strftime('%H:%M:%S', time.gmtime(wall_t0))}.{int(wall_t0 % 1 * 1000):03d} UTC "
            f"(the logs' ts=)")
        load = Load(cluster.http["gateway"], args.streams, t0, args.request_timeout_s)
        sampler = Sampler(cluster, t0, args.sample_s)
        faults = Faults(cluster, t0, duration, args.first_fault_s, args.fault_every_s, args.stop_s, args.grace_s,
                        expected_ready, log)
        sampler.start()
        load.start()
        if not args.no_faults:
            faults.start()
        next_report = 60
        while now() - t0 < duration:
            time.sleep(1)
            if now() - t0 >= next_report:
                with load.lock:
                    done = len(load.records)
                    bad = sum(1 for r in load.records if r["outcome"] != "ok")
                log(f"[{now() - t0:7.1f}s] {done} requests, {bad} errors")
                next_report += 60
        load_end = now() - t0
        log(f"[{load_end:7.1f}s] stopping the load (requests in flight finish)")
        faults.join()
        stuck = load.stop()
        sampler.join()
        drained = now() - t0
        time.sleep(args.settle_s)
        held = leak_check(cluster, cluster.worker_names)
        final_sample = sampler.sample(phase="idle")
        sampler.samples.append(final_sample)
        leaked = {k: v for k, v in held.items() if v}  # None (no answer) counts too
        later = None
        if leaked:  # how long it stays held: past the lease TTL (30 s) it is not just slow
            time.sleep(40)
            later = leak_check(cluster, cluster.worker_names)
    except KeyboardInterrupt:
        log("interrupted")
        raise
    finally:
        if faults:
            faults.join()
        if load:
            load.stopping.set()
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    # ------------------------------------------------------------ the report
    records = sorted(load.records, key=lambda r: r["start"])
    fault_list = faults.faults
    windows = {f["index"]: f for f in fault_list}
    # The usual greedy answer per prompt (the most common text among successful requests
    # outside fault windows); any other text is a mismatch.
    by_prompt = collections.defaultdict(collections.Counter)
    for r in records:
        if r["outcome"] == "ok" and not in_flight_windows(r, fault_list):
            by_prompt[r["prompt"]][r["text"]] += 1
    usual = {p: texts.most_common(1)[0][0] for p, texts in by_prompt.items()}
    for r in records:
        if r["outcome"] == "ok" and r["prompt"] in usual and r["text"] != usual[r["prompt"]]:
            r["outcome"], r["message"] = "greedy_mismatch", f"text differs from the usual answer to prompt {r['prompt']}"
    errors_by_kind = {}
    outside = []
    for r in records:
        r["fault_windows"] = in_flight_windows(r, fault_list)
        if r["outcome"] == "ok":
            continue
        entry = errors_by_kind.setdefault(r["outcome"], {"total": 0, "outside_fault_windows": 0,
                                                          "in_fault_window": collections.Counter(), "examples": []})
        entry["total"] += 1
        if r["fault_windows"]:
            for index in r["fault_windows"]:
                entry["in_fault_window"][f"{index}:{windows[index]['kind']}"] += 1
        else:
            entry["outside_fault_windows"] += 1
            outside.append(r)
        if len(entry["examples"]) < 5:
            entry["examples"].append({k: r[k] for k in ("id", "start", "end", "status", "message", "tokens",
                                                        "fault_windows")})
    for entry in errors_by_kind.values():
        entry["in_fault_window"] = dict(entry["in_fault_window"])
    for f in fault_list:
        if "window" in f:
            hit = [r for r in records if f["index"] in r["fault_windows"]]
            f["requests_in_window"] = len(hit)
            f["errors_in_window"] = sum(1 for r in hit if r["outcome"] != "ok")
            # The longest pause a client saw between two pieces of text (failover shows here).
            f["longest_gap_s"] = round(max((r["max_gap"] for r in hit), default=0.0), 2)
    ok = [r for r in records if r["outcome"] == "ok"]
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    tokens = sum(r["tokens"] for r in records)
    load_seconds = max(1e-9, drained)
    rss = rss_report(sampler.samples, load_end, args.max_rss_growth_mib, args.max_rss_growth_pct, warmup=60)

    # Exits nobody asked for: `tessera up` prints one line per restart.
    killed = collections.Counter(f["target"] for f in fault_list if f.get("kind", "").endswith("kill"))
    exits = collections.Counter()
    exit_lines = []
    for t, line in cluster.output:
        match = re.match(r"^(\S+) (killed by signal \d+|exited with status \d+) after", line)
        if match:
            name = match[1]
            name = f"worker-{name.rsplit('-', 1)[1]}" if name.startswith("inference-worker-") else name
            exits[name] += 1
            exit_lines.append(f"[{t - t0:7.1f}s] {line}")
    unexpected = {name: n - killed.get(name, 0) for name, n in exits.items() if n > killed.get(name, 0)}

    failover = failover_report(log_dir, fault_list, wall_t0)
    untracked = max(((sum(v.get("tessera_worker_active_sessions", 0) for k, v in smp["metrics"].items()
                          if k.startswith("worker-")) - smp["placement"]["leases"], round(smp["t"], 1))
                     for smp in sampler.samples if smp.get("placement")), default=(0, None))

    failures = []
    if failover["failovers_outside_fault_windows"] and not args.allow_spurious_failovers:
        failures.append(f"{failover['failovers_outside_fault_windows']} failover(s) outside fault windows "
                        f"(a worker no fault touched was given up on)")
    if outside:
        failures.append(f"{len(outside)} error(s) outside fault windows")
    if leaked:
        failures.append(f"held {settle_text(args.settle_s)} after the load: {leaked}")
    for name, entry in rss.items():
        if entry.get("grew_too_much"):
            failures.append(f"{name} RSS grew {entry['growth_mib']} MiB (limit {entry['limit_mib']} MiB)")
    for f in fault_list:
        if f.get("recovered") is None:
            failures.append(f"fault {f['index']} ({f['kind']}) did not recover: {f.get('error', 'timeout')}")
    if unexpected:
        failures.append(f"services exited without a fault killing them: {unexpected}")
    if stuck:
        failures.append(f"{len(stuck)} client loop(s) still running {180} s after the load stopped")

    summary = {
        "config": {"minutes": args.minutes, "streams": args.streams, "workers": args.workers, "bin": str(built),
                   "port_offset": cluster.offset, "pipelines": expected_ready, "fault_window_grace_s": args.grace_s,
                   "stop_s": args.stop_s, "max_rss_growth": f"max({args.max_rss_growth_mib:g} MiB, "
                                                           f"{args.max_rss_growth_pct:g}% of the start)",
                   "error_in_fault_window": "its request was in flight between the fault and grace_s after recovery"},
        "requests": {"total": len(records), "ok": len(ok), "errors": len(records) - len(ok),
                     "errors_outside_fault_windows": len(outside),
                     "errors_in_fault_windows": len(records) - len(ok) - len(outside)},
        "errors_by_kind": errors_by_kind,
        "faults": fault_list,
        "throughput": {"completion_tokens": tokens, "load_seconds": round(load_seconds, 1),
                       "tokens_per_s": round(tokens / load_seconds, 1)},
        "ttft_s": {"p50": percentile(ttfts, 50), "p95": percentile(ttfts, 95), "p99": percentile(ttfts, 99),
                   "max": max(ttfts, default=None)},
        "longest_pause_outside_fault_windows_s": round(max((r["max_gap"] for r in ok if not r["fault_windows"]),
                                                           default=0.0), 2),
        "duration_s": {"p50": percentile([r["duration"] for r in ok], 50),
                       "p95": percentile([r["duration"] for r in ok], 95)},
        "rss_mib": rss,
        "held_after_load": held,
        "held_40s_later": later,
        "leaked": leaked,
        "service_exits": exit_lines,
        "unexpected_exits": unexpected,
        "failover": failover,
        # Sessions open at the workers beyond the leases the scheduler knows (after a scheduler
        # restart, generations still running hold no lease there): the most seen, and when.
        "untracked_sessions_max": {"sessions": untracked[0], "t": untracked[1]},
        "t0_utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall_t0)) + f".{int(wall_t0 % 1 * 1000):03d}Z",
        "log_findings": log_findings(log_dir),
        "failures": failures,
        "passed": not failures,
        "logs": str(log_dir),
    }
    with open(out / "requests.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    with open(out / "samples.jsonl", "w") as f:
        for s in sampler.samples:
            f.write(json.dumps(s) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    write_svg(out / "soak.svg", sampler.samples, fault_list, load.tokens_per_second, duration)
    (out / "soak.log").write_text("\n".join(lines + [l for _, l in cluster.output]) + "\n")

    print()
    print(f"requests {len(records)}  ok {len(ok)}  errors {len(records) - len(ok)} "
          f"(outside fault windows {len(outside)})  tokens/s {tokens / load_seconds:.1f}  "
          f"TTFT p50 {fmt(percentile(ttfts, 50))} p95 {fmt(percentile(ttfts, 95))}")
    print(f"{'fault':4} {'kind':15} {'target':10} {'at s':>7} {'recovery s':>10} {'requests':>8} {'errors':>6} "
          f"{'longest pause s':>15}")
    for f in fault_list:
        recovery = f["recovered"] - f["at"] if f.get("recovered") is not None else None
        print(f"{f['index']:<4} {f['kind']:15} {f.get('target', '?'):10} {f.get('at', 0):7.1f} {fmt(recovery):>10} "
              f"{f.get('requests_in_window', 0):8} {f.get('errors_in_window', 0):6} {fmt(f.get('longest_gap_s')):>15}")
    for kind, entry in sorted(errors_by_kind.items()):
        print(f"  error {kind}: {entry['total']} ({entry['outside_fault_windows']} outside fault windows); "
              f"e.g. {entry['examples'][0]['id']}: {entry['examples'][0]['message'][:120]}")
    print(f"{'service':14} {'start MiB':>9} {'end MiB':>8} {'idle MiB':>8} {'max MiB':>8} {'growth':>7}")
    for name, entry in rss.items():
        print(f"{name:14} {fmt(entry.get('start_mib')):>9} {fmt(entry.get('end_mib')):>8} "
              f"{fmt(entry.get('idle_end_mib')):>8} {fmt(entry.get('max_mib')):>8} {fmt(entry.get('growth_mib')):>7}")
    pause = failover["failover_pause_s"]
    print(f"failovers {failover['failovers']} ({failover['failovers_outside_fault_windows']} outside fault windows); "
          f"failover pause p50 {fmt(pause['p50'])} s, max {fmt(pause['max'])} s; "
          f"workers dropped after a client report {len(failover['scheduler']['dropped_after_client_report'])}, "
          f"re-plans {len(failover['scheduler']['replans'])}; "
          f"untracked sessions up to {untracked[0]:g} (t={untracked[1]})")
    print(f"held after the load: {leaked or 'nothing'}")
    print(f"results: {out}/summary.json, {out}/soak.svg, logs in {log_dir}")
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("PASSED")
    return 0


def settle_text(settle):
    return f"{settle:g} s"


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
