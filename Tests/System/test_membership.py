"""Worker identity and membership with real processes: a worker's id is its own (given, or
generated once and kept in its state directory), a second worker claiming a live id is refused
and stops, and after a scheduler outage the workers are back within seconds with the shards
they hold, quietly; a worker counts the shard files it starts with in its metrics."""
import os
import re
import signal
import time

import grpc

from conftest import free_port, gauges, health_status, wait_serving
from grpc_health.v1 import health_pb2
from test_failover import ProcessCluster


def list_workers(stubs, port):
    pb, rpc = stubs.scheduler_pb2, stubs.scheduler_pb2_grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return rpc.SchedulerStub(channel).ListWorkers(pb.ListWorkersRequest(), timeout=5).workers


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return time.monotonic()
        except grpc.RpcError:
            pass  # the scheduler is not answering yet
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout} s")


def worker_args(scheduler_port, port, *extra):
    return ["--port", str(port), "--http-port", str(free_port()), "--scheduler", f"127.0.0.1:{scheduler_port}",
            "--memory-mb", "256", "--threads", "1", *extra]


def log_since(proc, offset=0):
    with open(proc.log_path) as log:
        log.seek(offset)
        return log.read()


def test_second_worker_with_a_live_id_exits_with_the_reason(processes, stubs, scheduler):
    first_port, second_port = free_port(), free_port()
    first = processes.start("inference-worker", *worker_args(scheduler.port, first_port, "--worker-id", "twin"))
    wait_serving(first_port, proc=first)

    second = processes.start("inference-worker", *worker_args(scheduler.port, second_port, "--worker-id", "twin"))
    assert second.wait(timeout=30) == 1
    errors = [line for line in log_since(second).splitlines() if line.startswith("inference-worker: error:")]
    assert len(errors) == 1, log_since(second)
    assert re.search(rf"worker id twin is registered from 127\.0\.0\.1:{first_port} and sent a heartbeat "
                     r"[0-9.]+ s ago; stop the other worker or choose another --worker-id$", errors[0]), errors[0]

    # The first keeps its registration and keeps sending heartbeats.
    [before] = list_workers(stubs, scheduler.port)
    assert (before.worker_id, before.address) == ("twin", f"127.0.0.1:{first_port}")
    wait_for(lambda: list_workers(stubs, scheduler.port)[0].last_heartbeat_unix_ms > before.last_heartbeat_unix_ms,
             5, "a heartbeat from the first worker")
    assert first.poll() is None and health_status(first_port) == health_pb2.HealthCheckResponse.SERVING


def test_generated_id_is_kept_across_a_restart(processes, stubs, scheduler, tmp_path):
    # No --worker-id and no --state-dir: the id goes to ~/.cache/tessera/worker-<port> (HOME here).
    home, port = tmp_path / "home", free_port()
    args, env = worker_args(scheduler.port, port), {"HOME": str(home)}
    worker = processes.start("inference-worker", *args, env=env)
    wait_serving(port, proc=worker)
    [registered] = list_workers(stubs, scheduler.port)
    assert re.fullmatch(r"w-[0-9a-f]{12}", registered.worker_id), registered.worker_id
    state = home / ".cache" / "tessera" / f"worker-{port}" / "worker-id"
    assert state.read_text().strip() == registered.worker_id

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    wait_for(lambda: not list_workers(stubs, scheduler.port), 5, "the stopped worker's expiry")
    worker = processes.start("inference-worker", *args, env=env)
    wait_serving(port, proc=worker)
    assert [w.worker_id for w in list_workers(stubs, scheduler.port)] == [registered.worker_id]


