"""Proof of inference against real processes: honest receipts verify (and their verdicts
survive a verifier restart); each fault a test-only worker injects is caught, naming that
worker (the detection matrix of docs/verification.md); a caught worker is quarantined, and
the streams it was serving fail over and finish token-identical.

The faulty workers are `tessera-faulty-worker` (Services/FaultyWorker), a build no
production configuration can turn into: the production `inference-worker` has no fault flags."""
import json
import subprocess
import threading
import time
import urllib.request

import grpc
import pytest

from conftest import free_port, gauges, wait_serving
from test_openai_api import MODEL_PATH, local_run

PROMPTS = ["The history of the Roman empire", "Once upon a time, in a small village,",
           "The best way to learn programming is", "Water boils at"]


class VerifiedCluster:
    """Cache-manager, verifier, scheduler and gateway as processes; workers added one by one."""

    def __init__(self, processes, tmp_path, verifier_args=(), canary_interval=0):
        if not MODEL_PATH.exists():
            pytest.skip(f"{MODEL_PATH} missing (scripts/fetch-model)")
        self.processes, self.tmp = processes, tmp_path
        env = {"TESSERA_STORE_DIR": str(tmp_path / "store")}
        self.cache_port, self.scheduler_port, self.grpc_port = free_port(), free_port(), free_port()
        self.verifier_port, self.gateway_http = free_port(), free_port()
        cache = processes.start("cache-manager", "--port", str(self.cache_port), "--http-port", str(free_port()),
                                "--preload", str(MODEL_PATH), env=env)
        self.verifier_args = ["--port", str(self.verifier_port), "--http-port", str(free_port()),
                              "--cache-manager", f"127.0.0.1:{self.cache_port}",
                              "--state-dir", str(tmp_path / "verifier"), "--threads", "1", *verifier_args]
        if canary_interval:
            self.verifier_args += ["--gateway", f"127.0.0.1:{self.grpc_port}",
                                   "--canary-interval", str(canary_interval)]
        self.verifier = processes.start("verifier", *self.verifier_args)
        verifier = f"127.0.0.1:{self.verifier_port}"
        scheduler = processes.start("scheduler", "--port", str(self.scheduler_port), "--http-port", str(free_port()),
                                    "--cache-manager", f"127.0.0.1:{self.cache_port}", "--model", "smollm2-135m",
                                    "--heartbeat-ms", "200", "--worker-expiry-ms", "1500",
                                    "--verifier", verifier, "--reputation-poll-ms", "500")
        gateway = processes.start("gateway", "--port", str(self.grpc_port), "--http-port", str(self.gateway_http),
                                  "--scheduler", f"127.0.0.1:{self.scheduler_port}",
                                  "--cache-manager", f"127.0.0.1:{self.cache_port}", "--verifier", verifier,
                                  "--step-timeout-ms", "5000")
        self.gateway_ops = gateway.ops_port  # /metrics, /healthz, /readyz (no key)
        self.workers = {}
        for proc, port in [(cache, self.cache_port), (self.verifier, self.verifier_port),
                           (scheduler, self.scheduler_port), (gateway, self.grpc_port)]:
            wait_serving(port, timeout=120, proc=proc)

    def add_worker(self, name, memory_mb, faults=(), env=None):
        program = "tessera-faulty-worker" if faults else "inference-worker"
        fault_args = [arg for fault in faults for arg in ("--fault", fault)]
        self.workers[name] = self.processes.start(
            program, "--port", str(free_port()), "--http-port", str(free_port()),
            "--scheduler", f"127.0.0.1:{self.scheduler_port}", "--verifier", f"127.0.0.1:{self.verifier_port}",
            "--memory-mb", str(memory_mb), "--threads", "1", "--worker-id", name,
            "--state-dir", str(self.tmp / f"state-{name}"), "--shard-dir", str(self.tmp / f"shards-{name}"),
            *fault_args, env=env)

    def stop_worker(self, name):
        proc = self.workers.pop(name)
        proc.terminate()
        proc.wait(timeout=30)

    def wait_pipeline(self, stubs, workers, timeout=180):
        """Until a ready pipeline runs exactly on `workers` (a set of ids)."""
        pb, rpc = stubs.scheduler_pb2, stubs.scheduler_pb2_grpc
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(f"127.0.0.1:{self.scheduler_port}") as channel:
            while time.monotonic() < deadline:
                try:
                    pipelines = rpc.SchedulerStub(channel).GetPlacement(pb.GetPlacementRequest(), timeout=10).pipelines
                except grpc.RpcError:  # the model's manifest is not loaded yet
                    pipelines = []
                for pipeline in pipelines:
                    if not pipeline.draining and all(s.ready for s in pipeline.stages) \
                            and {s.worker_id for s in pipeline.stages} == set(workers):
                        return pipeline
                time.sleep(0.25)
        raise AssertionError(f"no ready pipeline on {workers}")

    def generate(self, stubs, prompt, max_tokens=16, temperature=0.0, seed=None):
        """One Generate stream: (token ids, text, the receipt on its last message)."""
        pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
        sampling = common.SamplingParams(temperature=temperature, max_tokens=max_tokens, ignore_eos=True)
        if seed is not None:
            sampling.seed = seed
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            messages = list(rpc.GatewayStub(channel).Generate(
                pb.GenerateRequest(prompt=prompt, sampling=sampling), timeout=300))
        assert messages[-1].HasField("receipt"), "the last message carries the receipt"
        return [t for m in messages for t in m.token_ids], "".join(m.text for m in messages), messages[-1].receipt

    def verifier_stub(self, channel):
        from tessera.v1 import verifier_pb2_grpc
        return verifier_pb2_grpc.VerifierStub(channel)

    def status(self, receipt_id, audit=False, timeout=120):
        """The receipt's status once the verifier has it (and, with `audit`, a verdict)."""
        from tessera.v1 import verifier_pb2
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(f"127.0.0.1:{self.verifier_port}") as channel:
            stub = self.verifier_stub(channel)
            while True:
                try:
                    if audit:
                        return stub.AuditReceipt(verifier_pb2.AuditReceiptRequest(receipt_id=receipt_id), timeout=300)
                    return stub.GetReceipt(verifier_pb2.GetReceiptRequest(receipt_id=receipt_id), timeout=10)
                except grpc.RpcError as error:
                    # The gateway ships receipts asynchronously: not there yet.
                    if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

    def reputations(self):
        from tessera.v1 import verifier_pb2
        with grpc.insecure_channel(f"127.0.0.1:{self.verifier_port}") as channel:
            response = self.verifier_stub(channel).ListReputations(verifier_pb2.ListReputationsRequest(), timeout=10)
            return {r.worker_id: r for r in response.reputations}

    def restart_verifier(self):
        self.verifier.terminate()
        assert self.verifier.wait(timeout=30) == 0
        self.verifier = self.processes.start("verifier", *self.verifier_args)
        wait_serving(self.verifier_port, timeout=60, proc=self.verifier)

    def tessera(self, bin_dir, *args):
        return subprocess.run([str(bin_dir / "tessera"), *args, "--verifier", f"127.0.0.1:{self.verifier_port}"],
                              capture_output=True, text=True, timeout=300)


