"""Early refusal by predicted wait against real processes (`tessera up`): one worker serving one
session at once (`--worker-max-sessions 1`) behind a gateway whose requests may wait
`--max-queue-wait-s` for a slot. While nothing is measured a request waits as before (its own
deadline ends it); once the gateway has measured sessions, a request whose predicted wait is
longer than it may wait is refused at once: 429 with Retry-After and OpenAI's error body
through the official `openai` client, RESOURCE_EXHAUSTED with grpc-retry-pushback-ms through
grpcio. A request with time enough waits for the slot and is served."""
import os
import threading
import time

import grpc
import pytest

from test_admission import PROMPT, metrics
from test_openai_api import TesseraUp

openai = pytest.importorskip("openai")

# Long enough that a session lasts several seconds (about 4 to 8 on two cores, debug build):
# a request behind the first waiting one is then predicted well past the queue wait.
SESSION_TOKENS = 480
QUEUE_WAIT_S = 6.0


@pytest.fixture(scope="module")
def cluster(bin_dir, tmp_path_factory):
    up = TesseraUp(bin_dir, tmp_path_factory.mktemp("predicted-wait-cluster"), workers=1,
                   extra_args=["--worker-max-sessions", "1", "--max-queue-wait-s", str(QUEUE_WAIT_S)])
    try:
        yield up.wait_ready()
    finally:
        up.stop()


class Session(threading.Thread):
    """One streamed greedy completion of SESSION_TOKENS tokens over the OpenAI API, in the
    background: `started` is set at its first token (it holds the slot by then)."""

    def __init__(self, client):
        super().__init__()
        self.client, self.started, self.text, self.error = client, threading.Event(), None, None
        self.first_token_at = self.took = None

    def run(self):
        began = time.monotonic()
        try:
            stream = self.client.chat.completions.create(
                model="smollm2-135m", messages=[{"role": "user", "content": PROMPT}],
                max_tokens=SESSION_TOKENS, temperature=0, stream=True, extra_body={"ignore_eos": True})
            parts = []
            for chunk in stream:
                if self.first_token_at is None:
                    self.first_token_at = time.monotonic()
                    self.started.set()
                parts.extend(choice.delta.content or "" for choice in chunk.choices)
            self.text = "".join(parts)
        except Exception as error:  # reported by the test
            self.error = error
            self.started.set()
        self.took = time.monotonic() - began


def generate(stubs, port, timeout, max_tokens=8):
    """A gRPC Generate through grpcio: (error or None, tokens, seconds taken)."""
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    request = pb.GenerateRequest(
        prompt=PROMPT, sampling=common.SamplingParams(temperature=0, max_tokens=max_tokens, ignore_eos=True))
    began = time.monotonic()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            replies = list(rpc.GatewayStub(channel).Generate(request, timeout=timeout))
            return None, sum(len(reply.token_ids) for reply in replies), time.monotonic() - began
        except grpc.RpcError as error:
            return error, 0, time.monotonic() - began


def test_a_request_that_cannot_be_served_in_time_is_refused_at_once(cluster, stubs):
    client = openai.OpenAI(base_url=cluster.url("/v1"), api_key=os.environ["TESSERA_API_KEY"],
                           max_retries=0, timeout=120)

    # Nothing measured yet: a short deadline is not refused early; the request waits in the
    # queue until its own deadline ends it.
    first = Session(client)
    first.start()
    assert first.started.wait(60) and first.error is None, first.error
    error, _, took = generate(stubs, cluster.grpc_port, timeout=1.0)
    assert error is not None and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error
    assert took >= 0.8
    first.join(120)
    assert first.error is None and first.text, first.error

    # A second session measured: the gateway now predicts waits.
    second = Session(client)
    second.start()
    second.join(120)
    assert second.error is None and second.text, second.error
    session_s = (first.took + second.took) / 2
    # Anyone behind the first waiting request must be predicted past the queue wait.
    assert session_s > 0.5 * QUEUE_WAIT_S, f"sessions of {session_s:.1f} s are too short here: raise SESSION_TOKENS"

    # A session holds the only slot. The first request to wait should be predicted about 60%
    # of the queue wait (it waits, and is served); anyone behind it needs a whole session more.
    holder = Session(client)
    holder.start()
    assert holder.started.wait(60) and holder.error is None, holder.error
    held_for = time.monotonic() - holder.first_token_at
    time.sleep(max(0.0, session_s - 0.6 * QUEUE_WAIT_S - held_for))

    # A gRPC client allowing 2 s: the slot frees later than that, so it is refused at once.
    error, _, grpc_took = generate(stubs, cluster.grpc_port, timeout=2.0)
    assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert grpc_took < 1.0, grpc_took
    assert "predicted" in error.details() and "grpc-timeout 2.0 s" in error.details(), error.details()
    pushback = dict(error.trailing_metadata() or ()).get("grpc-retry-pushback-ms")
    assert pushback is not None and int(pushback) >= 1000

    # A gRPC client allowing 60 s (the gateway's queue wait applies): it waits for the slot.
    predicted_sum = "tessera_gateway_admission_predicted_wait_seconds_sum"
    predicted_before = metrics(cluster.ops_port)[predicted_sum]
    outcome = {}
    waiter = threading.Thread(target=lambda: outcome.update(
        zip(("error", "tokens", "took"), generate(stubs, cluster.grpc_port, timeout=60.0))))
    waiter.start()
    deadline = time.monotonic() + 10
    while metrics(cluster.ops_port).get("tessera_gateway_admission_queue_length", 0) < 1:
        assert time.monotonic() < deadline and waiter.is_alive(), f"it never queued: {outcome}"
        time.sleep(0.02)
    waiter_predicted = metrics(cluster.ops_port)[predicted_sum] - predicted_before

    # An OpenAI request behind it: a session more than the queue wait. 429 at once.
    began = time.monotonic()
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": PROMPT}], max_tokens=8)
    http_took = time.monotonic() - began
    assert http_took < 1.0, http_took
    response = raised.value.response
    retry_after = int(response.headers["retry-after"])
    body = response.json()["error"]
    assert body["type"] == "rate_limit_exceeded" and body["code"] == "predicted_wait_too_long", body
    assert "--max-queue-wait-s" in body["message"] and "waiting ahead of it: 1;" in body["message"], body
    assert retry_after > QUEUE_WAIT_S, (retry_after, body["message"])

    waiter.join(120)
    holder.join(120)
    assert outcome["error"] is None and outcome["tokens"] == 8, outcome
    assert holder.error is None and holder.text, holder.error

    gateway = metrics(cluster.ops_port)
    assert gateway['tessera_gateway_admission_rejected_total{reason="predicted_wait"}'] == 2
    assert gateway['tessera_gateway_admission_rejected_total{reason="client_deadline"}'] == 1
    assert gateway["tessera_gateway_admission_predicted_wait_seconds_count"] >= 3
    print(f"\n[predicted wait] sessions {session_s:.1f} s; refused in {grpc_took * 1000:.0f} ms (gRPC, "
          f"grpc-timeout 2 s) and {http_took * 1000:.0f} ms (HTTP, Retry-After {retry_after} s: "
          f"{body['message']}); the waiting request, predicted to wait {waiter_predicted:.1f} s, "
          f"was served after {outcome['took']:.1f} s")
