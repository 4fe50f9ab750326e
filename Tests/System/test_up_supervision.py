"""`tessera up` supervises its services: one that dies (SIGKILL) is restarted on the same
ports while the others keep serving, so streams in flight complete; a second `tessera up`
on the same ports refuses at once; `tessera status --port-offset` finds the cluster."""
import pathlib
import signal
import subprocess
import threading
import time

import grpc
import pytest

from conftest import health_status
from grpc_health.v1 import health_pb2
from test_openai_api import TesseraUp

PROMPT = "The history of the Roman empire"
MAX_TOKENS = 120
SERVING = health_pb2.HealthCheckResponse.SERVING


class SupervisedUp(TesseraUp):
    """`tessera up` whose output after "cluster ready" is collected by a thread (restart
    lines), with the pids of its children."""

    def wait_ready(self, timeout=240):
        super().wait_ready(timeout)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def text(self):
        return "".join(self.output)

    def child_pid(self, name, worker_id=None):
        """The pid of the child whose executable is `name` (the one running now); for an
        inference-worker, the one started with `--worker-id worker_id` when given."""
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent != self.proc.pid or not argv[0].endswith(b"/" + name.encode()):
                continue
            if worker_id is None or (b"--worker-id" in argv
                                     and argv[argv.index(b"--worker-id") + 1] == worker_id.encode()):
                return int(entry.name)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def generate(stubs, port, record, max_tokens=MAX_TOKENS, prompt=PROMPT):
    """One greedy Generate stream; appends (arrival time, token ids) per message."""
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    request = pb.GenerateRequest(prompt=prompt, sampling=common.SamplingParams(
        temperature=0, max_tokens=max_tokens, ignore_eos=True))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for message in rpc.GatewayStub(channel).Generate(request, timeout=120):
            record.append((time.monotonic(), list(message.token_ids)))


def tokens(record):
    return [token for _, ids in record for token in ids]


def stream_in_background(stubs, port, **kwargs):
    record, errors = [], []

    def run():
        try:
            generate(stubs, port, record, **kwargs)
        except grpc.RpcError as error:
            errors.append((error.code(), error.details()))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, record, errors


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def cluster(bin_dir, tmp_path_factory):
    up = SupervisedUp(bin_dir, tmp_path_factory.mktemp("up-supervision"), workers=2)
    try:
        yield up.wait_ready()
    finally:
        up.stop()


@pytest.fixture(scope="module")
def reference(cluster, stubs):
    """The undisturbed greedy tokens for PROMPT."""
    record = []
    generate(stubs, cluster.grpc_port, record)
    assert len(tokens(record)) == MAX_TOKENS
    return tokens(record)


@pytest.mark.parametrize("service,port", [("scheduler", 7401), ("cache-manager", 7402)])
def test_killed_service_is_restarted_and_the_stream_completes(cluster, stubs, reference, service, port):
    others = {name: cluster.child_pid(name) for name in ("gateway", "verifier", "inference-worker")}
    thread, record, errors = stream_in_background(stubs, cluster.grpc_port)
    wait_for(lambda: len(tokens(record)) >= 10, 60, "the first tokens")
    victim = cluster.child_pid(service)
    killed = time.monotonic()
    subprocess.run(["kill", "-KILL", str(victim)], check=True)

    thread.join(timeout=120)
    assert not errors, errors
    assert tokens(record) == reference  # every token, as asked, the same greedy output
    wait_for(lambda: health_status(port + cluster.offset) == SERVING, 30, f"{service} SERVING again")
    print(f"{service} SERVING again {time.monotonic() - killed:.2f}s after SIGKILL")
    assert cluster.child_pid(service) not in (None, victim)
    assert {name: cluster.child_pid(name) for name in others} == others  # nobody else was touched
    assert cluster.proc.poll() is None
    wait_for(lambda: f"{service} killed by signal 9" in cluster.text(), 5, "the restart line")
    line = next(line for line in cluster.output if f"{service} killed by signal 9" in line)
    assert "restarting it in" in line, line


def test_killed_gateway_is_restarted_and_serves_new_requests(cluster, stubs, reference):
    victim = cluster.child_pid("gateway")
    killed = time.monotonic()
    subprocess.run(["kill", "-KILL", str(victim)], check=True)
    wait_for(lambda: cluster.child_pid("gateway") not in (None, victim), 15, "a new gateway process")
    wait_for(lambda: health_status(cluster.grpc_port) == SERVING, 30, "the gateway SERVING again")
    print(f"gateway SERVING again {time.monotonic() - killed:.2f}s after SIGKILL")
    record = []
    generate(stubs, cluster.grpc_port, record)
    assert tokens(record) == reference
    assert cluster.proc.poll() is None


def test_second_up_on_the_same_ports_refuses_at_once(cluster, bin_dir, tmp_path, stubs, reference):
    started = time.monotonic()
    second = subprocess.run([str(bin_dir / "tessera"), "up", "--workers", "2", "--port-offset", str(cluster.offset),
                             "--log-dir", str(tmp_path)], capture_output=True, text=True, timeout=20)
    elapsed = time.monotonic() - started
    assert second.returncode == 1, second
    assert second.stdout == ""
    lines = second.stderr.splitlines()
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith("tessera: error: port "), lines
    assert lines[0].endswith("is in use"), lines
    assert "Usage" not in second.stderr
    assert elapsed < 5
    assert not list(tmp_path.glob("*.log"))  # nothing was started
    # The first cluster keeps serving.
    record = []
    generate(stubs, cluster.grpc_port, record, max_tokens=8)
    assert tokens(record) == reference[:8]


def test_status_and_placement_with_port_offset_reach_the_cluster(cluster, bin_dir):
    for command in (["status"], ["placement"]):
        result = subprocess.run([str(bin_dir / "tessera"), *command, "--port-offset", str(cluster.offset)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        if command == ["status"]:
            assert result.stdout.splitlines()[-1] == "2 worker(s)", result.stdout
            assert f"127.0.0.1:{7410 + cluster.offset}" in result.stdout
