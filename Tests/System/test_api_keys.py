"""API keys at the gateway, against a real `tessera up` cluster with the official `openai`
client and grpcio: no key or a bad or revoked key is 401 in OpenAI's error shape
(UNAUTHENTICATED over gRPC); a key over its requests-per-minute or concurrent-stream limit is
429 with Retry-After; usage is counted per key and shown by `tessera keys usage`; health,
readiness and metrics stay open on the operations port, the API does not."""
import time
import urllib.error
import urllib.request

import grpc
import pytest

import api_keys
from test_openai_api import TesseraUp

openai = pytest.importorskip("openai")

PROMPT = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def cluster(bin_dir, tmp_path_factory):
    up = TesseraUp(bin_dir, tmp_path_factory.mktemp("keys-cluster"), workers=1)
    try:
        yield up.wait_ready()
    finally:
        up.stop()


@pytest.fixture(scope="module")
def store(cluster):
    """The cluster's key store, where `tessera up` keeps the local user's key."""
    path = cluster.log_dir / "state" / "gateway" / "keys.sqlite"
    assert path.exists()
    return path


def client(cluster, key):
    return openai.OpenAI(base_url=cluster.url("/v1"), api_key=key, max_retries=0, timeout=60)


def plain_get(url, headers=None):
    """A GET without the suite's key (a fresh opener): status, headers, body."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.build_opener().open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_up_prints_the_local_users_key(cluster):
    lines = [line.strip() for line in cluster.output if line.startswith("api key: ")]
    assert lines == [f"api key: {api_keys.os.environ['TESSERA_API_KEY']}"]


def test_a_request_without_a_key_is_401_in_openais_shape(cluster):
    import json
    status, headers, body = plain_get(cluster.url("/v1/models"))
    assert status == 401 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
    assert "no API key provided" in error["message"]

    # The official client, told to send no Authorization header at all.
    with pytest.raises(openai.AuthenticationError) as refused:
        client(cluster, "unused").chat.completions.create(
            model="smollm2-135m", messages=PROMPT, max_tokens=1, extra_headers={"Authorization": openai.Omit()})
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    assert refused.value.type == "invalid_request_error" and "no API key provided" in refused.value.message


def test_an_unknown_key_is_401(cluster):
    with pytest.raises(openai.AuthenticationError) as refused:
        client(cluster, "tsk-" + "x" * 43).chat.completions.create(
            model="smollm2-135m", messages=PROMPT, max_tokens=1)
    assert refused.value.code == "invalid_api_key"
    assert "incorrect API key provided: tsk-xxxx" in refused.value.message
    assert "x" * 10 not in refused.value.message  # the key is not echoed back


def test_a_revoked_key_is_refused_within_seconds(cluster, bin_dir, store):
    key = api_keys.create_key(bin_dir, store, "to-revoke")
    assert client(cluster, key).models.list().data
    api_keys.keys_command(bin_dir, store, "revoke", "to-revoke")
    deadline = time.monotonic() + 10
    while True:
        try:
            client(cluster, key).models.list()
        except openai.AuthenticationError as refused:
            assert "revoked" in refused.message
            break
        assert time.monotonic() < deadline, "the revoked key still works after 10 s"
        time.sleep(0.25)
    print(f"\n[api keys] revoked key refused {10 - (deadline - time.monotonic()):.2f} s after `keys revoke`")
    assert "revoked" in api_keys.keys_command(bin_dir, store, "list")


def test_a_key_over_its_requests_per_minute_gets_429_with_retry_after(cluster, bin_dir, store):
    key = api_keys.create_key(bin_dir, store, "two-a-minute", rpm=2)
    api = client(cluster, key)
    for _ in range(2):
        api.chat.completions.create(model="smollm2-135m", messages=PROMPT, max_tokens=1)
    with pytest.raises(openai.RateLimitError) as refused:
        api.chat.completions.create(model="smollm2-135m", messages=PROMPT, max_tokens=1)
    error = refused.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded"
    assert "requests per minute: limit 2" in error.message
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    # Other keys are not held back by it.
    client(cluster, api_keys.os.environ["TESSERA_API_KEY"]).chat.completions.create(
        model="smollm2-135m", messages=PROMPT, max_tokens=1)


def test_a_key_over_its_concurrent_streams_gets_429_until_one_ends(cluster, bin_dir, store):
    key = api_keys.create_key(bin_dir, store, "one-stream", streams=1)
    api = client(cluster, key)
    stream = api.chat.completions.create(model="smollm2-135m", messages=PROMPT, max_tokens=48,
                                         stream=True, extra_body={"ignore_eos": True})
    first = next(iter(stream))
    assert first.choices
    with pytest.raises(openai.RateLimitError) as refused:
        api.chat.completions.create(model="smollm2-135m", messages=PROMPT, max_tokens=1)
    assert "concurrent streams: limit 1" in refused.value.message
    assert refused.value.response.headers["retry-after"] == "1"
    for _ in stream:
        pass
    deadline = time.monotonic() + 5
    while True:  # the stream's hold ends as its generation finishes
        try:
            api.chat.completions.create(model="smollm2-135m", messages=PROMPT, max_tokens=1)
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_usage_is_counted_per_key(cluster, bin_dir, store):
    key = api_keys.create_key(bin_dir, store, "metered")
    api = client(cluster, key)
    prompt = completion = 0
    for max_tokens in (3, 5):
        usage = api.chat.completions.create(model="smollm2-135m", messages=PROMPT, max_tokens=max_tokens).usage
        prompt, completion = prompt + usage.prompt_tokens, completion + usage.completion_tokens
    streamed = api.completions.create(model="smollm2-135m", prompt="Once upon a time", max_tokens=4, stream=True,
                                      stream_options={"include_usage": True})
    usage = [chunk.usage for chunk in streamed if chunk.usage][0]
    prompt, completion = prompt + usage.prompt_tokens, completion + usage.completion_tokens
    expected = f"metered  live   3         {prompt}"
    deadline = time.monotonic() + 10
    while True:  # written to the store in the background, just after each request
        table = api_keys.keys_command(bin_dir, store, "usage")
        row = next(line for line in table.splitlines() if " metered " in line)
        if row.split()[3:] == ["3", str(prompt), str(completion)]:
            break
        assert time.monotonic() < deadline, f"usage never matched {expected!r}:\n{table}"
        time.sleep(0.2)
    print(f"\n[api keys] usage row: {row}")


def test_grpc_needs_the_key_too(cluster, stubs):
    pb, rpc = stubs.gateway_pb2, stubs.gateway_pb2_grpc
    with api_keys.raw_insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        gateway = rpc.GatewayStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            gateway.ListServedModels(pb.ListServedModelsRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "no API key provided" in refused.value.details()
        with pytest.raises(grpc.RpcError) as refused:
            list(gateway.Generate(pb.GenerateRequest(prompt="Hi"), timeout=10,
                                  metadata=[("authorization", "Bearer tsk-" + "y" * 43)]))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        key = api_keys.os.environ["TESSERA_API_KEY"]
        models = gateway.ListServedModels(pb.ListServedModelsRequest(), timeout=10,
                                          metadata=[("authorization", f"Bearer {key}")]).models
        assert models


def test_grpc_over_a_limit_is_resource_exhausted_with_pushback(cluster, stubs, bin_dir, store):
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    key = api_keys.create_key(bin_dir, store, "grpc-one-a-minute", rpm=1)
    request = pb.GenerateRequest(prompt="Hi", sampling=common.SamplingParams(temperature=0, max_tokens=1))
    with api_keys.raw_insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        gateway = rpc.GatewayStub(channel)
        metadata = [("authorization", f"Bearer {key}")]
        assert list(gateway.Generate(request, timeout=60, metadata=metadata))
        with pytest.raises(grpc.RpcError) as refused:
            list(gateway.Generate(request, timeout=60, metadata=metadata))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "requests per minute: limit 1" in refused.value.details()
    pushback = dict(refused.value.trailing_metadata())["grpc-retry-pushback-ms"]
    assert 1000 <= int(pushback) <= 60000


def test_health_and_metrics_are_open_on_the_operations_port_only(cluster):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert plain_get(f"http://127.0.0.1:{cluster.ops_port}{path}")[0] == 200, path
    metrics = plain_get(f"http://127.0.0.1:{cluster.ops_port}/metrics")[2].decode()
    assert 'tessera_gateway_key_refusals_total{reason="missing"}' in metrics
    # The API port serves only the API.
    assert plain_get(cluster.url("/metrics"))[0] in (401, 404)
    assert plain_get(f"http://127.0.0.1:{cluster.ops_port}/v1/models")[0] == 404
