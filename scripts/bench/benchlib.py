"""What the cluster benchmarks share: starting a local cluster whose worker memory budgets
force the model into 1, 2 or 3 pipeline stages, and waiting until its pipeline is ready.

Used by cluster-bench.py (gRPC figures) and serve-bench.py (OpenAI HTTP, beside llama-server).
"""
import os
import pathlib
import signal
import subprocess
import sys
import time

import grpc

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Budgets that force the default model into 1, 2 or 3 stages: 98 MB of weights (the tied
# embedding counted again when the head sits on another stage) + a KV reserve of
# 2 sessions x 2048 tokens (~94 MB over 30 layers). Two 85 MiB workers cannot hold it.
# stages -> (workers, MiB per worker)
STAGE_BUDGETS = {1: (1, 4096), 2: (2, 150), 3: (3, 85)}


def stubs(out: pathlib.Path):
    """Python stubs for Tessera's own gRPC services, generated from proto/ into `out`."""
    from grpc_tools import protoc
    files = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "tessera").rglob("*.proto")]
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}", f"--grpc_python_out={out}", *files]) == 0
    sys.path.insert(0, str(out))
    from tessera.v1 import gateway_pb2, gateway_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc, common_pb2
    return gateway_pb2, gateway_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc, common_pb2


def start_cluster(bin_dir, workers, memory_mb, offset, log_dir, max_batch=None, threads=1, timeout=300,
                  extra_args=()):
    """`tessera up` with `threads` compute threads per worker (and `extra_args`); returns once it
    says ready."""
    env = dict(os.environ)
    if max_batch:  # the workers inherit it (inference-worker --max-batch)
        env["TESSERA_WORKER_MAX_BATCH"] = str(max_batch)
    up = subprocess.Popen([str(pathlib.Path(bin_dir) / "tessera"), "up", "--workers", str(workers),
                           "--port-offset", str(offset), "--worker-memory-mb", str(memory_mb),
                           "--worker-threads", str(threads), "--log-dir", str(log_dir), *extra_args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        if not line:
            raise RuntimeError("tessera up exited:\n" + "".join(seen[-20:]))
        seen.append(line)
        if line.startswith("api key: "):  # the gateway needs it; later clusters adopt it
            os.environ["TESSERA_API_KEY"] = line.split(": ", 1)[1].strip()
        if "cluster ready" in line:
            return up
    stop_cluster(up)
    raise RuntimeError(f"cluster not ready after {timeout} s; logs in {log_dir}")


def start_pipeline_cluster(bin_dir, stages, offset, log_dir, protos):
    """A cluster whose budgets force the model into exactly `stages` stages (STAGE_BUDGETS),
    ready and warmed up by one short stream; `protos` are `stubs()`'s modules. Exits when the
    scheduler planned another stage count."""
    gpb, grpc_mod, spb, srpc, _ = protos
    workers, memory = STAGE_BUDGETS[stages]
    up = start_cluster(bin_dir, workers, memory, offset, log_dir)
    try:
        plan = wait_pipeline(spb, srpc, 7401 + offset, stages)
        used = max(len(p.stages) for p in plan.pipelines)
        if used != stages:
            raise SystemExit(f"{bin_dir}: {workers} worker(s) were planned as {used} stage(s), not {stages}")
        generate(gpb, grpc_mod, 7400 + offset, "warm up", 8)
    except BaseException:
        stop_cluster(up)
        raise
    return up


def auth_headers():
    """The local cluster's API key as an HTTP header (none before a cluster printed one)."""
    key = os.environ.get("TESSERA_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def grpc_metadata():
    """The same key as gRPC metadata."""
    return [(name.lower(), value) for name, value in auth_headers().items()]


def stop_cluster(up, timeout=60):
    """Ctrl-C to `tessera up`: it drains the gateway, then stops the rest."""
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


def cluster_channel(port, offset):
    """A grpcio channel to a service of the `tessera up` cluster at `offset`: mutual TLS with
    the certificate `tessera up` issues its operator (in its state directory; the operator
    may call the gateway's API and read the scheduler's plan), or plaintext when the cluster
    runs --insecure (TESSERA_INSECURE=1)."""
    address = f"127.0.0.1:{port}"
    tls = pathlib.Path(os.environ.get("HOME", "~")) / ".cache" / "tessera" / f"up-{offset}" / "tls"
    if os.environ.get("TESSERA_INSECURE") == "1" or not (tls / "operator.pem").exists():
        return grpc.insecure_channel(address)
    read = lambda name: (tls / name).read_bytes()
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(
        read("ca.pem"), read("operator.key"), read("operator.pem")))


def wait_pipeline(pb, rpc, port, stages, timeout=300):
    """The scheduler's plan once some pipeline has every stage ready (the scheduler's port is
    7401 + the cluster's port offset)."""
    with cluster_channel(port, port - 7401) as channel:
        api = rpc.SchedulerStub(channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                plan = api.GetPlacement(pb.GetPlacementRequest())
                ready = [p for p in plan.pipelines if not p.draining and all(s.ready for s in p.stages)]
                if ready:
                    return plan
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise RuntimeError("no ready pipeline")


def generate(gpb, grpc_mod, port, prompt, tokens):
    """One greedy chat stream of `tokens` tokens (EOS ignored) through the gateway's gRPC API at
    `port`: time to first token, decode tokens/s after it, tokens and seconds."""
    with cluster_channel(port, port - 7400) as channel:
        api = grpc_mod.GatewayStub(channel)
        request = gpb.ChatRequest(messages=[gpb.ChatMessage(role="user", content=prompt)])
        request.sampling.temperature = 0
        request.sampling.max_tokens = tokens
        request.sampling.ignore_eos = True
        start = time.monotonic()
        first, count = None, 0
        for message in api.Chat(request, timeout=600, metadata=grpc_metadata()):
            if message.token_ids and first is None:
                first = time.monotonic()
            count += len(message.token_ids)
        end = time.monotonic()
    return {"ttft": first - start, "decode_tps": (count - 1) / (end - first) if count > 1 else 0, "tokens": count,
            "seconds": end - start}
