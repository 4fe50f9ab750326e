"""Service processes: graceful shutdown, clear start-up errors, bad flags."""
import json
import signal
import socket
import subprocess
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import free_port, wait_serving

SERVICES = ["scheduler", "cache-manager", "verifier", "gateway", "inference-worker"]


def test_sigterm_drains_an_inflight_stream_and_exits_zero(processes, scheduler):
    # An open Health.Watch stream is in flight when SIGTERM arrives: the client sees
    # NOT_SERVING, the stream ends with OK, and the process exits 0.
    seen, errors = [], []

    def watch():
        with grpc.insecure_channel(f"127.0.0.1:{scheduler.port}") as channel:
            try:
                for message in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=20):
                    seen.append(message.status)
                    if len(seen) == 1:
                        scheduler.send_signal(signal.SIGTERM)
            except grpc.RpcError as error:
                errors.append(error.code())

    thread = threading.Thread(target=watch)
    thread.start()
    thread.join(timeout=30)
    assert scheduler.wait(timeout=15) == 0
    assert seen[0] == health_pb2.HealthCheckResponse.SERVING
    assert seen[-1] == health_pb2.HealthCheckResponse.NOT_SERVING
    assert errors == []
    log = open(scheduler.log_path).read()
    assert "level=info service=scheduler msg=stopped" in log


