"""The operator's dashboard (`/dashboard` on the gateway) in a real browser: Debian's headless
Chromium driven by Playwright, against a cluster of real processes (cache-manager, scheduler,
gateway, three workers). The page loads with no console errors and nothing from elsewhere,
shows the workers by their ids, pipelines as chains with layer ranges, the requests just
served, and follows a worker that is killed; its JSON API answers in the documented shape
(docs/dashboard.md) without an API key; clients that go away leave nothing open behind.

The screenshot in the docs comes from this test: `TESSERA_DASHBOARD_SCREENSHOT=docs/dashboard.png`."""
import json
import os
import shutil
import signal
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest

from conftest import ROOT, gauges
from test_failover import ProcessCluster

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")

WORKER_KEYS = {"id", "address", "state", "memory_bytes", "memory_used_bytes", "cpu_count", "compute_gflops",
               "memory_bandwidth_gbps", "decode_gbps", "active_sessions", "session_slots", "cpu_utilization",
               "last_heartbeat_age_s", "ready_shards", "scheduler_reputation", "reputation"}
PIPELINE_KEYS = {"id", "model", "model_sha256", "model_layers", "ready", "draining", "active_requests",
                 "predicted_ms_per_token", "context_length", "stages"}
STAGE_KEYS = {"worker_id", "address", "first_layer", "end_layer", "ready", "predicted_ms_per_token"}
REQUEST_KEYS = {"id", "model", "prompt_tokens", "completion_tokens", "ttft_ms", "duration_ms", "status", "error",
                "error_message", "failovers", "receipt_id", "finished_at_unix_ms"}
SAMPLE_KEYS = {"unix_s", "tokens", "first_tokens", "mean_ttft_ms", "finished"}
STATES = {"serving", "loading", "idle", "stale", "quarantined"}

# A plain urllib opener: the suite's installed one adds an API key, and the dashboard must not need one.
PLAIN = urllib.request.build_opener()


def get(base, path):
    """(status, JSON body) of a GET without an API key."""
    try:
        with PLAIN.open(base + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def dashboard_base(cluster):
    """The dashboard lives beside /metrics: on the gateway's operations port when it has one."""
    ops = getattr(cluster, "gateway_ops", 0) or getattr(getattr(cluster, "gateway", None), "ops_port", 0)
    for port in (ops, cluster.gateway_http):
        if not port:
            continue
        try:
            with PLAIN.open(f"http://127.0.0.1:{port}/dashboard/api/activity", timeout=5) as response:
                if response.status == 200:
                    return f"http://127.0.0.1:{port}"
        except (urllib.error.URLError, ConnectionError):
            continue
    raise AssertionError("no port of the gateway serves /dashboard")


def generate(stubs, port, prompt, request_id, max_tokens=24):
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    request = pb.GenerateRequest(prompt=prompt, request_id=request_id,
                                 sampling=common.SamplingParams(temperature=0, max_tokens=max_tokens, ignore_eos=True))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return list(rpc.GatewayStub(channel).Generate(request, timeout=300))


def check_api_shape(base, cluster_doc, activity_doc):
    assert set(cluster_doc) == {"captured_at_unix_ms", "workers", "pipelines", "reputations", "warnings"}
    for worker in cluster_doc["workers"]:
        assert set(worker) == WORKER_KEYS
        assert worker["state"] in STATES
        assert worker["memory_bytes"] > 0 and worker["cpu_count"] >= 1
    assert cluster_doc["reputations"] == {"status": "not_configured", "error": None}
    for pipeline in cluster_doc["pipelines"]:
        assert set(pipeline) == PIPELINE_KEYS
        assert pipeline["model"] == "smollm2-135m" and pipeline["model_layers"] == 30
        for stage in pipeline["stages"]:
            assert set(stage) == STAGE_KEYS
        # The stages' layer ranges chain from 0 to the model's last layer.
        bounds = [(s["first_layer"], s["end_layer"]) for s in pipeline["stages"]]
        assert bounds[0][0] == 0 and bounds[-1][1] == pipeline["model_layers"]
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:])), bounds
    assert set(activity_doc) == {"captured_at_unix_ms", "queue", "throughput", "recent_requests"}
    assert set(activity_doc["queue"]) == {"waiting", "max_queued", "active_generations", "waiting_for_pipeline"}
    assert len(activity_doc["throughput"]) == 60
    for sample in activity_doc["throughput"]:
        assert set(sample) == SAMPLE_KEYS
    for request in activity_doc["recent_requests"]:
        assert set(request) == REQUEST_KEYS
    # Bad input: a clear 4xx with OpenAI's error body.
    status, body = get(base, "/dashboard/api/activity?seconds=0")
    assert status == 400 and body["error"]["param"] == "seconds" and "1 to 119" in body["error"]["message"]
    status, body = get(base, "/dashboard/api/nothing-here")
    assert status == 404 and "unknown dashboard API path" in body["error"]["message"]


