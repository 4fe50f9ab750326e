"""Serving several models (issue 14), with real processes: the default model (SmolLM2-135M
Q4_1) and two requantized copies of it (Q4_0, Q4_K_M, made with llama.cpp's quantizer by
scripts/reference/make_requant.py) on two workers whose memory holds two of the three at
once, never all three. A trace through the OpenAI API (the `openai` package) shifts from one
model to another: every request succeeds, the models move between cold, loading and warm
(seen on /v1/models) and are evicted to make room, and each cold start's time to first token
is measured against warm requests. Bad input: an unknown model is 404, a model that fits on
no worker (the F16 copy) is refused when marked servable, with the reason, and a model the
catalog holds but nobody marked servable is 404 too."""
import json
import pathlib
import re
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import pytest

from test_failover import ProcessCluster
from test_openai_api import MODEL_PATH

openai = pytest.importorskip("openai")

ROOT = pathlib.Path(__file__).resolve().parents[2]
REQUANT_DIR = pathlib.Path("/tmp/tessera-requant")
# Served name → file made by make_requant.py.
VARIANTS = {"smollm2-q4_0": "smollm2-135m-Q4_0.gguf", "smollm2-q4_k_m": "smollm2-135m-Q4_K_M.gguf"}
TOO_BIG = ("smollm2-f16", "smollm2-135m-F16.gguf")  # 271 MB: more than both workers hold
DEFAULT = "smollm2-135m"
# Each worker holds one of the three models (92-105 MB of weights and 128-token KV caches),
# not two; the F16 copy fits on neither nor across both.
WORKER_MEMORY_MB = 130
PROMPT = "The three primary colors are"


@pytest.fixture(scope="module")
def requantized():
    """The requantized copies, made once (a few seconds) with llama-cpp-python."""
    names = list(VARIANTS.values()) + [TOO_BIG[1]]
    if not all((REQUANT_DIR / name).exists() for name in names):
        pytest.importorskip("llama_cpp")
        subprocess.run([sys.executable, str(ROOT / "scripts/reference/make_requant.py")], check=True,
                       capture_output=True, cwd=ROOT / "scripts/reference")
    return REQUANT_DIR


@pytest.fixture
def cluster(processes, tmp_path, stubs, requantized, monkeypatch):
    # ImportModel reads only inside the import directories.
    monkeypatch.setenv("TESSERA_IMPORT_DIRS", f"{requantized}:{MODEL_PATH.parent}")
    cluster = ProcessCluster(
        processes, tmp_path, workers=2, memory_mb=WORKER_MEMORY_MB,
        scheduler_args=["--context-length", "128", "--keep-alive-s", "1", "--cold-start-timeout-s", "60"])
    cluster.scheduler_http = int(cluster.scheduler_args[cluster.scheduler_args.index("--http-port") + 1])
    from tessera.v1 import cache_manager_pb2, cache_manager_pb2_grpc
    with grpc.insecure_channel(f"127.0.0.1:{cluster.cache_port}") as channel:
        api = cache_manager_pb2_grpc.CacheManagerStub(channel)
        for name, file in [*VARIANTS.items(), TOO_BIG]:
            api.ImportModel(cache_manager_pb2.ImportModelRequest(path=str(requantized / file), display_name=name),
                            timeout=60)
    cluster.wait_ready(stubs)
    return cluster


def serve(cluster, name, *flags):
    """`tessera model serve NAME` against this cluster's scheduler."""
    return subprocess.run(
        [str(cluster.processes.bin_dir / "tessera"), "model", "serve", name, *flags,
         "--scheduler", f"127.0.0.1:{cluster.scheduler_port}"], capture_output=True, text=True, timeout=60)


