"""Message size caps (issue 11): every server refuses a request message beyond its cap with
RESOURCE_EXHAUSTED before decoding it, seen from grpcio (an independent gRPC stack), and keeps
serving. The caps (Shared/ServiceKit/Security/MessageLimits.swift): scheduler and cache-manager
1 MiB, gateway and verifier 4 MiB, inference worker 16 MiB (a Forward step's hidden states).
Past twice its cap a message is not even buffered: the transport resets the stream."""
import grpc
import pytest

from grpc_health.v1 import health_pb2

from conftest import free_port, health_status, wait_serving

MIB = 1 << 20


def register(stubs, channel, worker_id):
    pb, rpc = stubs.scheduler_pb2, stubs.scheduler_pb2_grpc
    request = pb.RegisterWorkerRequest(worker_id=worker_id, address="127.0.0.1:1")
    request.capabilities.memory_bytes = 1 << 30
    request.capabilities.cpu_count = 1
    request.capabilities.compute_gflops = 1.0
    return rpc.SchedulerStub(channel).RegisterWorker(request, timeout=10)


def test_scheduler_refuses_a_message_over_one_mib(scheduler, stubs):
    with grpc.insecure_channel(f"127.0.0.1:{scheduler.port}", options=[("grpc.max_send_message_length", -1)]) as channel:
        with pytest.raises(grpc.RpcError) as oversized:
            register(stubs, channel, "w" * (3 * MIB // 2))
        assert oversized.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, oversized.value
        assert "exceeds this server's limit of 1048576 bytes" in oversized.value.details(), oversized.value.details()
        # Past twice the cap the transport stops buffering and resets the stream.
        with pytest.raises(grpc.RpcError) as far_over:
            register(stubs, channel, "w" * (3 * MIB))
        assert far_over.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED)
        # Under the cap the message is read (and judged on its content), and the server still serves.
        try:
            register(stubs, channel, "w" * (MIB // 2))
        except grpc.RpcError as error:
            assert error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert health_status(scheduler.port) == health_pb2.HealthCheckResponse.SERVING


def test_worker_refuses_a_forward_message_over_its_cap(processes, scheduler, stubs):
    from tessera.v1 import inference_worker_pb2 as pb, inference_worker_pb2_grpc as rpc
    port, http = free_port(), free_port()
    worker = processes.start("inference-worker", "--port", str(port), "--http-port", str(http),
                             "--scheduler", f"127.0.0.1:{scheduler.port}", "--memory-mb", "256",
                             "--threads", "1", "--worker-id", "caps-1")
    wait_serving(port, proc=worker)

    def forward(message_bytes):
        """A Forward stream whose first message (the session's opening) is about this big."""
        opening = pb.ForwardRequest(open=pb.SessionOpen(session_id="s" * message_bytes, shard_sha256="a" * 64))
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", -1)]) as channel:
            return list(rpc.InferenceWorkerStub(channel).Forward(iter([opening]), timeout=30))

    with pytest.raises(grpc.RpcError) as oversized:
        forward(20 * MIB)
    assert oversized.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, oversized.value
    assert "exceeds this server's limit of 16777216 bytes" in oversized.value.details()
    # 8 MiB (a long prompt's hidden states) is within the worker's cap: refused for what it
    # says (no such shard), not for its size.
    with pytest.raises(grpc.RpcError) as within:
        forward(8 * MIB)
    assert within.value.code() != grpc.StatusCode.RESOURCE_EXHAUSTED, within.value
    assert worker.poll() is None