def test_a_worker_counts_the_shard_files_it_starts_with(processes, scheduler, tmp_path):
    # What a restarted worker's volume kept shows in its metrics before anyone asks it for a
    # shard: verified-looking <sha>.gguf files count, a partial download and stray files do not.
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / ("a" * 64 + ".gguf")).write_bytes(b"x" * 1000)
    (shards / ("b" * 64 + ".gguf")).write_bytes(b"y" * 2500)
    (shards / ("c" * 64 + ".gguf.partial")).write_bytes(b"z" * 4000)
    (shards / "notes.gguf").write_bytes(b"w" * 8000)
    port, http = free_port(), free_port()
    worker = processes.start("inference-worker", "--port", str(port), "--http-port", str(http),
                             "--scheduler", f"127.0.0.1:{scheduler.port}", "--memory-mb", "256", "--threads", "1",
                             "--shard-dir", str(shards), "--disk-budget-mb", "64")
    wait_serving(port, proc=worker)
    wait_for(lambda: gauges(http).get("tessera_worker_disk_shards") == 2, 10, "the disk gauges after a heartbeat")
    values = gauges(http)
    assert values["tessera_worker_disk_bytes"] == 3500
    assert values["tessera_worker_disk_budget_bytes"] == 64 << 20


def test_workers_are_back_within_seconds_after_a_scheduler_outage(processes, stubs, tmp_path):
    # 180 MiB per worker cannot hold the model: the pipeline spans both workers.
    cluster = ProcessCluster(processes, tmp_path, workers=2, memory_mb=180)
    cluster.wait_ready(stubs)

    def shards_listed():
        return {w.worker_id: sorted(s.sha256 for s in w.ready_shards)
                for w in list_workers(stubs, cluster.scheduler_port)}
    # A pipeline is ready once the loads answered; the heartbeats that list them follow.
    wait_for(lambda: set(shards_listed()) == {"worker-1", "worker-2"} and all(shards_listed().values()),
             10, "both workers listing their shards")
    before = shards_listed()

    offsets = {name: os.path.getsize(proc.log_path) for name, proc in cluster.workers.items()}
    cluster.scheduler.send_signal(signal.SIGKILL)
    cluster.scheduler.wait(timeout=10)
    time.sleep(20)
    cluster.scheduler = processes.start("scheduler", *cluster.scheduler_args)
    wait_serving(cluster.scheduler_port, timeout=60, proc=cluster.scheduler)
    back = time.monotonic()

    def reported():
        now = {w.worker_id: sorted(s.sha256 for s in w.ready_shards)
               for w in list_workers(stubs, cluster.scheduler_port)}
        return set(now) == set(before) and all(now.values())

    registered = wait_for(lambda: len(list_workers(stubs, cluster.scheduler_port)) == 2, 10,
                          "both workers registered again")
    with_shards = wait_for(reported, 10, "both workers reporting their shards")
    ready = wait_for(lambda: any(not p.draining and all(s.ready for s in p.stages)
                                 for p in cluster.placement(stubs)), 30, "a ready pipeline")
    logs = {name: log_since(proc, offsets[name]) for name, proc in cluster.workers.items()}
    # The returning scheduler adopts the shards the workers kept: with the first worker back
    # alone the model does not fit, and without a plan nothing is unloaded.
    unloaded = sum(log.count('msg="shard unloaded"') for log in logs.values())
    print(f"\n[membership] after a 20 s outage: workers registered {registered - back:.2f} s after the scheduler "
          f"answered, shards reported {with_shards - back:.2f} s, pipeline ready {ready - back:.2f} s; "
          f"worker log lines during the outage: {[len(log.splitlines()) for log in logs.values()]}, "
          f"shards unloaded and loaded again from disk: {unloaded}")

    assert unloaded == 0, logs
    for name, log in logs.items():
        assert "downloading shard" not in log, f"{name} downloaded again:\n{log}"
        # One line when heartbeats start failing (no reminder within a minute), one when they work again.
        failing = [line for line in log.splitlines() if 'msg="heartbeat fail' in line]
        assert len(failing) == 1, f"{name}:\n{log}"
        assert 'msg="heartbeat recovered"' in log, f"{name}:\n{log}"