def states(stubs):
    from tessera.v1 import verifier_pb2
    return verifier_pb2


def test_honest_receipts_verify_and_survive_a_verifier_restart(processes, stubs, tmp_path, bin_dir):
    pb = states(stubs)
    # Canaries every second or so: known-answer requests through the gateway's public API.
    cluster = VerifiedCluster(processes, tmp_path, canary_interval=1)
    # 180 MiB cannot hold the model: a two-stage pipeline, so the hop between them is checked.
    # The second worker runs the portable Swift dot kernels, the verifier and the first the
    # native ones (AVX2 / AVX-512 VNNI): honest workers on other kernels give the same bits.
    cluster.add_worker("honest-1", 180)
    cluster.add_worker("honest-2", 180, env={"TESSERA_NATIVE_KERNELS": "0"})
    cluster.wait_pipeline(stubs, {"honest-1", "honest-2"})
    receipts = []
    for index, prompt in enumerate(PROMPTS):
        seeded = index % 2 == 1  # sampled at temperature 0.8 with a seed: checked against the seed
        tokens, _, receipt = cluster.generate(stubs, prompt, max_tokens=24, temperature=0.8 if seeded else 0,
                                           seed=7 if seeded else None)
        assert len(tokens) == 24 and receipt.leaf_count == 2 * 24  # two stages, prefill + 23 decode steps
        receipts.append(receipt)
    # The HTTP API: the receipt in the body and the header.
    request = urllib.request.Request(
        f"http://127.0.0.1:{cluster.gateway_http}/v1/completions",
        data=json.dumps({"model": "smollm2-135m", "prompt": PROMPTS[0], "max_tokens": 8,
                         "temperature": 0}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
        assert response.headers["x-tessera-receipt"] == body["receipt"]["id"] == body["choices"][0]["receipt"]["id"]
    assert [s["worker_id"] for s in body["receipt"]["stages"]] and len(body["receipt"]["merkle_root"]) == 64
    http_receipt = body["receipt"]["id"]

    for receipt in receipts:
        status = cluster.status(receipt.receipt_id, audit=True)
        assert status.state == pb.RECEIPT_STATE_VERIFIED, status.reason
        assert [check.passed for check in status.stage_checks] == [True, True]
        # Not just within the tolerance: the replay reproduced every fingerprint exactly.
        assert all(check.max_relative_error == 0 and check.max_norm_error == 0 for check in status.stage_checks)
        assert {check.worker_id for check in status.stage_checks} == {"honest-1", "honest-2"}
    assert cluster.status(http_receipt, audit=True).state == pb.RECEIPT_STATE_VERIFIED

    # The CLI: verdict (exit 0), and a step's proof checked offline against the signed root.
    shown = cluster.tessera(bin_dir, "verify", receipts[0].receipt_id)
    assert shown.returncode == 0 and "state     verified" in shown.stdout, shown.stdout + shown.stderr
    proof = cluster.tessera(bin_dir, "verify", receipts[0].receipt_id, "--proof", "5")
    assert proof.returncode == 0 and proof.stdout.count("valid") >= 3 and "proof valid" in proof.stdout, proof.stdout
    unknown = cluster.tessera(bin_dir, "verify", "rcpt-nonexistent")
    assert unknown.returncode == 1 and "not" in unknown.stderr.lower(), unknown.stderr
    before = cluster.reputations()
    assert before["honest-1"].checks_passed >= 5 and before["honest-1"].checks_failed == 0
    assert before["honest-1"].balance > before["honest-1"].deposit

    # The verifier's own canaries went through the gateway like any request and verified.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines = open(cluster.verifier.log_path).read().splitlines()
        if any("receipt verdict" in line and "canary=true" in line and "state=verified" in line for line in lines):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("no canary was verified")

    # Restarted, the verifier keeps every verdict, key and balance.
    cluster.restart_verifier()
    for receipt in receipts:
        assert cluster.status(receipt.receipt_id).state == pb.RECEIPT_STATE_VERIFIED
    after = cluster.reputations()
    for worker in ("honest-1", "honest-2"):
        # Canaries keep running, so the counts can only have grown.
        assert after[worker].public_key == before[worker].public_key
        assert after[worker].checks_passed >= before[worker].checks_passed
        assert after[worker].balance >= before[worker].balance and after[worker].checks_failed == 0
    table = cluster.tessera(bin_dir, "reputation")
    assert table.returncode == 0 and "honest-1" in table.stdout and "checking costs" in table.stdout


# Each fault of the detection matrix: the worker(s) to start and the stage a verdict must name.
# One faulty worker with 400 MiB hosts the whole model (one stage); tamper-output needs a hop,
# so two faulty workers of 180 MiB each share it and the first one tampers (the last has no
# hidden states to send).
MATRIX = {
    "skip-layer=5": [("faulty", 400, ["skip-layer=5"])],
    "low-bit": [("faulty", 400, ["low-bit"])],
    "swap-layers=3,20": [("faulty", 400, ["swap-layers=3,20"])],
    "tamper-prompt": [("faulty", 400, ["tamper-prompt"])],
    "noise=0.01": [("faulty", 400, ["noise=0.01"])],
    "noise=0.001": [("faulty", 400, ["noise=0.001"])],
    "wrong-token-every=4": [("faulty", 400, ["wrong-token-every=4"])],
    "forge-signature": [("faulty", 400, ["forge-signature"])],
    "replay-commitment": [("faulty", 400, ["replay-commitment"])],
    "tamper-output": [("faulty-a", 180, ["tamper-output"]), ("faulty-b", 180, ["tamper-output"])],
}


@pytest.fixture(scope="module")
def matrix_cluster(tmp_path_factory, bin_dir, stubs):
    from conftest import Processes
    tmp = tmp_path_factory.mktemp("verification-matrix")
    processes = Processes(bin_dir, tmp)
    try:
        # Nobody is quarantined here, so a faulty worker keeps serving and every one of its
        # receipts is judged (quarantine is the last test's subject).
        yield VerifiedCluster(processes, tmp, verifier_args=["--quarantine-below", "0"])
    finally:
        processes.stop_all()


@pytest.mark.parametrize("fault", list(MATRIX))
def test_detection_matrix(matrix_cluster, stubs, fault):
    """Every receipt a faulty worker served is caught, and the verdict names a faulty worker."""
    pb = states(stubs)
    cluster = matrix_cluster
    names = []
    for name, memory, faults in MATRIX[fault]:
        name = f"{name}-{fault.split('=')[0]}-{fault.split('=')[-1].replace('.', '').replace(',', '-')}"
        cluster.add_worker(name, memory, faults)
        names.append(name)
    try:
        cluster.wait_pipeline(stubs, set(names))
        verdicts = []
        for prompt in PROMPTS[:3]:
            _, _, receipt = cluster.generate(stubs, prompt, max_tokens=16)
            status = cluster.status(receipt.receipt_id, audit=True)
            verdicts.append(status)
        detected = [s for s in verdicts if s.state == pb.RECEIPT_STATE_FAILED]
        print(f"\nMATRIX {fault}: detected {len(detected)}/{len(verdicts)}; "
              f"reasons: {[s.reason[:160] for s in detected][:1]}")
        assert len(detected) == len(verdicts), [(s.state, s.reason) for s in verdicts]
        assert all(s.fault_worker_id in names for s in detected)
        # Each fault puts the new worker far below the default quarantine threshold (0.8).
        assert cluster.reputations()[detected[0].fault_worker_id].score < 0.5
    finally:
        for name in names:
            cluster.stop_worker(name)


def test_a_caught_worker_is_quarantined_and_its_streams_fail_over(processes, stubs, tmp_path, bin_dir):
    """Two single-stage pipelines: one honest worker, one whose signatures are forged (its
    tokens are right, its statements are not). Long streams run on both; a short request
    served by the forger is caught at once, the scheduler stops placing on it and unloads it,
    and its streams fail over to the honest worker, finishing with exactly the tokens of an
    undisturbed run."""
    pb = states(stubs)
    cluster = VerifiedCluster(processes, tmp_path)
    # Up to eight long streams end up on the honest worker: it has a KV slot for each (about
    # 47 MB per session at the served 2048 tokens), so a failover never waits for one of them
    # to finish, which on a slow host takes longer than the gateway's pipeline wait.
    cluster.add_worker("honest", 800)
    cluster.add_worker("forger", 400, ["forge-signature"])
    cluster.wait_pipeline(stubs, {"honest"})
    cluster.wait_pipeline(stubs, {"forger"})
    max_tokens = 400  # long enough to still be running when the forger is caught
    results, errors = {}, []

    def stream(prompt):
        try:
            results[prompt] = cluster.generate(stubs, prompt, max_tokens=max_tokens)
        except grpc.RpcError as error:
            errors.append((prompt, error.code(), error.details()))

    threads = [threading.Thread(target=stream, args=(prompt,)) for prompt in PROMPTS]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    caught = None
    extra = 0
    for attempt in range(20):  # until a short request lands on the forger
        _, _, receipt = cluster.generate(stubs, f"Question {attempt}: what is {attempt} plus two?", max_tokens=4)
        status = cluster.status(receipt.receipt_id)
        if status.state == pb.RECEIPT_STATE_FAILED:
            caught = status
            break
        # The router sends a request where the predicted wait is least: with the long
        # streams spread evenly, every short one goes to the worker whose speed looks better.
        # One more long stream there tips the balance towards the other for the next one.
        if extra < len(PROMPTS) and {stage.worker_id for stage in receipt.stages} == {"honest"}:
            thread = threading.Thread(target=stream, args=(PROMPTS[extra],))
            thread.start()
            threads.append(thread)
            extra += 1
            time.sleep(0.3)
    assert caught is not None and caught.fault_worker_id == "forger", "no request reached the forger"
    assert any(thread.is_alive() for thread in threads), "the long streams ended before the forger was caught"
    for thread in threads:
        thread.join(timeout=600)
    assert errors == [], errors
    for prompt in PROMPTS:
        expected = local_run(bin_dir, prompt, max_tokens, chat=False, ignore_eos=True)
        tokens, text, receipt = results[prompt]
        assert len(tokens) == max_tokens
        assert text == expected, prompt
        assert receipt.leaf_count >= max_tokens
    assert cluster.reputations()["forger"].trust == pb.WORKER_TRUST_QUARANTINED
    # The streams the forger was serving failed over (the router spreads the four over both).
    assert gauges(cluster.gateway_ops).get("tessera_gateway_failovers_total", 0) >= 1
    # Every new request goes to the honest worker only.
    for prompt in PROMPTS[:2]:
        _, _, receipt = cluster.generate(stubs, prompt, max_tokens=4)
        assert {stage.worker_id for stage in receipt.stages} == {"honest"}
