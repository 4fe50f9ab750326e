"""Idle TLS handshakes are bounded (issue 11): a peer that opens a TCP connection to a service's
gRPC port or the scheduler's enrollment port and never completes the handshake (sends nothing, or
half a ClientHello) is disconnected after --tls-handshake-timeout-s, while real clients (grpcio,
Python's ssl) keep working, and a connection whose handshake did complete is not dropped by it."""
import socket
import ssl
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import tls_material
from conftest import free_port
from test_mtls import start_scheduler, wait_tls_serving

TIMEOUT_S = 2
# The server must close within the bound, plus scheduling slack on a busy 2-core machine.
SLACK_S = 3

# A TLS record header announcing a 512-byte handshake message, and the start of a ClientHello:
# a peer that stops here leaves the server waiting for the rest.
PARTIAL_CLIENT_HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]) + b"\x00" * 16


def seconds_until_closed(port: int, send: bytes, limit: float) -> float:
    """Connects, sends `send`, and returns how long the server took to close the connection
    (read returns end of file or the connection is reset); fails past `limit`."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as raw:
        if send:
            raw.sendall(send)
        try:
            while raw.recv(4096):
                pass  # a server may answer a partial hello before it gives up; keep reading
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError(f"port {port} still held the connection after {limit}s")
    return time.monotonic() - started


def health_check(port: int, tls_dir) -> int:
    with tls_material.channel(f"127.0.0.1:{port}", tls_dir, "operator") as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status


def completed_handshake(port: int, tls_dir) -> ssl.SSLSocket:
    """A connection that finishes the handshake with the operator's certificate (Python's ssl,
    an OpenSSL client) and then sends nothing."""
    context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    context.load_cert_chain(str(tls_dir / "operator.pem"), str(tls_dir / "operator.key"))
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_unfinished_handshakes_are_dropped_on_grpc_and_enrollment_ports(processes, tls_dir):
    enrollment = free_port()
    scheduler = start_scheduler(processes, tls_dir, "--tls-handshake-timeout-s", str(TIMEOUT_S),
                                "--enrollment-port", str(enrollment))
    wait_tls_serving(scheduler.port, tls_dir, scheduler)

    for port in (scheduler.port, enrollment):
        silent = seconds_until_closed(port, b"", TIMEOUT_S + SLACK_S)
        assert TIMEOUT_S - 0.5 <= silent <= TIMEOUT_S + SLACK_S, (port, silent)
        partial = seconds_until_closed(port, PARTIAL_CLIENT_HELLO, TIMEOUT_S + SLACK_S)
        assert TIMEOUT_S - 0.5 <= partial <= TIMEOUT_S + SLACK_S, (port, partial)

    # Meanwhile and afterwards, real clients are served.
    held = [socket.create_connection(("127.0.0.1", scheduler.port)) for _ in range(8)]
    try:
        assert health_check(scheduler.port, tls_dir) == health_pb2.HealthCheckResponse.SERVING
    finally:
        for connection in held:
            connection.close()

    # A connection that completed its handshake outlives the handshake bound (it is then the
    # 5-minute idle limit's, not this one's).
    finished = completed_handshake(scheduler.port, tls_dir)
    try:
        finished.settimeout(0.5)
        deadline = time.monotonic() + TIMEOUT_S + 1.5
        while time.monotonic() < deadline:
            try:
                data = finished.recv(4096)  # the server's HTTP/2 SETTINGS, then nothing
                assert data, "the server closed a connection whose handshake had completed"
            except socket.timeout:
                pass
    finally:
        finished.close()
    assert scheduler.poll() is None
    assert health_check(scheduler.port, tls_dir) == health_pb2.HealthCheckResponse.SERVING


def test_handshake_timeout_must_be_positive(processes, tls_dir):
    scheduler = start_scheduler(processes, tls_dir, "--tls-handshake-timeout-s", "0")
    assert scheduler.wait(timeout=30) == 1
    assert "--tls-handshake-timeout-s must be more than 0" in open(scheduler.log_path).read()
