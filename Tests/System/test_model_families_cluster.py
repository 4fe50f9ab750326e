"""Every model family through the whole cluster: the random-weight model of each family
(scripts/reference/make_family_models.py: Llama 3 with rope_freqs, Mistral-style llama,
Qwen2, Qwen3, Phi-3, Gemma 3; Q8_0 matrices) served by `tessera up --model <path>`, cut into
two stages on two workers, asked over the OpenAI API with the `openai` client. Greedy text
equals one-process `tessera run` of the same file, and every token's logprob equals the
log-softmax of that run's logits (the vocabulary has 288 tokens, so `tessera run --json
--top-logits 288` gives them all). A worker of a non-llama family's pipeline is killed
mid-stream and the text stays token-identical.

The models are a few hundred kB, so any worker holds one whole. To make the placement cut
them, the scheduler reserves KV memory for a context (TESSERA_CONTEXT_LENGTH; nothing else
changes: workers and gateway clamp sessions to the model's own 256 tokens) sized so that two
sessions' KV reserve for all layers takes 90% of a worker's 1 MiB: no worker holds the whole
model, any half of it fits.

These models declare no chat template and have no special tokens besides BOS/EOS: chat gets
the family's template as plain text (the same in the gateway and the CLI), and most checks go
through /v1/completions with a raw prompt (the Gemma 3 270M tests cover a real chat). Models
with a tied output (Llama 3, Qwen, Gemma) tend to repeat the last token, which is why the logprobs
are compared as well as the text."""
import json
import math
import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, gauges
from test_model_families import pipeline_workers
from test_openai_api import TesseraUp

openai = pytest.importorskip("openai")
gguf = pytest.importorskip("gguf")

FAMILY_DIR = pathlib.Path(os.environ.get("TESSERA_MODEL_DIR", pathlib.Path.home() / ".cache/tessera/models")) \
    / "families"
# One variant per family (make_family_models.py's names); the F16 twins hold the same
# values, and FamilyFidelityTests checks both against llama.cpp.
FAMILIES = ["llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma3"]
MATRIX_TYPE = "q8_0"
WORKER_MEMORY_MB = 1
SESSIONS_RESERVED = 2  # the scheduler's default TESSERA_SESSIONS_PER_WORKER
KV_SHARE_OF_WORKER = 0.9
PROMPT = "the cat and a dog of the"
MAX_TOKENS = 20
VOCABULARY = 288


def model_path(family):
    path = FAMILY_DIR / f"{family}-{MATRIX_TYPE}.gguf"
    if not path.exists():
        # The same seeds give the same bytes (about a second; gguf and numpy only).
        subprocess.run([sys.executable, str(ROOT / "scripts/reference/make_family_models.py"), "--models-only",
                        "--out", str(FAMILY_DIR)], check=True, capture_output=True, timeout=300)
    return path


def header(path, key_suffix):
    """An integer `<architecture>.<key_suffix>` from the GGUF, or None."""
    reader = gguf.GGUFReader(str(path))
    architecture = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    field = reader.fields.get(f"{architecture}.{key_suffix}")
    return None if field is None else int(field.parts[-1][0])


def layer_count(path):
    return header(path, "block_count")


def placement_context_length(path):
    """Context tokens whose KV reserve (f16 keys and values of every layer, for the sessions
    the scheduler reserves) takes KV_SHARE_OF_WORKER of one worker's memory."""
    heads, kv_heads = header(path, "attention.head_count"), header(path, "attention.head_count_kv")
    head_size = header(path, "attention.key_length") or header(path, "embedding_length") // heads
    kv_bytes_per_token = layer_count(path) * 2 * kv_heads * head_size * 2
    return int(KV_SHARE_OF_WORKER * WORKER_MEMORY_MB * 2**20 / (kv_bytes_per_token * SESSIONS_RESERVED))


