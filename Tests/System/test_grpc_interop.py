"""A gRPC client that no one here wrote (Python grpcio, stubs from proto/) calls the services."""
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2

from conftest import free_port, health_status, wait_serving


def test_health_of_every_service(processes, scheduler):
    for program, extra in [("cache-manager", []), ("verifier", []),
                           ("gateway", ["--scheduler", f"127.0.0.1:{scheduler.port}"])]:
        port, http = free_port(), free_port()
        proc = processes.start(program, "--port", str(port), "--http-port", str(http), *extra)
        wait_serving(port, proc=proc)
        assert health_status(port) == health_pb2.HealthCheckResponse.SERVING


def test_register_heartbeat_list_and_errors(stubs, scheduler):
    pb, rpc, common = stubs.scheduler_pb2, stubs.scheduler_pb2_grpc, stubs.common_pb2
    with grpc.insecure_channel(f"127.0.0.1:{scheduler.port}") as channel:
        api = rpc.SchedulerStub(channel)
        caps = common.WorkerCapabilities(memory_bytes=2 << 30, cpu_count=4, compute_gflops=12.5)
        # A worker registers with its Ed25519 public key (32 bytes); without one it is refused.
        with pytest.raises(grpc.RpcError) as keyless:
            api.RegisterWorker(pb.RegisterWorkerRequest(address="127.0.0.1:7999", capabilities=caps))
        assert keyless.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "public_key" in keyless.value.details()
        key = bytes(range(32))
        reply = api.RegisterWorker(pb.RegisterWorkerRequest(address="127.0.0.1:7999", capabilities=caps,
                                                            public_key=key))
        assert reply.worker_id and reply.heartbeat_interval_ms == 200 and reply.expiry_ms == 1000

        api.Heartbeat(pb.HeartbeatRequest(worker_id=reply.worker_id,
                                          load=common.WorkerLoad(active_sessions=3)))
        workers = api.ListWorkers(pb.ListWorkersRequest()).workers
        assert [(w.worker_id, w.address, w.load.active_sessions) for w in workers] == \
            [(reply.worker_id, "127.0.0.1:7999", 3)]

        with pytest.raises(grpc.RpcError) as bad:
            api.RegisterWorker(pb.RegisterWorkerRequest(address="no-port", capabilities=caps, public_key=key))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "host:port" in bad.value.details()

        with pytest.raises(grpc.RpcError) as unknown:
            api.Heartbeat(pb.HeartbeatRequest(worker_id="ghost"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        with pytest.raises(grpc.RpcError) as no_model:
            api.GetPlacement(pb.GetPlacementRequest())  # no cache-manager runs in this test
        assert no_model.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "model manifest" in no_model.value.details()

        # No more heartbeats: the worker is dropped after the 1 s expiry.
        deadline = time.monotonic() + 5
        while api.ListWorkers(pb.ListWorkersRequest()).workers and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not api.ListWorkers(pb.ListWorkersRequest()).workers


def test_real_worker_process_registers(stubs, processes, scheduler):
    port, http = free_port(), free_port()
    worker = processes.start("inference-worker", "--port", str(port), "--http-port", str(http),
                             "--scheduler", f"127.0.0.1:{scheduler.port}", "--memory-mb", "512",
                             "--threads", "1", "--worker-id", "py-1")
    wait_serving(port, proc=worker)
    with grpc.insecure_channel(f"127.0.0.1:{scheduler.port}") as channel:
        workers = stubs.scheduler_pb2_grpc.SchedulerStub(channel).ListWorkers(
            stubs.scheduler_pb2.ListWorkersRequest()).workers
    assert [(w.worker_id, w.address, w.capabilities.memory_bytes) for w in workers] == \
        [("py-1", f"127.0.0.1:{port}", 512 << 20)]
    assert workers[0].capabilities.compute_gflops > 0.5
