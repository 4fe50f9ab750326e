"""Mutual TLS between Tessera processes, checked with independent TLS stacks (grpcio, openssl):
certificates from `tessera certs`, services that refuse plaintext, untrusted and missing
certificates, a wrong role's PERMISSION_DENIED, and `tessera up` secure by default."""
import os
import re
import signal
import stat
import subprocess
import time

import grpc
import pytest

import tls_material
from conftest import free_port, free_port_offset, wait_serving


def start_scheduler(processes, tls_dir, *extra):
    port, http = free_port(), free_port()
    proc = processes.start("scheduler", "--port", str(port), "--http-port", str(http),
                           "--cache-manager", "127.0.0.1:1", "--heartbeat-ms", "200",
                           "--worker-expiry-ms", "1000", *extra, env=tls_material.environment(tls_dir))
    proc.port = port
    return proc


def wait_tls_serving(port, tls_dir, proc, timeout=60):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, open(proc.log_path).read()
        with tls_material.channel(f"127.0.0.1:{port}", tls_dir, "operator") as channel:
            try:
                status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"port {port} not SERVING over TLS after {timeout}s")


def register(stubs, channel, worker_id="fake"):
    pb, rpc = stubs.scheduler_pb2, stubs.scheduler_pb2_grpc
    request = pb.RegisterWorkerRequest(worker_id=worker_id, address="127.0.0.1:1")
    request.capabilities.memory_bytes = 1 << 40
    request.capabilities.compute_gflops = 1e6
    return rpc.SchedulerStub(channel).RegisterWorker(request, timeout=5)


def list_workers(stubs, channel):
    pb, rpc = stubs.scheduler_pb2, stubs.scheduler_pb2_grpc
    return rpc.SchedulerStub(channel).ListWorkers(pb.ListWorkersRequest(), timeout=5).workers