def start_cluster(bin_dir, log_dir, path, workers):
    """`tessera up` serving the family model at `path`, with the context that makes the
    placement cut it (the scheduler reads it from the environment `tessera up` passes on)."""
    previous = os.environ.get("TESSERA_CONTEXT_LENGTH")
    os.environ["TESSERA_CONTEXT_LENGTH"] = str(placement_context_length(path))
    try:
        up = TesseraUp(bin_dir, log_dir, workers=workers, worker_memory_mb=WORKER_MEMORY_MB,
                       extra_args=("--model", str(path)))
    finally:
        if previous is None:
            os.environ.pop("TESSERA_CONTEXT_LENGTH", None)
        else:
            os.environ["TESSERA_CONTEXT_LENGTH"] = previous
    try:
        return up.wait_ready(timeout=120)
    except BaseException:
        up.stop()
        raise


@pytest.fixture(scope="module", params=FAMILIES)
def family_cluster(request, bin_dir, tmp_path_factory):
    """One two-worker cluster per family, shared by that family's tests."""
    path = model_path(request.param)
    cluster = start_cluster(bin_dir, tmp_path_factory.mktemp(f"{request.param}-cluster"), path, workers=2)
    cluster.model_path, cluster.model = path, path.stem
    cluster.client = openai.OpenAI(base_url=cluster.url("/v1"), api_key=os.environ["TESSERA_API_KEY"],
                                   max_retries=0, timeout=120)
    try:
        yield cluster
    finally:
        cluster.stop()


def local_run(bin_dir, path, prompt, max_tokens, json_logits=False):
    """Greedy one-process `tessera run` of the file: its text, or with `json_logits` one
    {"id", "text", "top_logits"} per token holding every logit of the vocabulary."""
    args = [str(bin_dir / "tessera"), "run", "--model", str(path), "--max-tokens", str(max_tokens),
            "--threads", "1", "--ignore-eos"]
    if json_logits:
        args += ["--json", "--top-logits", str(VOCABULARY)]
    # Bytes, decoded here: text mode would turn a generated "\r" into "\n".
    stdout = subprocess.run(args + [prompt], capture_output=True, timeout=120, check=True).stdout.decode("utf-8")
    if not json_logits:
        assert stdout.endswith("\n")
        return stdout[:-1]
    return [json.loads(line) for line in stdout.split("\n") if line.strip()]


def log_softmax_of_chosen(step):
    logits = [entry["logit"] for entry in step["top_logits"]]
    assert len(logits) == VOCABULARY
    top = max(logits)
    normalizer = top + math.log(sum(math.exp(value - top) for value in logits))
    chosen = next(entry["logit"] for entry in step["top_logits"] if entry["id"] == step["id"])
    return chosen - normalizer


