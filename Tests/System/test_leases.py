"""Leases: the gateway renews the lease of a running generation, so a stream longer than the
lease TTL keeps its pipeline; a gateway that dies stops renewing, and the scheduler releases
its leases once the TTL runs out (before, they stayed "1 active" for good)."""
import signal
import threading
import time

import grpc

from conftest import gauges
from test_failover import ProcessCluster

LEASE_TTL_MS = 2000


def generate(stubs, port, prompt, record, max_tokens=1500):
    """A long greedy stream (1,500 tokens: many seconds, far past the lease TTL)."""
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    request = pb.GenerateRequest(prompt=prompt, sampling=common.SamplingParams(
        temperature=0, max_tokens=max_tokens, ignore_eos=True))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for message in rpc.GatewayStub(channel).Generate(request, timeout=300):
            record.append(list(message.token_ids))


def active_requests(cluster, stubs):
    return sum(p.active_requests for p in cluster.placement(stubs))


def test_leases_are_renewed_while_streaming_and_expire_when_the_gateway_dies(processes, stubs, tmp_path):
    cluster = ProcessCluster(processes, tmp_path, workers=1, memory_mb=400,
                             scheduler_args=("--lease-ttl-ms", str(LEASE_TTL_MS)))
    cluster.wait_ready(stubs)
    record, errors = [], []

    def stream():
        try:
            generate(stubs, cluster.grpc_port, "The history of the Roman empire", record)
        except grpc.RpcError as error:
            errors.append(error.code())

    thread = threading.Thread(target=stream)
    thread.start()
    deadline = time.monotonic() + 60
    while not record and time.monotonic() < deadline:
        time.sleep(0.02)
    assert record, "no token arrived"
    started = time.monotonic()
    # Longer than two TTLs into the stream, its lease is still held: the gateway renews it.
    while time.monotonic() - started < 2.5 * LEASE_TTL_MS / 1000 and thread.is_alive():
        assert active_requests(cluster, stubs) == 1
        time.sleep(0.2)
    assert thread.is_alive(), "the stream ended before the check; make it longer"
    # The gauges say what is in flight: one generation holding one lease at the gateway; one
    # session with its KV cache reserved, and the loaded shard, at the worker.
    gateway = gauges(cluster.gateway_ops)
    assert gateway["tessera_gateway_active_generations"] == 1 and gateway["tessera_gateway_leases"] == 1
    worker = gauges(cluster.worker_http["worker-1"])
    assert worker["tessera_worker_active_sessions"] == 1
    assert worker["tessera_worker_kv_cache_bytes"] > 0 and worker["tessera_worker_shard_bytes"] > 90_000_000

    cluster.gateway.send_signal(signal.SIGKILL)
    thread.join(timeout=30)
    assert errors, "the stream should have failed with its gateway"
    killed = time.monotonic()
    while active_requests(cluster, stubs) != 0:
        assert time.monotonic() - killed < LEASE_TTL_MS / 1000 + 5, "the dead gateway's lease was never released"
        time.sleep(0.1)
    print(f"\n[leases] released {time.monotonic() - killed:.1f} s after the gateway died (TTL {LEASE_TTL_MS} ms)")
