"""Compact variants made by a real cache-manager (MakeVariants, through `tessera model
variants`): every quantization of the default model (SmolLM2-135M Q4_1, as imported) is
read by llama.cpp (llama-cpp-python), its blocks are ggml's own quantizer's on the
parent's dequantized weights, and llama.cpp's greedy continuation equals
`tessera run --model <variant file>` up to the first near-tie; bad input gets a clear
status and leaves the catalog as it was."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest

from conftest import ROOT, Processes, free_port, wait_serving

MODEL = pathlib.Path(os.environ.get("TESSERA_MODEL_DIR", pathlib.Path.home() / ".cache/tessera/models")) \
    / "smollm2-135m.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
METHODS = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q3_k", "q2_k"]
# With the embedding/output matrix (30 of the 98 MB, Q8_0 in the parent) converted too.
EMBEDDING_METHODS = ["q4_k+emb:q4_k", "q2_k+emb:q4_0"]
# llama-quant.cpp's fallbacks for SmolLM2's 576-wide rows (Q4_0 stands in for IQ4_NL).
FALLBACK = {"q4_k": "Q5_0", "q5_k": "Q5_1", "q6_k": "Q8_0", "q3_k": "Q4_0", "q2_k": "Q4_0"}
PROMPT = "The capital of France is Paris. The capital of Germany is"
TOKENS = 16
# As the engine's fidelity tests: a greedy divergence is acceptable only where llama.cpp's
# top-1 margin was below this (the two engines round activations differently).
DECISIVE_MARGIN = 0.5

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="run scripts/fetch-model first")


@pytest.fixture(scope="module")
def cache_manager(bin_dir, tmp_path_factory, stubs):
    """A cache-manager over a fresh store with the default model preloaded."""
    base = tmp_path_factory.mktemp("variants")
    processes = Processes(bin_dir, base)
    port = free_port()
    proc = processes.start("cache-manager", "--port", str(port), "--http-port", str(free_port()),
                           "--store-dir", str(base / "store"),
                           env={"TESSERA_PRELOAD_MODELS": str(MODEL), "TESSERA_IMPORT_DIRS": str(base)})
    wait_serving(port, proc=proc)
    proc.port, proc.store, proc.base = port, base / "store", base
    try:
        yield proc
    finally:
        processes.stop_all()


@pytest.fixture(scope="module")
def api(cache_manager):
    from tessera.v1 import cache_manager_pb2_grpc as rpc
    with grpc.insecure_channel(f"127.0.0.1:{cache_manager.port}") as channel:
        yield rpc.CacheManagerStub(channel)


@pytest.fixture(scope="module")
def made(bin_dir, cache_manager):
    """`tessera model variants smollm2-135m` (every quantization method) against the real
    cache-manager: its table, and how long the whole command took."""
    started = time.monotonic()
    result = subprocess.run([str(bin_dir / "tessera"), "model", "variants", "smollm2-135m",
                             "--cache-manager", f"127.0.0.1:{cache_manager.port}"],
                            capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    more = subprocess.run([str(bin_dir / "tessera"), "model", "variants", "smollm2-135m",
                           "--methods", ",".join(EMBEDDING_METHODS),
                           "--cache-manager", f"127.0.0.1:{cache_manager.port}"],
                          capture_output=True, text=True, timeout=900)
    assert more.returncode == 0, more.stderr
    rows = {}
    for line in result.stdout.splitlines()[1:] + more.stdout.splitlines()[1:]:
        name, method, size, sha, seconds, fallbacks = re.split(r"\s{2,}", line.strip())
        rows[method] = {"name": name, "size_mb": float(size), "sha_prefix": sha, "seconds": seconds,
                        "fallbacks": fallbacks}
    numbers = {m: {"size_mb": r["size_mb"], "seconds": r["seconds"]} for m, r in rows.items()}
    print(f"\nvariants of smollm2-135m ({MODEL.stat().st_size / 1e6:.1f} MB source), "
          f"command {elapsed:.1f} s: {json.dumps(numbers)}")
    return {"rows": rows, "stderr": result.stderr, "stdout": result.stdout}


def variant_path(cache_manager, method):
    return cache_manager.store / "models" / f"smollm2-135m_{method}.gguf"


def test_every_quantization_is_made_and_listed(made, api):
    from tessera.v1 import cache_manager_pb2 as pb
    rows = made["rows"]
    assert list(rows) == METHODS + EMBEDDING_METHODS, made["stdout"]
    assert "(10/10) 100% written" in made["stderr"]  # the progress bar (one line per quarter off a terminal)
    for method, row in rows.items():
        assert row["name"] == f"smollm2-135m:{method}"
        if method in METHODS:
            assert row["fallbacks"] == (f"180 as {FALLBACK[method]}" if method in FALLBACK else "-"), method
    assert rows["q4_k+emb:q4_k"]["fallbacks"] == "181 as Q5_0"  # the 576-wide table too
    assert rows["q2_k+emb:q4_0"]["fallbacks"] == "180 as Q4_0"
    models = {m.model.name: m for m in api.ListModels(pb.ListModelsRequest(), timeout=10).models}
    assert set(models) == {"smollm2-135m"} | {f"smollm2-135m:{m}" for m in METHODS + EMBEDDING_METHODS}
    for method in METHODS + EMBEDDING_METHODS:
        manifest = models[f"smollm2-135m:{method}"]
        assert manifest.variant.parent_sha256 == MODEL_SHA256 and manifest.variant.method == method
        assert manifest.model.sha256.startswith(rows[method]["sha_prefix"])
        assert abs(manifest.file_size / 1e6 - rows[method]["size_mb"]) < 0.06
    assert not models["smollm2-135m"].HasField("variant")
    # Smaller than the 98 MB parent below 4.5 bits per weight; Q8_0 layers are larger.
    assert rows["q4_0"]["size_mb"] < 98.4 < rows["q8_0"]["size_mb"]
    assert rows["q2_k"]["size_mb"] < rows["q4_0"]["size_mb"]
    assert rows["q2_k+emb:q4_0"]["size_mb"] < rows["q2_k"]["size_mb"] - 12  # the table at 4.5 bits, not 8.5


@pytest.mark.parametrize("method", METHODS + EMBEDDING_METHODS)
def test_blocks_are_ggmls_and_llama_cpp_agrees(made, cache_manager, bin_dir, method):
    """The variant file as llama.cpp sees it: its tensors have the types llama-quantize
    would give them, their bytes are ggml's quantizer's on the parent's dequantized
    weights (two layer weights checked, one of each row width), and llama.cpp's greedy
    continuation equals Tessera's on the same file."""
    gguf = pytest.importorskip("gguf")
    llama_cpp = pytest.importorskip("llama_cpp")
    sys.path.insert(0, str(ROOT / "scripts" / "reference"))
    import ggmlc

    path = variant_path(cache_manager, method.replace(":", "_"))
    parent = {t.name: t for t in gguf.GGUFReader(str(MODEL)).tensors}
    variant = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    assert set(variant) == set(parent)
    layer_method, _, embedding_type = method.partition("+emb:")
    converted = {"blk.7.attn_q.weight": layer_method, "blk.7.ffn_down.weight": layer_method}
    if embedding_type:
        converted["token_embd.weight"] = embedding_type
    for name, target in converted.items():
        source, stored = parent[name], variant[name]
        row = int(source.shape[0])
        expected_type = target.upper() if row % 256 == 0 or target not in FALLBACK else FALLBACK[target]
        assert stored.tensor_type.name == expected_type, name
        if source.tensor_type == stored.tensor_type:
            assert bytes(stored.data.tobytes()) == bytes(source.data.tobytes())
            continue
        floats = ggmlc.dequantize(source.data.tobytes(), int(source.tensor_type), int(source.n_elements))
        reference = ggmlc.quantize(floats, int(stored.tensor_type), row)
        assert bytes(stored.data.tobytes()) == reference, f"{name} differs from ggml_quantize_chunk"
    for name in ["token_embd.weight", "blk.7.attn_norm.weight"]:
        if name in converted:
            continue
        assert bytes(variant[name].data.tobytes()) == bytes(parent[name].data.tobytes())

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, n_batch=128, n_threads=2, n_threads_batch=2,
                          logits_all=True, flash_attn=False, n_gpu_layers=0, verbose=False)
    ids = llm.tokenize(PROMPT.encode(), add_bos=True, special=False)
    llm.eval(ids)
    reference, margins = [], []
    for _ in range(TOKENS):
        scores = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-scores, kind="stable")
        reference.append(int(order[0]))
        margins.append(float(scores[order[0]] - scores[order[1]]))
        llm.eval([int(order[0])])

    result = subprocess.run([str(bin_dir / "tessera"), "run", "--model", str(path), "--max-tokens", str(TOKENS),
                             "--threads", "1", "--ignore-eos", "--json", PROMPT],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ours = [json.loads(line)["id"] for line in result.stdout.splitlines() if line.strip()]
    agreed = next((i for i, (a, b) in enumerate(zip(ours, reference)) if a != b), min(len(ours), len(reference)))
    print(f"\n{method}: {agreed}/{TOKENS} greedy tokens agree with llama.cpp"
          + (f" (llama.cpp's margin at the first difference: {margins[agreed]:.3f})" if agreed < TOKENS else ""))
    assert len(ours) == TOKENS
    assert margins[0] > 0  # llama.cpp produced real logits
    if agreed < TOKENS:
        assert margins[agreed] < DECISIVE_MARGIN, f"{method} diverges at {agreed} where llama.cpp was decisive"


def test_a_variant_is_served_under_its_own_name(made, cache_manager, bin_dir, tmp_path):
    """`tessera up --model smollm2-135m:q4_0` over the store that holds the variant: the
    cluster cuts and serves it like any model, and its greedy text over the OpenAI API
    equals `tessera run` on the variant's file."""
    openai = pytest.importorskip("openai")
    from test_openai_api import TesseraUp
    log_dir = tmp_path / "up"
    log_dir.mkdir()
    (log_dir / "store").symlink_to(cache_manager.store)  # TesseraUp's store: this one
    name = "smollm2-135m:q4_0"
    up = TesseraUp(bin_dir, log_dir, workers=2, extra_args=("--model", name))
    try:
        up.wait_ready()
        client = openai.OpenAI(base_url=up.url("/v1"), api_key=os.environ["TESSERA_API_KEY"], max_retries=0,
                               timeout=180)
        assert client.models.retrieve(name).id == name
        reply = client.completions.create(model=name, prompt=PROMPT, max_tokens=TOKENS, temperature=0)
    finally:
        up.stop()
    local = subprocess.run([str(bin_dir / "tessera"), "run", "--model", str(variant_path(cache_manager, "q4_0")),
                            "--max-tokens", str(TOKENS), "--threads", "1", PROMPT],
                           capture_output=True, text=True, timeout=300, check=True).stdout[:-1]
    assert local and reply.choices[0].text == local


def test_bad_input(api, cache_manager, bin_dir, tmp_path):
    from tessera.v1 import cache_manager_pb2 as pb
    before = sorted(m.model.name for m in api.ListModels(pb.ListModelsRequest(), timeout=10).models)

    def fails(request):
        with pytest.raises(grpc.RpcError) as error:
            list(api.MakeVariants(request, timeout=120))
        return error.value

    error = fails(pb.MakeVariantsRequest(model="nope", methods=["q4_0"]))
    assert error.code() == grpc.StatusCode.NOT_FOUND and "model 'nope' is not in the catalog" in error.details()
    error = fails(pb.MakeVariantsRequest(model="smollm2-135m", methods=["q4_0", "q7_0"]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown variant method 'q7_0'" in error.details() and "q2_k" in error.details()

    # The CLI refuses an unknown method before dialling anything.
    result = subprocess.run([str(bin_dir / "tessera"), "model", "variants", "smollm2-135m", "--methods", "q4_0,q9",
                             "--cache-manager", f"127.0.0.1:{cache_manager.port}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "unknown variant method 'q9'" in result.stderr

    # A truncated source: imported whole, then cut short on disk.
    copy = cache_manager.base / "truncated.gguf"
    shutil.copyfile(MODEL, copy)
    with open(copy, "ab") as f:  # other bytes than the default model, so a model of its own
        f.write(bytes(32))
    api.ImportModel(pb.ImportModelRequest(path=str(copy), display_name="truncated"), timeout=120)
    with open(copy, "r+b") as f:
        f.truncate(MODEL.stat().st_size // 2)
    error = fails(pb.MakeVariantsRequest(model="truncated", methods=["q4_0"]))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "changed since it was imported" in error.details()
    after = sorted(m.model.name for m in api.ListModels(pb.ListModelsRequest(), timeout=10).models)
    assert after == sorted(before + ["truncated"])
    assert not list((cache_manager.store / "models").glob("*.partial"))
    assert not (cache_manager.store / "models" / "truncated_q4_0.gguf").exists()