def models(cluster, api_key):
    request = urllib.request.Request(f"http://127.0.0.1:{cluster.gateway_http}/v1/models",
                                     headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {model["id"]: model for model in json.load(response)["data"]}


def timed_completion(client, model):
    """One streamed greedy completion: (seconds to the first token, seconds in all, text)."""
    start = time.monotonic()
    first, text = None, ""
    stream = client.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=0, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            first = first or time.monotonic() - start
            text += chunk.choices[0].text
    return first, time.monotonic() - start, text


def scheduler_metrics(cluster):
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.scheduler_http}/metrics", timeout=10) as response:
        return response.read().decode()


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_trace_that_shifts_between_three_models_keeps_succeeding(cluster, api_key, record_property):
    for name in VARIANTS:
        result = serve(cluster, name)
        assert result.returncode == 0, result.stderr
    listed = models(cluster, api_key)
    assert listed[DEFAULT]["state"] == "warm" and listed[DEFAULT]["ready"]
    assert all(listed[name]["state"] == "cold" and listed[name]["replicas"] == 0 for name in VARIANTS)
    assert TOO_BIG[0] not in listed  # in the catalog, but not servable

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{cluster.gateway_http}/v1", api_key=api_key,
                           max_retries=0, timeout=120)
    q4_0, q4_k_m = VARIANTS
    # Demand shifts: the default model, then one variant, the other (which evicts the first),
    # back to the first (evicting the second), and the default model throughout.
    trace = [DEFAULT, DEFAULT, q4_0, q4_0, DEFAULT, q4_k_m, q4_k_m, DEFAULT, q4_0, q4_0, q4_k_m, DEFAULT]
    cold, warm, seen, cold_starts = [], [], [], 0
    for model in trace:
        state_before = models(cluster, api_key)[model]["state"]
        first, total, text = timed_completion(client, model)
        assert first is not None and text, f"{model}: no tokens"
        # (A model "loading" just before was warm moments ago, its shard being re-checked.)
        (warm if state_before == "warm" else cold).append((model, first))
        cold_starts += state_before == "cold"
        states = {name: entry["state"] for name, entry in models(cluster, api_key).items()}
        seen.append(states)
        assert states[model] == "warm", states
        # Never all three at once: the workers cannot hold them.
        assert sum(state in ("warm", "loading") for state in states.values()) <= 2, states
        time.sleep(1.2)  # past the keep-alive, so the next shift may evict
    # Models moved: each variant was warm at some point and cold (evicted) later.
    for name in VARIANTS:
        observed = [states[name] for states in seen]
        assert "warm" in observed and observed.index("warm") < len(observed) - 1
    assert any(states[q4_0] != "warm" for states in seen[trace.index(q4_k_m):])
    assert cold_starts >= 3, cold

    cold_ttft = sorted(seconds for _, seconds in cold)
    warm_ttft = sorted(seconds for _, seconds in warm)
    print(f"\ncold starts (time to first token): {[(m, round(s, 2)) for m, s in cold]}")
    print(f"warm requests: median {warm_ttft[len(warm_ttft) // 2]:.3f} s over {len(warm_ttft)}")
    record_property("cold_ttft_s", cold_ttft)
    record_property("warm_ttft_s", warm_ttft)
    assert warm_ttft[len(warm_ttft) // 2] < cold_ttft[len(cold_ttft) // 2]

    metrics = scheduler_metrics(cluster)
    assert metric_sum(metrics, "tessera_scheduler_model_requests_total", outcome="miss") >= cold_starts
    assert metric_sum(metrics, "tessera_scheduler_model_requests_total", outcome="hit") >= len(trace)
    assert metric_sum(metrics, "tessera_scheduler_model_evictions_total") >= 2
    assert metric_sum(metrics, "tessera_scheduler_model_loads_total", model=q4_0) >= 2
    assert metric_sum(metrics, "tessera_scheduler_shard_bytes_total") > 0


def test_bad_model_requests_are_refused_with_the_reason(cluster, api_key):
    # A model that fits on no set of the workers is not marked servable; the CLI says why.
    result = serve(cluster, TOO_BIG[0])
    assert result.returncode == 1
    assert "fits on no set of the registered workers" in result.stderr, result.stderr
    assert TOO_BIG[0] not in models(cluster, api_key)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{cluster.gateway_http}/v1", api_key=api_key,
                           max_retries=0, timeout=60)
    # In the catalog but not served, and not in the catalog at all: both 404.
    for name in [TOO_BIG[0], "no-such-model"]:
        with pytest.raises(openai.NotFoundError) as refused:
            client.completions.create(model=name, prompt=PROMPT, max_tokens=4)
        assert refused.value.status_code == 404
    # With the default model pinned on one worker and a generation running on the variant on
    # the other, nothing can make room for the second variant: 503 at once, with Retry-After
    # and the reason.
    q4_0, q4_k_m = VARIANTS
    for name in VARIANTS:
        assert serve(cluster, name).returncode == 0
    timed_completion(client, q4_0)
    started, finished = threading.Event(), []

    def long_generation():
        stream = client.completions.create(model=q4_0, prompt=PROMPT, max_tokens=400, temperature=0,
                                           stream=True, extra_body={"ignore_eos": True})
        for chunk in stream:
            started.set()
        finished.append(True)

    runner = threading.Thread(target=long_generation)
    runner.start()
    assert started.wait(60)
    with pytest.raises(openai.APIStatusError) as refused:
        client.completions.create(model=q4_k_m, prompt=PROMPT, max_tokens=4)
    runner.join(120)
    assert finished, "the running generation did not complete"
    assert refused.value.status_code == 503
    assert int(refused.value.response.headers["retry-after"]) >= 1
    body = refused.value.response.json()["error"]
    assert "cannot be loaded now" in body["message"] and "no idle unpinned model can be evicted" in body["message"]
    assert models(cluster, api_key)[q4_k_m]["state"] == "cold"
    # Unserving the default model is refused; an unknown name too.
    for name, reason in [(DEFAULT, "always served"), ("no-such-model", "")]:
        result = subprocess.run(
            [str(cluster.processes.bin_dir / "tessera"), "model", "unserve", name,
             "--scheduler", f"127.0.0.1:{cluster.scheduler_port}"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and reason in result.stderr, result.stderr
    # `tessera models` lists the served models with their states.
    table = subprocess.run(
        [str(cluster.processes.bin_dir / "tessera"), "models", "--scheduler", f"127.0.0.1:{cluster.scheduler_port}"],
        capture_output=True, text=True, timeout=30)
    assert table.returncode == 0 and re.search(rf"{DEFAULT}\s+warm", table.stdout), table.stdout
