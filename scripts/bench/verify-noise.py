#!/usr/bin/env python3
"""Honest noise and false positives of the verifier: a cluster of honest workers that compute
differently (native dot kernels at 1 and 2 threads, the portable Swift kernels, and
optionally a worker built for another CPU target, e.g. `TESSERA_TARGET_CPU=native` for
AVX-512), every receipt replayed (sampling rate 1), and the distances every check measured.

    python3 scripts/bench/verify-noise.py [--bin .build-release/release] [--requests 100]
        [--other-build /tmp/build-native/release/inference-worker]

It prints the number of checks (one per commitment compared), the false positives (honest
work judged wrong: the target is zero), the largest distances seen, the commitment bytes per
token and the verifier's compute as a share of serving compute.
"""
import argparse
import concurrent.futures
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import grpc

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROMPTS = ["The history of the Roman empire", "Once upon a time, in a small village,",
           "The best way to learn programming is", "Water boils at", "A recipe for bread:",
           "Explain how a hash table works.", "The three laws of motion", "Dear diary, today"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stubs(out):
    from grpc_tools import protoc
    files = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "tessera").rglob("*.proto")]
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}", f"--grpc_python_out={out}", *files]) == 0
    sys.path.insert(0, str(out))


def wait_serving(port, timeout=120):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                if health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"port {port} not serving")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / ".build-release" / "release"))
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--other-build", help="an inference-worker built for another CPU target")
    parser.add_argument("--model", default=str(pathlib.Path.home() / ".cache/tessera/models/smollm2-135m.gguf"))
    args = parser.parse_args()
    bin_dir = pathlib.Path(args.bin)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="verify-noise-"))
    (tmp / "stubs").mkdir()
    stubs(tmp / "stubs")
    from tessera.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc, verifier_pb2, verifier_pb2_grpc

    procs = []

    def start(program, *argv, env=None, path=None):
        log = open(tmp / f"{program}-{len(procs)}.log", "w")
        proc = subprocess.Popen([path or str(bin_dir / program), *argv], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
        procs.append(proc)
        return proc

    ports = {name: free_port() for name in ("cache", "verifier", "scheduler", "gateway")}
    try:
        start("cache-manager", "--port", str(ports["cache"]), "--http-port", str(free_port()), "--preload", args.model,
              env={"TESSERA_STORE_DIR": str(tmp / "store")})
        verifier = f"127.0.0.1:{ports['verifier']}"
        start("verifier", "--port", str(ports["verifier"]), "--http-port", str(free_port()),
              "--cache-manager", f"127.0.0.1:{ports['cache']}", "--state-dir", str(tmp / "verifier"),
              "--threads", "1", "--new-worker-rate", "1", "--trusted-rate", "1")
        start("scheduler", "--port", str(ports["scheduler"]), "--http-port", str(free_port()),
              "--cache-manager", f"127.0.0.1:{ports['cache']}", "--model", "smollm2-135m", "--verifier", verifier)
        start("gateway", "--port", str(ports["gateway"]), "--http-port", str(free_port()),
              "--scheduler", f"127.0.0.1:{ports['scheduler']}", "--cache-manager", f"127.0.0.1:{ports['cache']}",
              "--verifier", verifier)
        for name in ("cache", "verifier", "scheduler", "gateway"):
            wait_serving(ports[name])
        # 180 MiB each: two-stage pipelines, so the hop between builds is checked too.
        workers = [("native-1t", 1, {}, None), ("native-2t", 2, {}, None),
                   ("swift-kernels", 1, {"TESSERA_NATIVE_KERNELS": "0"}, None)]
        if args.other_build:
            workers.append(("other-build", 2, {}, args.other_build))
        for name, threads, env, path in workers:
            start("inference-worker", "--port", str(free_port()), "--http-port", str(free_port()),
                  "--scheduler", f"127.0.0.1:{ports['scheduler']}", "--verifier", verifier, "--memory-mb", "180",
                  "--threads", str(threads), "--worker-id", name, "--state-dir", str(tmp / f"state-{name}"),
                  "--shard-dir", str(tmp / f"shards-{name}"), env=env, path=path)

        def generate(index):
            sampling = common_pb2.SamplingParams(temperature=0 if index % 2 == 0 else 0.8, max_tokens=args.tokens,
                                                 ignore_eos=True)
            if index % 2:
                sampling.seed = index
            with grpc.insecure_channel(f"127.0.0.1:{ports['gateway']}") as channel:
                deadline = time.monotonic() + 300
                while True:
                    try:
                        messages = list(gateway_pb2_grpc.GatewayStub(channel).Generate(
                            gateway_pb2.GenerateRequest(prompt=PROMPTS[index % len(PROMPTS)], sampling=sampling),
                            timeout=300))
                        return messages[-1].receipt
                    except grpc.RpcError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(1)

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            receipts = list(pool.map(generate, range(args.requests)))
        serving = time.monotonic() - started
        with grpc.insecure_channel(verifier) as channel:
            api = verifier_pb2_grpc.VerifierStub(channel)
            checks = false_positives = 0
            worst_relative = worst_norm = 0.0
            stages_seen = {}
            for receipt in receipts:
                deadline = time.monotonic() + 600
                while True:
                    try:
                        status = api.GetReceipt(verifier_pb2.GetReceiptRequest(receipt_id=receipt.receipt_id))
                        if status.state != verifier_pb2.RECEIPT_STATE_PENDING:
                            break
                    except grpc.RpcError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{receipt.receipt_id} never checked")
                    time.sleep(0.5)
                if status.state != verifier_pb2.RECEIPT_STATE_VERIFIED:
                    false_positives += 1
                    print("FALSE POSITIVE", receipt.receipt_id, status.reason)
                for check in status.stage_checks:
                    checks += check.steps
                    worst_relative = max(worst_relative, check.max_relative_error)
                    worst_norm = max(worst_norm, check.max_norm_error)
                    stages_seen[check.worker_id] = stages_seen.get(check.worker_id, 0) + check.steps
            share = api.ListReputations(verifier_pb2.ListReputationsRequest()).check_compute_share
        record_bytes = sum(r.leaf_count for r in receipts)
        print(f"requests {len(receipts)} ({args.tokens} tokens each, half greedy, half seeded at T=0.8) "
              f"in {serving:.0f} s")
        print(f"checks {checks} (per worker: {stages_seen})")
        print(f"false positives {false_positives} receipts")
        print(f"largest relative error {worst_relative:.3g}, largest norm error {worst_norm:.3g}")
        print(f"commitments {record_bytes} for {len(receipts) * args.tokens} tokens; "
              f"verifier compute / serving compute {share:.2f}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(f"logs: {tmp}")


if __name__ == "__main__":
    main()
