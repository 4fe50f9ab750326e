"""Restarting the cache-manager loses nothing: under `tessera up`, a SIGKILLed cache-manager
comes back (supervision) with the same catalog — models and the shards cut so far, kept in
its SQLite store — and a worker that has to download its shard while the cache-manager is
down, or just after, still gets it and serves the same greedy tokens as before. The verifier,
killed, is restarted too and reports SERVING again."""
import os
import shutil
import signal
import threading
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2

from conftest import health_status
from test_up_supervision import SupervisedUp, generate, tokens, wait_for

PROMPT = "The history of the Roman empire"
MAX_TOKENS = 32
SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def cluster(bin_dir, tmp_path_factory):
    up = SupervisedUp(bin_dir, tmp_path_factory.mktemp("cache-manager-restart"), workers=2)
    try:
        yield up.wait_ready()
    finally:
        up.stop()


def catalog(stubs, port):
    """What the cache-manager lists: per model its name, SHA-256, layers, and the shards cut
    so far (SHA-256, layer range)."""
    from tessera.v1 import cache_manager_pb2 as pb, cache_manager_pb2_grpc as rpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        api = rpc.CacheManagerStub(channel)
        models = api.ListModels(pb.ListModelsRequest(), timeout=10).models
        listed = []
        for model in models:
            manifest = api.GetModel(pb.GetModelRequest(model=model.model.sha256), timeout=10)
            shards = sorted((s.sha256, s.layers.first, s.layers.last, s.size_bytes) for s in manifest.shards)
            listed.append((model.model.name, model.model.sha256, model.layer_count, shards))
        return sorted(listed)


def placement(stubs, port):
    pb, rpc = stubs.scheduler_pb2, stubs.scheduler_pb2_grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return rpc.SchedulerStub(channel).GetPlacement(pb.GetPlacementRequest(), timeout=10).pipelines


def ready_workers(stubs, port):
    """Workers whose every stage in a ready, non-draining pipeline is loaded."""
    try:
        pipelines = placement(stubs, port)
    except grpc.RpcError:
        return set()
    return {s.worker_id for p in pipelines if not p.draining and all(s.ready for s in p.stages) for s in p.stages}


def metric(http_port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_a_restarted_cache_manager_keeps_its_catalog_and_serves_a_worker_that_lost_its_shards(cluster, stubs):
    o = cluster.offset
    scheduler, cache_manager, worker_2_http = 7401 + o, 7402 + o, 9411 + o
    shard_dir = cluster.log_dir / "shards" / "worker-2"  # TesseraUp: TESSERA_SHARD_DIR=<log dir>/shards
    wait_for(lambda: ready_workers(stubs, scheduler) == {"worker-1", "worker-2"}, 60, "both workers placed")
    reference = []
    generate(stubs, cluster.grpc_port, reference, max_tokens=MAX_TOKENS, prompt=PROMPT)
    assert len(tokens(reference)) == MAX_TOKENS
    before = catalog(stubs, cache_manager)
    assert [(name, layers) for name, _, layers, _ in before] == [("smollm2-135m", 30)]
    assert before[0][3], "no shard cut yet"
    assert any(shard_dir.glob("*.gguf")), "worker-2 holds no shard"

    # worker-2 dies and loses its shard directory: when it comes back, its shard must be
    # downloaded again. The cache-manager is killed as soon as that download starts.
    log = cluster.log_dir / "inference-worker-2.log"
    seen = log.stat().st_size
    victim = cluster.child_pid("inference-worker", "worker-2")
    sigkill(victim)
    shutil.rmtree(shard_dir)
    killed = time.monotonic()
    wait_for(lambda: "downloading shard" in log.read_text()[seen:], 30, "worker-2 downloading its shard again")
    store = cluster.child_pid("cache-manager")
    sigkill(store)
    store_killed = time.monotonic()
    partial = [p.stat().st_size for p in shard_dir.glob("*.partial")]

    # (a) The cache-manager is back, with the same catalog.
    wait_for(lambda: cluster.child_pid("cache-manager") not in (None, store), 15, "a new cache-manager")
    wait_for(lambda: health_status(cache_manager) == SERVING, 30, "the cache-manager SERVING again")
    back = time.monotonic()
    assert catalog(stubs, cache_manager) == before

    # (b) worker-2 got its shard after all: the file is back, its pipeline ready.
    wait_for(lambda: cluster.child_pid("inference-worker", "worker-2") not in (None, victim), 15, "a new worker-2")
    wait_for(lambda: ready_workers(stubs, scheduler) == {"worker-1", "worker-2"}, 45, "worker-2 placed again")
    placed = time.monotonic()
    shard_sha = {s.shard.sha256 for p in placement(stubs, scheduler) for s in p.stages if s.worker_id == "worker-2"}
    assert len(shard_sha) == 1
    assert (shard_dir / f"{shard_sha.pop()}.gguf").exists()
    assert metric(worker_2_http, 'tessera_worker_shard_load_seconds_count{downloaded="true"}') >= 1
    log_text = log.read_text()[seen:]
    print(f"\n[cache-manager restart] killed {store_killed - killed:.2f} s after worker-2 "
          f"(partial download then: {partial or 'none'} bytes); SERVING again {back - store_killed:.2f} s later; "
          f"worker-2 placed again {placed - killed:.2f} s after its kill; "
          f"interrupted download resumed: {'shard download interrupted' in log_text}")

    # And serves the same greedy tokens: two streams at once take both pipelines.
    for attempt in range(5):
        records, threads = [[], []], []
        for record in records:
            threads.append(threading.Thread(target=generate, args=(stubs, cluster.grpc_port, record),
                                            kwargs=dict(max_tokens=MAX_TOKENS, prompt=PROMPT)))
            threads[-1].start()
        for thread in threads:
            thread.join(timeout=60)
        assert [tokens(r) for r in records] == [tokens(reference)] * 2
        if metric(worker_2_http, "tessera_worker_sessions_opened_total") >= 1:
            break
    else:
        raise AssertionError("worker-2 never served a request")
    assert cluster.proc.poll() is None
    assert "cache-manager killed by signal 9" in cluster.text()


def test_a_killed_verifier_is_restarted_and_serving(cluster):
    port = 7403 + cluster.offset
    assert health_status(port) == SERVING
    victim = cluster.child_pid("verifier")
    sigkill(victim)
    killed = time.monotonic()
    wait_for(lambda: cluster.child_pid("verifier") not in (None, victim), 15, "a new verifier")
    wait_for(lambda: health_status(port) == SERVING, 30, "the verifier SERVING again")
    print(f"\n[verifier restart] SERVING again {time.monotonic() - killed:.2f} s after SIGKILL")
    wait_for(lambda: "verifier killed by signal 9" in cluster.text(), 5, "the restart line")


def sigkill(pid):
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
