"""Fixtures for system tests: the built executables run as real processes on 127.0.0.1."""
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import api_keys
import tls_material

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bin_dir() -> pathlib.Path:
    configured = os.environ.get("TESSERA_BIN")
    if configured:
        return pathlib.Path(configured)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    return pathlib.Path(out)


@pytest.fixture(scope="session", autouse=True)
def api_key(bin_dir, tmp_path_factory) -> str:
    """The suite runs with API keys on: one key every gateway accepts and every client sends
    (api_keys.py)."""
    return api_keys.install(bin_dir, tmp_path_factory.mktemp("api-keys"))


@pytest.fixture(scope="session", autouse=True)
def plaintext_by_default(bin_dir, tmp_path_factory, api_key):
    """Every process and grpcio channel of the suite runs mutual TLS with a suite CA
    (tls_material.py), as a deployment does. TESSERA_TEST_TLS=0 runs the suite in plaintext
    (TESSERA_INSECURE=1) instead, except test_mtls.py, which makes its own certificates."""
    if tls_material.suite_uses_tls():
        tls_material.use_tls_for_the_suite(bin_dir, tmp_path_factory.mktemp("suite-tls"))
    else:
        tls_material.use_plaintext_by_default()


@pytest.fixture(autouse=True)
def plain_channels_for_mtls_tests(request, monkeypatch):
    """test_mtls.py opens plaintext channels on purpose (to see them refused), in either mode."""
    if tls_material.suite_uses_tls() and request.module.__name__ == "test_mtls":
        monkeypatch.setattr(api_keys, "raw_insecure_channel", tls_material.PLAIN_INSECURE_CHANNEL)


@pytest.fixture(scope="session")
def tls_dir(bin_dir, tmp_path_factory) -> pathlib.Path:
    """A cluster CA and one certificate per role (named after the role)."""
    return tls_material.make(bin_dir, tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    """Python stubs generated from proto/ with grpc_tools (Tessera's own services)."""
    from grpc_tools import protoc
    out = tmp_path_factory.mktemp("stubs")
    files = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "tessera").rglob("*.proto")]
    status = protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    assert status == 0, "grpc_tools.protoc failed"
    sys.path.insert(0, str(out))
    from tessera.v1 import scheduler_pb2, scheduler_pb2_grpc, common_pb2, gateway_pb2, gateway_pb2_grpc
    return type("Stubs", (), dict(scheduler_pb2=scheduler_pb2, scheduler_pb2_grpc=scheduler_pb2_grpc,
                                  common_pb2=common_pb2, gateway_pb2=gateway_pb2,
                                  gateway_pb2_grpc=gateway_pb2_grpc))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gauges(http_port: int) -> dict:
    """The unlabelled gauges of a service's /metrics."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def free_port_offset(workers: int) -> int:
    """A `tessera up --port-offset` whose every port is free now, with all of them below the
    kernel's ephemeral range (32768 and up here): ports there are handed to client sockets
    and to free_port() at any moment, and `tessera up` refuses a busy port."""
    import random
    bases = [7400, 7401, 7402, 7403, 7404, 8080, 9400, 9401, 9402, 9403]
    bases += [7410 + i for i in range(workers)] + [9410 + i for i in range(workers)]
    for _ in range(200):
        offset = random.randrange(100, 460) * 50  # 5,000 … 22,950: ports stay under 32,400
        try:
            sockets = []
            for base in bases:
                probe = socket.socket()
                sockets.append(probe)
                probe.bind(("127.0.0.1", base + offset))
            return offset
        except OSError:
            continue
        finally:
            for probe in sockets:
                probe.close()
    raise AssertionError("no free port offset found")


def health_status(port: int, service: str = "", timeout: float = 1.0):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status
        except grpc.RpcError:
            return None


def wait_serving(port: int, timeout: float = 60.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before serving")
        if health_status(port) == health_pb2.HealthCheckResponse.SERVING:
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} not SERVING after {timeout}s")


class Processes:
    """Starts executables with logs in files and always stops them."""

    def __init__(self, bin_dir: pathlib.Path, log_dir: pathlib.Path):
        self.bin_dir, self.log_dir, self.procs = bin_dir, log_dir, []

    def start(self, program: str, *args: str, env=None) -> subprocess.Popen:
        log = open(self.log_dir / f"{program}-{len(self.procs)}.log", "w")
        env = dict(env or {})
        if program == "gateway":  # its operations port (/metrics, /readyz), free like the others
            env.setdefault("TESSERA_GATEWAY_OPS_PORT", str(free_port()))
        proc = subprocess.Popen([str(self.bin_dir / program), *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **env})
        proc.log_path = log.name
        proc.ops_port = int(env.get("TESSERA_GATEWAY_OPS_PORT", 0))
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def processes(bin_dir, tmp_path):
    procs = Processes(bin_dir, tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def scheduler(processes):
    port, http = free_port(), free_port()
    proc = processes.start("scheduler", "--port", str(port), "--http-port", str(http), "--cache-manager", "127.0.0.1:1",
                           "--heartbeat-ms", "200", "--worker-expiry-ms", "1000")
    wait_serving(port, proc=proc)
    proc.port, proc.http_port = port, http
    return proc
