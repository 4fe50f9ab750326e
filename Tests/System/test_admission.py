"""Bounded admission against real processes (`tessera up`): one worker serving 2 sessions at
once (`--worker-max-sessions 2`) behind a gateway that lets 2 more wait (`--max-queued 2`).
A burst of 8 streamed completions: 2 run, 2 wait and then run, and exactly the 4 beyond the
queue are refused at once with 429, Retry-After and OpenAI's error body; what ran equals the
same prompt served alone (greedy), and the gateway's metrics show the queue."""
import os
import re
import threading
import time
import urllib.request

import grpc
import pytest

from test_openai_api import TesseraUp

openai = pytest.importorskip("openai")

PROMPT = "Tell a long story about a lighthouse keeper and the sea."
MAX_TOKENS = 64
SLOTS, QUEUED, BURST = 2, 2, 8


@pytest.fixture(scope="module")
def cluster(bin_dir, tmp_path_factory):
    up = TesseraUp(bin_dir, tmp_path_factory.mktemp("admission-cluster"), workers=1,
                   extra_args=["--worker-max-sessions", str(SLOTS), "--max-queued", str(QUEUED)])
    try:
        yield up.wait_ready()
    finally:
        up.stop()


@pytest.fixture(scope="module")
def client(cluster):
    return openai.OpenAI(base_url=cluster.url("/v1"), api_key=os.environ["TESSERA_API_KEY"], max_retries=0, timeout=120)


def metrics(port):
    """Every sample of a service's /metrics, by its name with labels."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def streamed(client, max_tokens=MAX_TOKENS):
    """One streamed greedy chat completion's text."""
    stream = client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens,
        temperature=0, stream=True, extra_body={"ignore_eos": True})
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_a_burst_beyond_slots_and_queue_gets_429_and_the_rest_is_served_exactly(cluster, client):
    worker = metrics(9410 + cluster.offset)
    assert worker["tessera_worker_session_slots"] == SLOTS
    alone = streamed(client)
    assert alone

    results = [None] * BURST
    barrier = threading.Barrier(BURST)

    def run(index):
        barrier.wait()
        try:
            results[index] = ("ok", streamed(client))
        except openai.RateLimitError as error:
            results[index] = ("429", error.response.headers.get("retry-after"), error.response.json())
        except Exception as error:  # reported by the assertions below
            results[index] = ("error", repr(error))

    # The queue as the gateway reports it, sampled while the burst runs.
    lengths, done = [], threading.Event()

    def sample():
        while not done.is_set():
            lengths.append(metrics(cluster.ops_port).get("tessera_gateway_admission_queue_length", 0))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(index,)) for index in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    sampler.join()
    took = time.monotonic() - started

    served = [r for r in results if r and r[0] == "ok"]
    refused = [r for r in results if r and r[0] == "429"]
    assert len(served) == SLOTS + QUEUED and len(refused) == BURST - SLOTS - QUEUED, results
    for _, text in served:
        assert text == alone
    for _, retry_after, body in refused:
        assert retry_after is not None and int(retry_after) >= 1
        error = body["error"]
        assert error["type"] == "rate_limit_exceeded" and error["code"] == "queue_full"
        assert "--max-queued" in error["message"]
    assert max(lengths) == QUEUED, lengths

    gateway = metrics(cluster.ops_port)
    assert gateway['tessera_gateway_admission_rejected_total{reason="queue_full"}'] == BURST - SLOTS - QUEUED
    assert gateway['tessera_gateway_admission_wait_seconds_count{outcome="admitted"}'] == QUEUED
    assert gateway["tessera_gateway_admission_queue_length"] == 0
    print(f"\n[admission] burst of {BURST}: {len(served)} served, {len(refused)} refused, {took:.1f} s")


def test_grpc_beyond_the_queue_is_resource_exhausted_with_pushback(cluster, client, stubs):
    # Fill both slots and the queue with long streams, then ask over gRPC.
    fillers = [threading.Thread(target=lambda: streamed(client, max_tokens=200)) for _ in range(SLOTS + QUEUED)]
    for thread in fillers:
        thread.start()
    deadline = time.monotonic() + 60
    while metrics(cluster.ops_port).get("tessera_gateway_admission_queue_length", 0) < QUEUED:
        assert time.monotonic() < deadline, "the queue never filled"
        time.sleep(0.05)
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    request = pb.GenerateRequest(prompt=PROMPT, sampling=common.SamplingParams(temperature=0, max_tokens=8))
    with grpc.insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as raised:
            list(rpc.GatewayStub(channel).Generate(request, timeout=30))
    error = raised.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert re.search(r"\d+ requests already wait", error.details())
    pushback = dict(error.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
    assert pushback is not None and int(pushback) >= 1000
    for thread in fillers:
        thread.join(timeout=120)