def test_sigint_also_stops_cleanly(processes):
    port, http = free_port(), free_port()
    proc = processes.start("verifier", "--port", str(port), "--http-port", str(http))
    wait_serving(port, proc=proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0


def test_port_in_use_exits_nonzero_with_one_line_reason(bin_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for program in SERVICES:
            result = subprocess.run([str(bin_dir / program), "--port", str(port), "--http-port", str(free_port())],
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode != 0, program
            errors = [line for line in result.stderr.splitlines() if line.startswith(f"{program}: error:")]
            assert len(errors) == 1, result.stderr
            assert f"cannot listen on gRPC 127.0.0.1:{port}" in errors[0]
            assert "in use" in errors[0].lower()


def test_bad_flag_prints_usage(bin_dir):
    for program in SERVICES + ["tessera"]:
        result = subprocess.run([str(bin_dir / program), "--no-such-flag"], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert "Usage:" in result.stderr, program
    result = subprocess.run([str(bin_dir / "scheduler"), "--port", "70000"], capture_output=True, text=True)
    assert result.returncode != 0 and "between 0 and 65535" in result.stderr


def test_structured_log_lines(processes):
    port, http = free_port(), free_port()
    proc = processes.start("verifier", "--port", str(port), "--http-port", str(http))
    wait_serving(port, proc=proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    lines = [line for line in open(proc.log_path).read().splitlines() if line.strip()]
    assert lines and all(line.startswith("ts=") and " level=" in line and " msg=" in line for line in lines), lines
    assert any(f"grpc=127.0.0.1:{port}" in line for line in lines)


def test_stalled_http_connections_are_closed(processes, tmp_path):
    """A client that opens HTTP connections and stops halfway through a request (or sends
    nothing) does not keep them: each service closes them after its idle timeout."""
    port, http = free_port(), free_port()
    proc = processes.start("scheduler", "--port", str(port), "--http-port", str(http),
                           "--cache-manager", "127.0.0.1:1", env={"TESSERA_HTTP_IDLE_TIMEOUT_S": "1"})
    wait_serving(port, proc=proc)
    stalled = []
    for index in range(20):
        connection = socket.create_connection(("127.0.0.1", http), timeout=10)
        if index % 2:
            connection.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        stalled.append(connection)
    time.sleep(3)
    closed = 0
    for connection in stalled:
        try:
            closed += connection.recv(1) == b""
        except ConnectionResetError:
            closed += 1
        connection.close()
    assert closed == len(stalled)


def http_exchange(connection, path="/healthz"):
    """One keep-alive GET on an open socket: (status, headers, body), or None when the
    server closed the connection without an answer."""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: tessera\r\n\r\n".encode())
    return read_response(connection)


def read_response(connection):
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("content-length", 0)):
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body
    except ConnectionResetError:
        return None


def closed_by_server(connection):
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def test_http_connections_beyond_the_limit_are_refused(processes):
    """With --http-max-connections 4, four open connections are served and a fifth is
    answered 503 and closed at once (counted in /metrics); the four keep working, and once
    some close, new connections are served again."""
    port = free_port()
    # Its operations port (the API port has the same limit, and answers only with a key).
    http = processes.start("gateway", "--port", str(port), "--http-port", str(free_port()),
                           "--scheduler", "127.0.0.1:1", "--cache-manager", "127.0.0.1:1",
                           "--http-max-connections", "4").ops_port
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", http), timeout=10) as probe:
                if (http_exchange(probe) or (0,))[0] == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the gateway's HTTP port never answered"
        time.sleep(0.1)

    # The probes' closes reach the gateway's count a moment after they happen: wait until a
    # connection sees only itself open, and keep it as the first of the four.
    held = []
    deadline = time.monotonic() + 10
    while not held:
        connection = socket.create_connection(("127.0.0.1", http), timeout=10)
        status, _, metrics = http_exchange(connection, "/metrics") or (0, {}, b"")
        values = {} if status != 200 else dict(
            line.rsplit(" ", 1) for line in metrics.decode().splitlines() if line and line[0] != "#")
        if float(values.get("tessera_http_connections", -1)) == 1:
            held.append(connection)
        else:
            connection.close()
            assert time.monotonic() < deadline, "the probes' connections never closed"
            time.sleep(0.1)
    held += [socket.create_connection(("127.0.0.1", http), timeout=10) for _ in range(3)]
    assert [http_exchange(connection)[0] for connection in held] == [200] * 4
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", http), timeout=10) as extra:
            status, headers, body = read_response(extra)  # answered without being asked
            assert status == 503 and headers["retry-after"] == "1" and headers["connection"] == "close"
            assert json.loads(body)["error"]["code"] == "too_many_connections"
            assert closed_by_server(extra)
    # The held connections were not disturbed.
    assert [http_exchange(connection)[0] for connection in held] == [200] * 4
    status, _, metrics = http_exchange(held[0], "/metrics")
    assert status == 200
    values = dict(line.rsplit(" ", 1) for line in metrics.decode().splitlines() if line and line[0] != "#")
    assert float(values["tessera_http_connections"]) == 4
    assert float(values["tessera_http_connections_refused_total"]) == 4

    for connection in held[2:]:
        connection.close()
    held = held[:2]
    deadline = time.monotonic() + 10
    while len(held) < 4 and time.monotonic() < deadline:
        connection = socket.create_connection(("127.0.0.1", http), timeout=10)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: tessera\r\n\r\n")
        if (read_response(connection) or (0,))[0] == 200:
            held.append(connection)
        else:  # the server had not yet noticed a close
            connection.close()
            time.sleep(0.05)
    assert len(held) == 4
    with socket.create_connection(("127.0.0.1", http), timeout=10) as extra:
        assert read_response(extra)[0] == 503
    for connection in held:
        connection.close()


def test_sigterm_stops_a_service_whose_peer_name_does_not_resolve(processes, tmp_path):
    # A worker that never registered (its scheduler's name does not resolve, as before a
    # compose or Kubernetes service exists) and a scheduler whose cache-manager's name does
    # not resolve: the gRPC client kept retrying the name and its graceful close waited for
    # it, so both ignored SIGTERM until killed (exit 137 under podman). Now they exit 0 in
    # a few seconds (ClientService cancels its connections 2 s into shutdown; measured here
    # 2.1 to 2.5 s on an idle machine).
    worker = processes.start("inference-worker", "--port", str(free_port()), "--http-port", str(free_port()),
                             "--scheduler", "scheduler.invalid:7401", "--shard-dir", str(tmp_path / "shards"),
                             "--state-dir", str(tmp_path / "state"))
    scheduler = processes.start("scheduler", "--port", str(free_port()), "--http-port", str(free_port()),
                                "--cache-manager", "cache-manager.invalid:7402")
    for proc, line in [(worker, "registration failed; retrying"), (scheduler, "listening")]:
        deadline = time.monotonic() + 30
        while line not in open(proc.log_path).read():
            assert proc.poll() is None and time.monotonic() < deadline, f"no '{line}' line"
            time.sleep(0.1)
    time.sleep(1.0)  # the clients are resolving (and failing) by now
    for proc in (worker, scheduler):
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, open(proc.log_path).read()[-2000:]
        # (2 s of grace, then the rest of shutdown; generous for a loaded 2-core machine)
        assert time.monotonic() - start < 10
