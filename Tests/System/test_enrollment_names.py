"""An enrolled worker's certificate names the addresses it is reached at (issue 11): a worker on
another "machine" that listens and advertises 127.0.0.5 (loopback, but named by no certificate
unless asked for) enrolls with --join-token, its certificate carries 127.0.0.5 and its --san, and
the scheduler (LoadShard) and the gateway (Forward) dial it there with hostname verification on,
as `tessera up` runs them. A worker whose --san is a wildcard is refused before it gets a
certificate, and the token stays unspent."""
import subprocess

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import free_port
from test_enrollment import join_token, serves_alone, tls_cluster, wait_for  # noqa: F401 (fixture)

ADDRESS = "127.0.0.5"


def start_named_worker(processes, cluster, tmp_path, token, worker_id, *extra):
    machine = tmp_path / f"{worker_id}-machine"
    port = free_port()
    proc = processes.start(
        "inference-worker", "--join-token", token, "--enroll-address", cluster.enrollment,
        "--tls-dir", str(machine / "tls"), "--worker-id", worker_id,
        "--host", ADDRESS, "--advertise-host", ADDRESS, "--port", str(port), "--http-port", str(free_port()),
        "--scheduler", cluster.scheduler, "--cache-manager", f"127.0.0.1:{7402 + cluster.offset}",
        "--verifier", f"127.0.0.1:{7403 + cluster.offset}", "--memory-mb", "1024", "--threads", "1",
        "--shard-dir", str(machine / "shards"), "--state-dir", str(machine / "state"), *extra,
        env={"TESSERA_INSECURE": "0", "TESSERA_TLS_DIR": "", "TESSERA_TLS_NAME": "",
             "TESSERA_TLS_SKIP_SERVER_NAME_CHECK": "0"})
    proc.tls, proc.port = machine / "tls", port
    return proc


def test_enrolled_worker_is_dialled_at_its_advertised_address(bin_dir, tmp_path, processes, tls_cluster):
    cluster = tls_cluster
    # A wildcard is refused by the joining worker itself, with the reason; the token is not spent.
    token = join_token(bin_dir, cluster.tls, "--expires", "10m")
    wild = start_named_worker(processes, cluster, tmp_path, token, "edge-wild", "--san", "*.lab.test")
    assert wild.wait(timeout=60) == 1
    assert "cannot name '*.lab.test': wildcards are not issued" in open(wild.log_path).read()

    edge = start_named_worker(processes, cluster, tmp_path, token, "edge-5", "--san", "edge-5.lab.test")
    certificate = edge.tls / "edge-5.pem"
    wait_for(lambda: certificate.exists(), 60, "no certificate was written")
    names = subprocess.run(["openssl", "x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout
    assert f"IP Address:{ADDRESS}" in names and "DNS:edge-5.lab.test" in names, names
    subject = subprocess.run(["openssl", "x509", "-in", str(certificate), "-noout", "-subject"],
                             capture_output=True, text=True, check=True).stdout
    assert "OU = worker" in subject, subject

    # grpcio (an independent TLS stack) verifies the worker's name at 127.0.0.5 too.
    def serving():
        credentials = grpc.ssl_channel_credentials((cluster.tls / "ca.pem").read_bytes(),
                                                   (cluster.tls / "operator.key").read_bytes(),
                                                   (cluster.tls / "operator.pem").read_bytes())
        with grpc.secure_channel(f"{ADDRESS}:{edge.port}", credentials) as channel:
            try:
                return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2).status \
                    == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                return False
    wait_for(serving, 60, "the enrolled worker did not serve over TLS at its address")

    # Only the enrolled worker is left: the scheduler must load shards on it at 127.0.0.5 and the
    # gateway stream through it there, both checking that its certificate names that address.
    serves_alone(bin_dir, cluster, "edge-5")
    assert edge.poll() is None
