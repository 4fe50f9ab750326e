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


# --- The whole suite over TLS (the default; TESSERA_TEST_TLS=0 for plaintext) ---
# Every process the suite starts then runs with the suite's certificates (TESSERA_TLS_DIR, each
# service under its role's certificate, `tessera up` issuing its members' there too), and every
# grpcio channel a test opens with grpc.insecure_channel becomes a TLS channel that, for each
# call, presents a certificate whose role may make it (RoleChannel). test_mtls.py keeps the
# plain function: it checks that plaintext is refused.

PLAIN_INSECURE_CHANNEL = grpc.insecure_channel
ROLE_POLICY = pathlib.Path(__file__).resolve().parents[2] / "Shared/ServiceKit/Security/RolePolicy.swift"
# Which allowed role a test's call presents when several may make it.
ROLE_PREFERENCE = ["operator", "gateway", "scheduler", "worker", "verifier", "client", "cache-manager"]


def suite_uses_tls() -> bool:
    """Mutual TLS everywhere unless TESSERA_TEST_TLS=0 (plaintext, for debugging a test)."""
    return os.environ.get("TESSERA_TEST_TLS", "1") != "0"


def role_table() -> dict:
    """RPC (`package.Service/Method`) to the roles that may call it, read from the services'
    own table so a new RPC needs no second entry here."""
    import re
    text = ROLE_POLICY.read_text()
    table = {}
    for method, roles in re.findall(r'"([\w.]+/\w+)":\s*(\[[^\]]*\]|anyRole)', text):
        names = ROLE_PREFERENCE if roles == "anyRole" else re.findall(r"\.`?(\w+)`?", roles)
        table[method] = ["cache-manager" if name == "cacheManager" else name for name in names]
    return table


def role_for(method: str, table: dict) -> str:
    allowed = table.get(method.lstrip("/"), [])
    for role in ROLE_PREFERENCE:
        if role in allowed:
            return role
    return "operator"


class RoleChannel(grpc.Channel):
    """A TLS channel to one target that presents, per call, the certificate of a role allowed
    to make that call (one underlying channel per role, opened on first use)."""

    def __init__(self, target, directory: pathlib.Path, options=None, compression=None):
        self.target, self.directory, self.options, self.compression = target, directory, options, compression
        self.channels, self.table = {}, role_table()

    def _for_role(self, role: str) -> grpc.Channel:
        if role not in self.channels:
            self.channels[role] = grpc.secure_channel(self.target, credentials(self.directory, role),
                                                      self.options, self.compression)
        return self.channels[role]

    def _for(self, method) -> grpc.Channel:
        name = method.decode() if isinstance(method, bytes) else method
        return self._for_role(role_for(name, self.table))

    def unary_unary(self, method, *args, **kwargs):
        return self._for(method).unary_unary(method, *args, **kwargs)

    def unary_stream(self, method, *args, **kwargs):
        return self._for(method).unary_stream(method, *args, **kwargs)

    def stream_unary(self, method, *args, **kwargs):
        return self._for(method).stream_unary(method, *args, **kwargs)

    def stream_stream(self, method, *args, **kwargs):
        return self._for(method).stream_stream(method, *args, **kwargs)

    def subscribe(self, callback, try_to_connect=False):
        self._for_role("operator").subscribe(callback, try_to_connect)

    def unsubscribe(self, callback):
        self._for_role("operator").unsubscribe(callback)

    def close(self):
        for channel in self.channels.values():
            channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def use_tls_for_the_suite(bin_dir: pathlib.Path, directory: pathlib.Path) -> None:
    """Certificates for every role in `directory`; every process and grpcio channel the suite
    opens from now on uses them."""
    import api_keys
    make(bin_dir, directory)
    os.environ["TESSERA_TLS_DIR"] = str(directory)
    os.environ["TESSERA_INSECURE"] = "0"
    os.environ.pop("TESSERA_TLS_NAME", None)

    def role_channel(target, options=None, compression=None):
        return RoleChannel(target, directory, options, compression)

    api_keys.raw_insecure_channel = role_channel


def share_suite_certificates(state_dir: pathlib.Path) -> None:
    """With the suite over TLS, a `tessera up` whose tests look for its certificates in
    `<state dir>/tls` finds the suite's there (the cluster itself uses them through
    TESSERA_TLS_DIR, so the suite's grpcio channels and CLI calls can reach it)."""
    if not suite_uses_tls():
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    link = state_dir / "tls"
    if not link.exists():
        link.symlink_to(os.environ["TESSERA_TLS_DIR"], target_is_directory=True)


def start_up_with_own_ca(bin_dir: pathlib.Path, tmp_path: pathlib.Path, workers: int, offset: int):
    """`tessera up` with mutual TLS and a CA of its own in `<tmp_path>/state/tls`, whatever the
    suite's mode; returns the process and what it printed up to `cluster ready` (or its end)."""
    import subprocess
    import time
    env = {**os.environ, "TESSERA_INSECURE": "0", "TESSERA_TLS_DIR": ""}
    up = subprocess.Popen([str(bin_dir / "tessera"), "up", "--workers", str(workers), "--port-offset", str(offset),
                           "--log-dir", str(tmp_path / "logs"), "--state-dir", str(tmp_path / "state")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        if not line:
            break
        output.append(line)
        if "cluster ready" in line:
            break
    return up, "".join(output), env


def add_server_port(server: grpc.Server, address: str, role: str = "scheduler") -> int:
    """A port on a grpcio server that stands in for a Tessera service (a fake scheduler): in
    plaintext, or with the suite over TLS, presenting `role`'s certificate and requiring a
    client certificate from the suite's CA, as the real service would."""
    if not suite_uses_tls():
        return server.add_insecure_port(address)
    directory = pathlib.Path(os.environ["TESSERA_TLS_DIR"])
    credentials = grpc.ssl_server_credentials(
        [((directory / f"{role}.key").read_bytes(), (directory / f"{role}.pem").read_bytes())],
        root_certificates=(directory / "ca.pem").read_bytes(), require_client_auth=True)
    return server.add_secure_port(address, credentials)
