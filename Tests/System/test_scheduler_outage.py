"""A scheduler outage as the gateway's clients see it: running streams go on (they talk to
workers), new requests fail at once with 503 and Retry-After instead of waiting 30 s, and
/readyz says "not ready" until the scheduler answers again. The restarted scheduler has
forgotten the running stream's lease; the gateway's renewal asks for it again, so the
scheduler counts the stream again within a renewal period."""
import json
import signal
import threading
import time
import urllib.error
import urllib.request

import grpc

from conftest import gauges, wait_serving
from test_leases import active_requests, generate
from test_failover import ProcessCluster

TOKENS = 800
LEASE_TTL_MS = 3000  # renewed every 1 s


def http(port, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body and json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout} s")


def test_the_gateway_is_honest_while_the_scheduler_is_down(processes, stubs, tmp_path):
    cluster = ProcessCluster(processes, tmp_path, workers=1, memory_mb=400,
                             scheduler_args=("--lease-ttl-ms", str(LEASE_TTL_MS)))
    cluster.wait_ready(stubs)
    assert http(cluster.gateway_ops, "/readyz")[0] == 200
    record, errors = [], []

    def stream():
        try:
            generate(stubs, cluster.grpc_port, "The history of the Roman empire", record, max_tokens=TOKENS)
        except grpc.RpcError as error:
            errors.append((error.code(), error.details()))

    running = threading.Thread(target=stream)
    running.start()
    wait_for(lambda: len(record) >= 5, 60, "first tokens")

    cluster.scheduler.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    not_ready = wait_for(lambda: http(cluster.gateway_ops, "/readyz")[0] == 503, 5, "/readyz 503")
    asked = time.monotonic()
    status, headers, body = http(cluster.gateway_http, "/v1/completions",
                                 {"model": "smollm2-135m", "prompt": "Hi", "max_tokens": 4})
    answered = time.monotonic()
    assert status == 503 and json.loads(body)["error"]["code"] == "service_unavailable"
    assert headers.get("Retry-After") == "2"
    assert answered - asked < 2, "a new request waited instead of failing fast"
    # The access log has a line for it, with its status.
    log = open(cluster.gateway.log_path).read()
    assert 'msg="http request"' in log and "path=/v1/completions" in log and "status=503" in log

    cluster.scheduler = processes.start("scheduler", *cluster.scheduler_args)
    wait_serving(cluster.scheduler_port, timeout=60, proc=cluster.scheduler)
    back = time.monotonic()
    running_when_back = running.is_alive()
    ready_again = wait_for(lambda: http(cluster.gateway_ops, "/readyz")[0] == 200, 10, "/readyz 200 again")
    # The new scheduler knows no lease; once its pipeline is ready again, the gateway's next
    # renewal finds the stream's lease unknown and asks for it again on the same worker.
    cluster.wait_pipelines(stubs, lambda ready: len(ready) == 1, timeout=60)
    pipeline_back = time.monotonic()
    counted = wait_for(lambda: active_requests(cluster, stubs) == 1, LEASE_TTL_MS / 3000 + 2,
                       "the running stream's lease at the restarted scheduler")
    assert running.is_alive(), "the stream ended before its lease was counted again; make it longer"
    assert gauges(cluster.gateway_ops)["tessera_gateway_leases"] == 1
    running.join(timeout=120)
    assert errors == [] and len(record) == TOKENS, "the running stream should not notice the outage"
    assert running_when_back, "the stream ended before the scheduler came back; make it longer"
    # Released with the stream: nothing stays counted.
    wait_for(lambda: active_requests(cluster, stubs) == 0, 10, "the lease released after the stream")
    print(f"\n[scheduler outage] /readyz 503 after {not_ready - killed:.2f} s, a new request got 503 in "
          f"{answered - asked:.2f} s, ready {ready_again - back:.2f} s after the scheduler answered, "
          f"the stream's lease counted again {counted - pipeline_back:.2f} s after its pipeline was ready")
