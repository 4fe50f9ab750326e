"""Cluster certificates for the system tests, made with `tessera certs` (the CLI under test).

`make(bin_dir, directory)` creates a CA and one certificate per role, named after the role
(`scheduler.pem`, `worker.pem`, `operator.pem`, ...), which is the name each service uses by
default; `environment(directory)` is what a process needs to run with them; `channel` is a
grpcio channel presenting one role's certificate. The services and the grpcio client are
independent TLS implementations (swift-nio-ssl's BoringSSL and grpcio's), so the handshake
itself is checked against a reference.

Tests that are not about security run their processes with TESSERA_INSECURE=1 (conftest.py);
test_mtls.py runs them with TLS."""
import os
import pathlib
import subprocess

import grpc

ROLES = ["gateway", "scheduler", "cache-manager", "worker", "verifier", "operator", "client"]


def tessera(bin_dir: pathlib.Path, *args: str) -> str:
    return subprocess.run([str(bin_dir / "tessera"), *args], check=True, capture_output=True,
                          text=True, timeout=60).stdout


def make(bin_dir: pathlib.Path, directory: pathlib.Path) -> pathlib.Path:
    tessera(bin_dir, "certs", "init", "--dir", str(directory))
    for role in ROLES:
        tessera(bin_dir, "certs", "issue", role, role, "--dir", str(directory))
    return directory


def environment(directory: pathlib.Path) -> dict:
    """The environment of a process that runs with mutual TLS (whatever the suite's default)."""
    return {"TESSERA_TLS_DIR": str(directory), "TESSERA_INSECURE": "0"}


def credentials(directory: pathlib.Path, name: str) -> grpc.ChannelCredentials:
    read = lambda file: (directory / file).read_bytes()
    return grpc.ssl_channel_credentials(read("ca.pem"), read(f"{name}.key"), read(f"{name}.pem"))


def channel(address: str, directory: pathlib.Path, name: str) -> grpc.Channel:
    """A grpcio channel to `address` presenting certificate `name` and trusting only the CA."""
    return grpc.secure_channel(address, credentials(directory, name))


def use_plaintext_by_default() -> None:
    """Processes the suite starts run with --insecure unless they say otherwise."""
    os.environ.setdefault("TESSERA_INSECURE", "1")