def test_the_family_is_cut_into_two_stages(family_cluster, bin_dir):
    result = subprocess.run([str(bin_dir / "tessera"), "placement", "--port-offset", str(family_cluster.offset),
                             "--tls-dir", str(family_cluster.log_dir / "state" / "tls")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    stages = re.findall(r"^0\s+(worker-\d)\s+(\d+)-(\d+)\s", result.stdout, re.M)
    assert {worker for worker, _, _ in stages} == {"worker-1", "worker-2"}, result.stdout
    ranges = sorted((int(first), int(last)) for _, first, last in stages)
    assert ranges[0][0] == 0 and ranges[0][1] + 1 == ranges[1][0], result.stdout
    assert ranges[1][1] == layer_count(family_cluster.model_path) - 1, result.stdout


def test_completion_matches_local_run_token_for_token(family_cluster, bin_dir):
    reference = local_run(bin_dir, family_cluster.model_path, PROMPT, MAX_TOKENS)
    steps = local_run(bin_dir, family_cluster.model_path, PROMPT, MAX_TOKENS, json_logits=True)
    reply = family_cluster.client.completions.create(
        model=family_cluster.model, prompt=PROMPT, max_tokens=MAX_TOKENS, temperature=0, logprobs=1,
        extra_body={"ignore_eos": True})
    choice = reply.choices[0]
    assert choice.text == reference
    assert reply.usage.completion_tokens == MAX_TOKENS
    expected = [log_softmax_of_chosen(step) for step in steps]
    served = choice.logprobs.token_logprobs
    assert len(served) == len(expected) == MAX_TOKENS
    # The stages chain bit for bit to one process; only the printing rounds (f32 both ways).
    for position, (ours, theirs) in enumerate(zip(served, expected)):
        assert ours == pytest.approx(theirs, abs=1e-4), (position, served, expected)


def test_chat_uses_the_family_template_as_the_cli_does(family_cluster, bin_dir):
    """The file declares no chat template: the gateway picks the family's, as `tessera run
    --chat` does (the template's special tokens are not in this vocabulary, so they are
    plain text here, the same on both sides)."""
    prompt = "a b c"
    args = [str(bin_dir / "tessera"), "run", "--chat", "--model", str(family_cluster.model_path), "--max-tokens",
            str(MAX_TOKENS), "--threads", "1", "--ignore-eos", prompt]
    result = subprocess.run(args, capture_output=True, timeout=120, check=True)
    said = result.stderr.decode()
    assert "chat template " in said, said
    prompt_tokens = int(re.search(r"^(\d+) prompt tokens", said, re.M).group(1))
    reply = family_cluster.client.chat.completions.create(
        model=family_cluster.model, messages=[{"role": "user", "content": prompt}], max_tokens=MAX_TOKENS,
        temperature=0, extra_body={"ignore_eos": True})
    assert reply.choices[0].message.content == result.stdout.decode("utf-8")[:-1]
    assert reply.usage.prompt_tokens == prompt_tokens


def test_streamed_completion_matches_local_run(family_cluster, bin_dir):
    prompt = "of the and a b c"
    reference = local_run(bin_dir, family_cluster.model_path, prompt, MAX_TOKENS)
    stream = family_cluster.client.completions.create(
        model=family_cluster.model, prompt=prompt, max_tokens=MAX_TOKENS, temperature=0, stream=True,
        extra_body={"ignore_eos": True})
    assert "".join(chunk.choices[0].text for chunk in stream if chunk.choices) == reference


# Every family fails over; Phi-3's output does not settle into a repeated token, so its text
# is the sharpest check (the others' greedy text soon repeats one token, which still must match).
FAILOVER_TOKENS = 200
KILL_AFTER_CHUNKS = 3


@pytest.mark.parametrize("family", FAMILIES)
def test_failover_is_token_identical(family, bin_dir, tmp_path_factory):
    """The last stage's worker of the family's pipeline is SIGKILLed mid-stream; the gateway
    goes on from a re-planned pipeline (the spare worker) and the text equals the undisturbed
    greedy run."""
    path = model_path(family)
    prompt = "a b c the and of"
    local = local_run(bin_dir, path, prompt, FAILOVER_TOKENS)
    cluster = start_cluster(bin_dir, tmp_path_factory.mktemp("family-failover"), path, workers=3)
    try:
        client = openai.OpenAI(base_url=cluster.url("/v1"), api_key=os.environ["TESSERA_API_KEY"],
                               max_retries=0, timeout=120)
        workers = pipeline_workers(cluster, bin_dir)
        assert len(workers) == 2, workers
        victim = workers[-1]
        killed_pid = cluster.worker_pid(7410 + cluster.offset + int(victim.split("-")[1]) - 1)
        failovers_before = gauges(cluster.ops_port).get("tessera_gateway_failovers_total", 0)
        stream = client.completions.create(model=path.stem, prompt=prompt, max_tokens=FAILOVER_TOKENS,
                                           temperature=0, stream=True, extra_body={"ignore_eos": True})
        pieces = []
        for chunk in stream:
            if chunk.choices:
                pieces.append(chunk.choices[0].text)
            if len(pieces) == KILL_AFTER_CHUNKS:
                os.kill(killed_pid, signal.SIGKILL)
        text = "".join(pieces)
        first_difference = next((i for i, (a, b) in enumerate(zip(text, local)) if a != b), min(len(text), len(local)))
        assert text == local, (first_difference, text[first_difference - 8:first_difference + 8],
                               local[first_difference - 8:first_difference + 8], len(pieces))
        # The kill landed while tokens were still to come: the gateway resumed the stream.
        assert gauges(cluster.ops_port).get("tessera_gateway_failovers_total", 0) > failovers_before
    finally:
        cluster.stop()
