"""One request, one id: the caller's x-request-id (or a new one) comes back on the response
and is on every log line of the request, at the gateway and at each worker of its pipeline."""
import json
import urllib.request

import grpc

from test_failover import ProcessCluster


def test_a_request_id_ties_the_logs_of_gateway_and_workers(processes, stubs, tmp_path):
    # Two 180 MiB workers: the pipeline spans both, so the id must cross a worker-to-worker hop.
    cluster = ProcessCluster(processes, tmp_path, workers=2, memory_mb=180, worker_args=("--log-level", "debug"))
    cluster.wait_ready(stubs)
    request = urllib.request.Request(
        f"http://127.0.0.1:{cluster.gateway_http}/v1/completions",
        data=json.dumps({"model": "smollm2-135m", "prompt": "Hi", "max_tokens": 3}).encode(),
        headers={"content-type": "application/json", "x-request-id": "rid-test-42"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200 and response.headers["x-request-id"] == "rid-test-42"

    gateway_log = open(cluster.gateway.log_path).read()
    assert any('msg="http request"' in line and "request_id=rid-test-42" in line and "status=200" in line
               for line in gateway_log.splitlines())
    for name, worker in cluster.workers.items():
        opened = [line for line in open(worker.log_path).read().splitlines() if 'msg="session opened"' in line]
        assert opened and all("request_id=rid-test-42" in line for line in opened), (name, opened)

    # Without one, the gateway makes one and every message of the stream echoes it.
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    with grpc.insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        ids = {message.request_id for message in rpc.GatewayStub(channel).Generate(
            pb.GenerateRequest(prompt="Hi", sampling=common.SamplingParams(temperature=0, max_tokens=3)),
            timeout=60)}
    assert len(ids) == 1 and next(iter(ids)).startswith("req-")