def test_certs_cli_writes_certificates_openssl_accepts(tls_dir):
    subject = subprocess.run(["openssl", "x509", "-in", str(tls_dir / "worker.pem"), "-noout", "-subject"],
                             check=True, capture_output=True, text=True).stdout
    assert "OU = worker" in subject and "CN = worker" in subject, subject
    names = subprocess.run(["openssl", "x509", "-in", str(tls_dir / "scheduler.pem"), "-noout", "-ext",
                            "subjectAltName"], check=True, capture_output=True, text=True).stdout
    assert "IP Address:127.0.0.1" in names and "DNS:localhost" in names and "DNS:scheduler" in names, names
    for role in tls_material.ROLES:
        verify = subprocess.run(["openssl", "verify", "-CAfile", str(tls_dir / "ca.pem"), str(tls_dir / f"{role}.pem")],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert stat.S_IMODE(os.stat(tls_dir / f"{role}.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tls_dir / "ca.key").st_mode) == 0o600


def test_certs_cli_errors_are_one_line(bin_dir, tmp_path, tls_dir):
    again = subprocess.run([str(bin_dir / "tessera"), "certs", "init", "--dir", str(tls_dir)],
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "already exists" in again.stderr, again.stderr
    role = subprocess.run([str(bin_dir / "tessera"), "certs", "issue", "king", "x", "--dir", str(tls_dir)],
                          capture_output=True, text=True, timeout=30)
    assert role.returncode != 0 and "unknown role 'king'" in role.stderr, role.stderr
    no_ca = subprocess.run([str(bin_dir / "tessera"), "certs", "issue", "worker", "w", "--dir", str(tmp_path / "none")],
                           capture_output=True, text=True, timeout=30)
    assert no_ca.returncode == 1 and "no CA in" in no_ca.stderr, no_ca.stderr


def test_service_needs_certificates_or_insecure(processes):
    proc = processes.start("scheduler", "--port", str(free_port()), "--http-port", str(free_port()),
                           env={"TESSERA_INSECURE": "0", "TESSERA_TLS_DIR": ""})
    assert proc.wait(timeout=30) == 1
    log = open(proc.log_path).read()
    assert "scheduler: error: invalid configuration: no TLS certificates: give --tls-dir" in log, log

    port = free_port()
    insecure = processes.start("scheduler", "--port", str(port), "--http-port", str(free_port()), "--insecure",
                               env={"TESSERA_INSECURE": "0"})
    wait_serving(port, proc=insecure)
    assert "insecure: plaintext gRPC" in open(insecure.log_path).read()


def test_fake_worker_cannot_take_over_the_scheduler(processes, stubs, tls_dir, tmp_path, bin_dir):
    scheduler = start_scheduler(processes, tls_dir)
    wait_tls_serving(scheduler.port, tls_dir, scheduler)
    address = f"127.0.0.1:{scheduler.port}"

    # Plaintext: the handshake never happens.
    with grpc.insecure_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as plaintext:
            register(stubs, channel)
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE

    # TLS but no client certificate: the server refuses the handshake.
    with grpc.secure_channel(address, grpc.ssl_channel_credentials((tls_dir / "ca.pem").read_bytes())) as channel:
        with pytest.raises(grpc.RpcError) as anonymous:
            register(stubs, channel)
    assert anonymous.value.code() == grpc.StatusCode.UNAVAILABLE

    # A worker certificate from another CA: untrusted.
    foreign = tls_material.make(bin_dir, tmp_path / "foreign")
    with tls_material.channel(address, foreign, "worker") as channel:
        with pytest.raises(grpc.RpcError) as untrusted:
            register(stubs, channel)
    assert untrusted.value.code() == grpc.StatusCode.UNAVAILABLE

    # The cluster's gateway certificate: trusted, but not a worker.
    with tls_material.channel(address, tls_dir, "gateway") as channel:
        with pytest.raises(grpc.RpcError) as wrong_role:
            register(stubs, channel)
    assert wrong_role.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert wrong_role.value.details() == ("role 'gateway' (gateway) may not call tessera.v1.Scheduler/RegisterWorker;"
                                          " allowed: worker")

    with tls_material.channel(address, tls_dir, "operator") as channel:
        assert list(list_workers(stubs, channel)) == []


def test_worker_registers_over_tls_and_status_reads_it(processes, stubs, tls_dir, bin_dir):
    scheduler = start_scheduler(processes, tls_dir)
    wait_tls_serving(scheduler.port, tls_dir, scheduler)
    port = free_port()
    worker = processes.start("inference-worker", "--port", str(port), "--http-port", str(free_port()),
                             "--scheduler", f"127.0.0.1:{scheduler.port}", "--memory-mb", "256", "--threads", "1",
                             "--worker-id", "tls-worker", env=tls_material.environment(tls_dir))
    wait_tls_serving(port, tls_dir, worker)
    deadline = time.monotonic() + 30
    with tls_material.channel(f"127.0.0.1:{scheduler.port}", tls_dir, "operator") as channel:
        while not [w for w in list_workers(stubs, channel) if w.worker_id == "tls-worker"]:
            assert time.monotonic() < deadline, open(worker.log_path).read()
            time.sleep(0.1)

    env = {**os.environ, **tls_material.environment(tls_dir)}
    status = subprocess.run([str(bin_dir / "tessera"), "status", "--scheduler", f"127.0.0.1:{scheduler.port}"],
                            capture_output=True, text=True, timeout=30, env=env)
    assert status.returncode == 0, status.stderr
    assert "tls-worker" in status.stdout

    # The scheduler's certificate may place shards; the gateway's may not.
    from grpc_tools import protoc  # noqa: F401 (stubs are generated by the fixture)
    from tessera.v1 import inference_worker_pb2, inference_worker_pb2_grpc
    request = inference_worker_pb2.LoadShardRequest()
    request.shard.sha256 = "a" * 64
    with tls_material.channel(f"127.0.0.1:{port}", tls_dir, "gateway") as channel:
        with pytest.raises(grpc.RpcError) as denied:
            inference_worker_pb2_grpc.InferenceWorkerStub(channel).LoadShard(request, timeout=5)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "tessera.v1.InferenceWorker/LoadShard" in denied.value.details()
    with tls_material.channel(f"127.0.0.1:{port}", tls_dir, "scheduler") as channel:
        with pytest.raises(grpc.RpcError) as handled:
            inference_worker_pb2_grpc.InferenceWorkerStub(channel).LoadShard(request, timeout=5)
    assert handled.value.code() not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAVAILABLE)


def test_up_is_secure_by_default(bin_dir, tmp_path, stubs):
    offset = free_port_offset(1)
    state = tmp_path / "state"
    env = {**os.environ, "TESSERA_INSECURE": "0", "TESSERA_TLS_DIR": ""}
    up = subprocess.Popen([str(bin_dir / "tessera"), "up", "--workers", "1", "--port-offset", str(offset),
                           "--log-dir", str(tmp_path / "logs"), "--state-dir", str(state)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            output.append(line)
            if "cluster ready" in line:
                break
        text = "".join(output)
        assert "cluster ready: 5 processes" in text, text
        tls = state / "tls"
        assert f"mutual TLS: certificates in {tls}" in text, text
        for name in ["ca", "scheduler", "cache-manager", "verifier", "gateway", "worker-1", "operator"]:
            assert (tls / f"{name}.pem").exists(), name
        scheduler = f"127.0.0.1:{7401 + offset}"
        with grpc.insecure_channel(scheduler) as channel:
            with pytest.raises(grpc.RpcError) as plaintext:
                list_workers(stubs, channel)
        assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
        deadline = time.monotonic() + 30
        while True:
            status = subprocess.run([str(bin_dir / "tessera"), "status", "--scheduler", scheduler,
                                     "--tls-dir", str(tls)], capture_output=True, text=True, timeout=30, env=env)
            assert status.returncode == 0, status.stderr
            if "worker-1" in status.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "worker-1" in status.stdout, status.stdout
        # Revoked: dropped at once, and its heartbeats and re-registrations are refused.
        revoke = subprocess.run([str(bin_dir / "tessera"), "worker", "revoke", "worker-1", "--scheduler", scheduler,
                                 "--tls-dir", str(tls)], capture_output=True, text=True, timeout=30, env=env)
        assert revoke.returncode == 0, revoke.stderr
        assert "dropped worker-1 at the scheduler" in revoke.stdout, revoke.stdout
        for _ in range(6):
            status = subprocess.run([str(bin_dir / "tessera"), "status", "--scheduler", scheduler,
                                     "--tls-dir", str(tls)], capture_output=True, text=True, timeout=30, env=env)
            assert status.returncode == 0 and "worker-1" not in status.stdout, status.stdout
            time.sleep(0.5)
        worker_log = (tmp_path / "logs" / "inference-worker-1.log").read_text()
        assert "the certificate 'worker-1' (worker) is revoked" in worker_log, worker_log[-2000:]

        missing = subprocess.run([str(bin_dir / "tessera"), "status", "--scheduler", scheduler],
                                 capture_output=True, text=True, timeout=30, env={**env, "HOME": str(tmp_path)})
        assert missing.returncode == 1 and "no TLS certificates" in missing.stderr, missing.stderr
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=90)
    assert up.returncode == 0, rest
    assert "exited with status" not in rest, rest
