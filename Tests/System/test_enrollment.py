"""Worker enrollment with join tokens against real processes: `tessera up` (mutual TLS, the CA in
its state directory, the scheduler's enrollment port), `tessera certs join-token`, and an
`inference-worker` started on another "machine" (its own empty TLS directory, no CA key) with
--join-token. It joins, gets shards, and serves a chat once the cluster's own worker is revoked;
a spent token and a revoked name are refused."""
import os
import re
import signal
import subprocess
import time

import pytest

import tls_material
from conftest import free_port, free_port_offset


def tessera(bin_dir, *args, env=None, timeout=60):
    return subprocess.run([str(bin_dir / "tessera"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def join_token(bin_dir, tls, *args) -> str:
    made = tessera(bin_dir, "certs", "join-token", "--dir", str(tls), *args)
    assert made.returncode == 0, made.stderr
    found = re.search(r"^join token: (tsj\.\S+)$", made.stdout, re.MULTILINE)
    assert found, made.stdout
    return found.group(1)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout}s")


@pytest.fixture
def tls_cluster(bin_dir, tmp_path):
    """`tessera up --workers 1` with TLS on, its certificates in its state directory."""
    offset = free_port_offset(1)
    state = tmp_path / "state"
    up, text, env = tls_material.start_up_with_own_ca(bin_dir, tmp_path, 1, offset)
    try:
        assert "cluster ready" in text, text
        assert f"worker enrollment: 127.0.0.1:{7404 + offset}" in text, text
        yield type("Cluster", (), dict(offset=offset, tls=state / "tls", env=env, logs=tmp_path / "logs",
                                       scheduler=f"127.0.0.1:{7401 + offset}",
                                       enrollment=f"127.0.0.1:{7404 + offset}"))
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=90)


def start_edge_worker(processes, cluster, tmp_path, token, worker_id="edge-1"):
    """An inference worker on a machine that has only the token: an empty TLS directory."""
    edge = tmp_path / f"{worker_id}-machine"
    port, http = free_port(), free_port()
    proc = processes.start(
        "inference-worker", "--join-token", token, "--enroll-address", cluster.enrollment,
        "--tls-dir", str(edge / "tls"), "--worker-id", worker_id,
        "--port", str(port), "--http-port", str(http), "--scheduler", cluster.scheduler,
        "--cache-manager", f"127.0.0.1:{7402 + cluster.offset}", "--verifier", f"127.0.0.1:{7403 + cluster.offset}",
        "--memory-mb", "1024", "--threads", "1", "--shard-dir", str(edge / "shards"),
        "--state-dir", str(edge / "state"),
        env={"TESSERA_INSECURE": "0", "TESSERA_TLS_DIR": "", "TESSERA_TLS_NAME": ""})
    proc.tls = edge / "tls"
    return proc


def placement(bin_dir, cluster) -> str:
    shown = tessera(bin_dir, "placement", "--port-offset", str(cluster.offset), "--tls-dir", str(cluster.tls),
                    env=cluster.env)
    return shown.stdout if shown.returncode == 0 else ""


def serves_alone(bin_dir, cluster, name):
    """Revokes the cluster's own worker, so that every pipeline must run on the enrolled worker
    `name`, and waits until it holds the placement and a chat is answered through it."""
    revoke = tessera(bin_dir, "worker", "revoke", "worker-1", "--scheduler", cluster.scheduler,
                     "--tls-dir", str(cluster.tls), env=cluster.env)
    assert revoke.returncode == 0, revoke.stderr
    shown = wait_for(lambda: (lambda text: text if name in text and "worker-1" not in text and ": ready" in text else None)(
        placement(bin_dir, cluster)), 120, f"the enrolled worker {name} did not take over the placement")
    assert name in shown, shown
    answer = wait_for(lambda: (lambda done: done if done.returncode == 0 else None)(
        tessera(bin_dir, "chat", "--port-offset", str(cluster.offset), "--tls-dir", str(cluster.tls),
                "--max-tokens", "8", "--temperature", "0", "Say hi.", env=cluster.env, timeout=120)),
        120, f"no chat answer through the enrolled worker {name}")
    assert answer.stdout.strip(), answer.stderr


def test_worker_enrolled_by_token_joins_and_serves(bin_dir, tmp_path, processes, tls_cluster):
    cluster = tls_cluster
    token = join_token(bin_dir, cluster.tls, "--expires", "10m")
    assert token not in (cluster.tls / "join-tokens.json").read_text()

    edge = start_edge_worker(processes, cluster, tmp_path, token)
    # The new machine has its own key and certificate, and no CA key.
    wait_for(lambda: (edge.tls / "edge-1.pem").exists(), 60, "no certificate was written")
    assert not (edge.tls / "ca.key").exists()
    subject = subprocess.run(["openssl", "x509", "-in", str(edge.tls / "edge-1.pem"), "-noout", "-subject"],
                             capture_output=True, text=True, check=True).stdout
    assert "OU = worker" in subject and "CN = edge-1" in subject, subject
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(cluster.tls / "ca.pem"), str(edge.tls / "edge-1.pem")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "enrolled as 'edge-1'" in open(edge.log_path).read()

    serves_alone(bin_dir, cluster, "edge-1")

    # Spent: a second machine with the same token is refused, and says why.
    again = start_edge_worker(processes, cluster, tmp_path, token, worker_id="edge-2")
    assert again.wait(timeout=60) == 1
    log = open(again.log_path).read()
    assert "join token" in log and "was already used (by 'edge-1')" in log, log

    # Revoked: a new token for the revoked name is refused too.
    for_revoked = join_token(bin_dir, cluster.tls, "--name", "worker-1")
    back = start_edge_worker(processes, cluster, tmp_path, for_revoked, worker_id="worker-1")
    assert back.wait(timeout=60) == 1
    assert "'worker-1' is revoked" in open(back.log_path).read()


def test_join_token_cli_errors(bin_dir, tmp_path):
    no_ca = tessera(bin_dir, "certs", "join-token", "--dir", str(tmp_path / "none"))
    assert no_ca.returncode == 1 and "no CA key in" in no_ca.stderr, no_ca.stderr
    bad = tessera(bin_dir, "certs", "join-token", "--dir", str(tmp_path), "--expires", "forever")
    assert bad.returncode != 0 and "--expires must be a positive duration" in bad.stderr, bad.stderr