def open_connections(base):
    """The gateway's open HTTP connections (its own /metrics request counts one; the one
    before it may count too for a few milliseconds, so callers poll every half second)."""
    return gauges(int(base.rsplit(":", 1)[1]))["tessera_http_connections"]


def settled_connections(base, timeout=10):
    """Open connections once the count stops falling (a closed client is noticed a moment later)."""
    deadline, last = time.monotonic() + timeout, open_connections(base)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = open_connections(base)
        if now >= last:
            return min(now, last)
        last = now
    return last


def layer_text(first, end):
    """How the page names a stage's layers `[first, end)`."""
    return f"layer {first}" if end - first == 1 else f"layers {first}–{end - 1}"


def connections_fall_to(base, target, timeout=10):
    """Polls until the open connections are at most `target`; returns the last count read."""
    deadline = time.monotonic() + timeout
    while True:
        count = open_connections(base)
        if count <= target or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup)")
def test_dashboard_in_headless_chromium(processes, stubs, tmp_path):
    # 180 MiB workers cannot hold the whole model: pipelines span two workers.
    cluster = ProcessCluster(processes, tmp_path, workers=3, memory_mb=180)
    cluster.wait_ready(stubs)
    base = dashboard_base(cluster)
    worker_ids = set(cluster.workers)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, cluster_doc = get(base, "/dashboard/api/cluster")
        assert status == 200, cluster_doc
        if {w["id"] for w in cluster_doc["workers"]} == worker_ids and any(p["ready"] for p in cluster_doc["pipelines"]):
            break
        time.sleep(0.5)
    assert {w["id"] for w in cluster_doc["workers"]} == worker_ids

    # Requests the page should list (their ids are ours), two at once so throughput shows.
    request_ids = [f"dash-{index}-{int(time.time())}" for index in range(3)]
    threads = [threading.Thread(target=generate, args=(stubs, cluster.grpc_port, prompt, request_id))
               for prompt, request_id in zip(["The ocean is", "Mountains are", "A good book"], request_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    time.sleep(1.1)  # the throughput history holds whole seconds only
    status, activity_doc = get(base, "/dashboard/api/activity")
    assert status == 200
    check_api_shape(base, cluster_doc, activity_doc)
    served = {r["id"]: r for r in activity_doc["recent_requests"]}
    for request_id in request_ids:
        assert served[request_id]["status"] == "length" and served[request_id]["completion_tokens"] == 24
        assert served[request_id]["ttft_ms"] > 0 and served[request_id]["duration_ms"] >= served[request_id]["ttft_ms"]
    assert sum(s["tokens"] for s in activity_doc["throughput"]) >= 72

    baseline_connections = settled_connections(base)
    console, page_errors, foreign = [], [], []
    with sync_api.sync_playwright() as playwright:
        # Root in a container: Chromium's sandbox needs user namespaces it cannot have here.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 1100})
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}")
                if message.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("request", lambda request: None if request.url.startswith(base) or request.url.startswith("data:")
                else foreign.append(request.url))
        response = page.goto(base + "/dashboard")
        assert response.status == 200
        assert "default-src 'none'" in response.headers["content-security-policy"]

        # Every worker by its id, as text in the workers table.
        page.wait_for_function(
            "ids => ids.every(id => document.querySelector('#workers tbody').innerText.includes(id))",
            arg=sorted(worker_ids), timeout=20000)
        # Pipelines as chains of boxes, each naming a worker and its layers.
        page.wait_for_selector("#pipelines .stage", timeout=20000)
        stages = page.locator("#pipelines .stage").all_inner_texts()
        expected = [(s["worker_id"], layer_text(s["first_layer"], s["end_layer"]))
                    for p in get(base, "/dashboard/api/cluster")[1]["pipelines"] for s in p["stages"]]
        assert len(stages) == len(expected)
        for worker_id, layers in expected:
            assert any(worker_id in text and layers in text for text in stages), (worker_id, layers, stages)
        # The requests just served, with their ids.
        page.wait_for_function(
            "ids => ids.every(id => document.querySelector('#requests tbody').innerText.includes(id))",
            arg=request_ids, timeout=10000)
        # A request while the page watches: the tokens/s figure and chart follow it.
        generate(stubs, cluster.grpc_port, "The sky is", "dash-live", max_tokens=40)
        # (Functions, not expressions: the page's policy forbids eval, which expressions need.)
        page.wait_for_function("() => document.querySelector('#requests tbody').innerText.includes('dash-live')",
                               timeout=10000)
        assert page.locator("#stat-ttft").inner_text() != "–"
        time.sleep(1.5)  # one more poll, so the charts hold the live request too
        screenshot = os.environ.get("TESSERA_DASHBOARD_SCREENSHOT") or str(tmp_path / "dashboard.png")
        page.screenshot(path=str(ROOT / screenshot) if not os.path.isabs(screenshot) else screenshot, full_page=True)

        # What one open dashboard costs the gateway: CPU over 10 s of polling.
        before, started = cpu_seconds(cluster.gateway.pid), time.monotonic()
        time.sleep(10)
        share = (cpu_seconds(cluster.gateway.pid) - before) / (time.monotonic() - started)
        print(f"\ngateway CPU with one dashboard polling: {share * 100:.1f}% of a core")

        # A worker killed: the page shows it down (stale), then gone once the scheduler drops it.
        victim = expected[-1][0]
        cluster.workers[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        page.wait_for_function(
            """id => { const row = document.querySelector(`#workers tr[data-worker-id="${id}"]`);
                       return row === null || row.innerText.includes('stale'); }""",
            arg=victim, timeout=30000)
        print(f"dashboard showed {victim} down {time.monotonic() - killed_at:.1f} s after SIGKILL")
        page.wait_for_function(
            "id => document.querySelector(`#workers tr[data-worker-id=\"${id}\"]`) === null",
            arg=victim, timeout=30000)
        for survivor in worker_ids - {victim}:
            assert page.locator(f'#workers tr[data-worker-id="{survivor}"]').count() == 1
        browser.close()

    assert page_errors == [], page_errors
    assert console == [], console
    assert foreign == [], f"the page fetched from elsewhere: {foreign}"

    # The browser is gone: none of its connections stays open at the gateway.
    assert connections_fall_to(base, baseline_connections) <= baseline_connections


def test_dashboard_clients_that_disconnect_cost_nothing(processes, stubs, tmp_path):
    """Clients that drop mid-request (or never finish one) leave no connection open and the
    gateway keeps answering: the dashboard keeps nothing per client."""
    cluster = ProcessCluster(processes, tmp_path, workers=1, memory_mb=400)
    cluster.wait_ready(stubs)
    base = dashboard_base(cluster)
    port = int(base.rsplit(":", 1)[1])
    baseline = settled_connections(base)
    sockets = []
    for index in range(40):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        path = "/dashboard/api/cluster" if index % 2 else "/dashboard/api/activity"
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        # Half send a whole request and leave before the answer, half stop mid-request.
        client.sendall(request if index % 4 < 2 else request[:10])
        sockets.append(client)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and open_connections(base) < baseline + 40:
        time.sleep(0.1)
    assert open_connections(base) >= baseline + 40
    for client in sockets:
        # Closed with a reset, as a crashed client's kernel would.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    assert connections_fall_to(base, baseline) <= baseline
    status, body = get(base, "/dashboard/api/cluster")
    assert status == 200 and [w["id"] for w in body["workers"]] == ["worker-1"]

    # A generation whose client leaves mid-stream is listed as cancelled.
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    request = pb.GenerateRequest(prompt="Rivers flow", request_id="dash-cancel",
                                 sampling=common.SamplingParams(temperature=0, max_tokens=400, ignore_eos=True))
    with grpc.insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        call = rpc.GatewayStub(channel).Generate(request, timeout=300)
        for _ in range(3):
            next(call)
        call.cancel()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listed = {r["id"]: r for r in get(base, "/dashboard/api/activity")[1]["recent_requests"]}
        if "dash-cancel" in listed:
            break
        time.sleep(0.2)
    assert listed["dash-cancel"]["status"] == "cancelled", listed.get("dash-cancel")
    assert 3 <= listed["dash-cancel"]["completion_tokens"] < 400


def test_dashboard_shows_the_verifiers_reputations(processes, stubs, tmp_path):
    """With a verifier, each worker's row carries the verifier's record of it."""
    from test_verification import VerifiedCluster
    cluster = VerifiedCluster(processes, tmp_path)
    cluster.add_worker("worker-v", memory_mb=400)
    cluster.wait_pipeline(stubs, {"worker-v"})
    base = dashboard_base(cluster)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = get(base, "/dashboard/api/cluster")
        assert status == 200, body
        workers = {w["id"]: w for w in body["workers"]}
        if body["reputations"]["status"] == "available" and workers.get("worker-v", {}).get("reputation"):
            break
        time.sleep(0.5)
    assert body["reputations"] == {"status": "available", "error": None}
    reputation = workers["worker-v"]["reputation"]
    assert set(reputation) == {"score", "trust", "checks_passed", "checks_failed", "slashed", "balance"}
    assert reputation["trust"] in ("new", "trusted") and 0 <= reputation["score"] <= 1
    assert reputation["slashed"] is False
    # The verifier stopped: the page says so rather than failing.
    cluster.verifier.send_signal(signal.SIGKILL)
    cluster.verifier.wait(timeout=30)
    time.sleep(1)  # past the overview's reuse window
    status, body = get(base, "/dashboard/api/cluster")
    assert status == 200 and body["reputations"]["status"] == "unreachable"
    assert body["reputations"]["error"] and all(w["reputation"] is None for w in body["workers"])
