"""A second model family through the whole cluster: the real Gemma 3 270M (gemma3
architecture, SentencePiece vocabulary, no chat template in the file) served by
`tessera up --model gemma3-270m`, cut into two stages on two workers, asked over the
OpenAI API with the `openai` client; greedy text equals one-process `tessera run`.
The model comes from `scripts/fetch-model gemma3-270m` (scripts/test fetches it)."""
import os
import pathlib
import re
import signal
import subprocess

import pytest

from test_openai_api import TesseraUp

openai = pytest.importorskip("openai")

MODEL = "gemma3-270m"
MODEL_PATH = pathlib.Path(os.environ.get("TESSERA_MODEL_DIR", pathlib.Path.home() / ".cache/tessera/models")) \
    / f"{MODEL}.gguf"
# 260 MiB per worker cannot hold the whole model (253 MB) with its KV reserve, so the
# placement cuts it in two: each stage carries the 262k-row embedding (tied output).
WORKER_MEMORY_MB = 260
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def gemma_cluster(bin_dir, tmp_path_factory):
    if not MODEL_PATH.exists():
        pytest.skip(f"{MODEL_PATH} missing (scripts/fetch-model {MODEL})")
    up = TesseraUp(bin_dir, tmp_path_factory.mktemp("gemma-cluster"), workers=2,
                   worker_memory_mb=WORKER_MEMORY_MB, extra_args=("--model", MODEL))
    try:
        yield up.wait_ready()
    finally:
        up.stop()


@pytest.fixture(scope="module")
def client(gemma_cluster):
    return openai.OpenAI(base_url=gemma_cluster.url("/v1"), api_key=os.environ["TESSERA_API_KEY"],
                         max_retries=0, timeout=180)


def local_run(bin_dir, prompt, chat):
    """Greedy `tessera run --model gemma3-270m` on this machine: the reference text, and
    what it said on stderr (the chat template it chose)."""
    args = [str(bin_dir / "tessera"), "run", "--model", MODEL, "--max-tokens", str(MAX_TOKENS),
            "--threads", "1", prompt]
    if chat:
        args.insert(2, "--chat")
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.endswith("\n")
    return result.stdout[:-1], result.stderr


def test_gemma_is_cut_into_two_stages(gemma_cluster, bin_dir):
    result = subprocess.run([str(bin_dir / "tessera"), "placement", "--port-offset", str(gemma_cluster.offset),
                             "--tls-dir", str(gemma_cluster.log_dir / "state" / "tls")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    stages = re.findall(r"^0\s+(worker-\d)\s+(\d+)-(\d+)\s", result.stdout, re.M)
    assert len(stages) == 2, result.stdout
    assert {worker for worker, _, _ in stages} == {"worker-1", "worker-2"}
    ranges = sorted((int(first), int(last)) for _, first, last in stages)
    assert ranges[0][0] == 0 and ranges[-1][1] == 17 and ranges[0][1] + 1 == ranges[1][0], result.stdout


def test_models_lists_gemma(client):
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL


def test_chat_completion_matches_local_run(client, bin_dir):
    prompt = "What is the capital of France?"
    reference, said = local_run(bin_dir, prompt, chat=True)
    # The file declares no template: the CLI names the family format it used instead.
    assert "chat template gemma (the model declares none; gemma3's format)" in said
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}],
                                           max_tokens=MAX_TOKENS, temperature=0)
    assert reply.choices[0].message.content == reference
    # <bos> + "<start_of_turn>user\n" + 8 tokens + "<end_of_turn>\n<start_of_turn>model\n"
    assert reply.usage.prompt_tokens == 16


def test_streamed_completion_matches_local_run(client, bin_dir):
    prompt = "The three primary colors are"
    reference, _ = local_run(bin_dir, prompt, chat=False)
    stream = client.completions.create(model=MODEL, prompt=prompt, max_tokens=MAX_TOKENS, temperature=0,
                                       stream=True)
    text = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
    assert text == reference
    assert text.startswith(" red, blue and yellow")


TOKENIZE_TEXTS = ["Hello world, how are you?", "  two leading spaces\tand a tab\n\nnew paragraph",
                  "<start_of_turn>user\nHi<end_of_turn>", "emoji 🤖 and 中文", ""]


@pytest.mark.parametrize("special", [False, True])
def test_tokenize_cli_gives_llama_cpp_ids(bin_dir, special):
    """`tessera tokenize` against llama.cpp's own tokenizer (llama-cpp-python, live): BOS added
    because the GGUF asks for it, special-token text parsed only with --special."""
    llama_cpp = pytest.importorskip("llama_cpp")
    if not MODEL_PATH.exists():
        pytest.skip(f"{MODEL_PATH} missing (scripts/fetch-model {MODEL})")
    vocab = llama_cpp.Llama(model_path=str(MODEL_PATH), vocab_only=True, verbose=False)
    for text in TOKENIZE_TEXTS:
        args = [str(bin_dir / "tessera"), "tokenize", "--model", MODEL, text]
        if special:
            args.insert(2, "--special")
        ours = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
        expected = vocab.tokenize(text.encode("utf-8"), add_bos=True, special=special)
        assert [int(x) for x in ours.strip().strip("[]").split(",") if x] == expected, text
        assert expected[0] == 2  # <bos>

FAILOVER_TOKENS = 64
KILL_AFTER_CHUNKS = 12


def pipeline_workers(cluster, bin_dir):
    """Workers of pipeline 0 in stage order, from `tessera placement`."""
    result = subprocess.run([str(bin_dir / "tessera"), "placement", "--port-offset", str(cluster.offset),
                             "--tls-dir", str(cluster.log_dir / "state" / "tls")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return re.findall(r"^0\s+(worker-\d)\s+\d+-\d+\s", result.stdout, re.M)


def test_failover_is_token_identical(bin_dir, tmp_path_factory):
    """A worker of the serving pipeline is SIGKILLed mid-stream; the stream goes on from a
    re-planned pipeline (the spare worker, or the killed one restarted by `tessera up`) and
    its text equals the undisturbed greedy run."""
    if not MODEL_PATH.exists():
        pytest.skip(f"{MODEL_PATH} missing (scripts/fetch-model {MODEL})")
    prompt = "Once upon a time, in a small village by the sea,"
    args = [str(bin_dir / "tessera"), "run", "--model", MODEL, "--max-tokens", str(FAILOVER_TOKENS),
            "--threads", "1", "--ignore-eos", prompt]
    local = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True).stdout[:-1]
    cluster = TesseraUp(bin_dir, tmp_path_factory.mktemp("gemma-failover"), workers=3,
                        worker_memory_mb=WORKER_MEMORY_MB, extra_args=("--model", MODEL))
    try:
        cluster.wait_ready()
        client = openai.OpenAI(base_url=cluster.url("/v1"), api_key=os.environ["TESSERA_API_KEY"],
                               max_retries=0, timeout=300)
        workers = pipeline_workers(cluster, bin_dir)
        assert len(workers) == 2, workers
        victim = workers[-1]
        stream = client.completions.create(model=MODEL, prompt=prompt, max_tokens=FAILOVER_TOKENS, temperature=0,
                                           stream=True, extra_body={"ignore_eos": True})
        port = 7410 + cluster.offset + int(victim.split("-")[1]) - 1
        killed_pid = cluster.worker_pid(port)
        pieces = []
        for chunk in stream:
            if chunk.choices:
                pieces.append(chunk.choices[0].text)
            if len(pieces) == KILL_AFTER_CHUNKS:
                os.kill(killed_pid, signal.SIGKILL)
        assert len(pieces) > KILL_AFTER_CHUNKS
        assert "".join(pieces) == local
        assert not pathlib.Path(f"/proc/{killed_pid}/cmdline").exists() or \
            b"inference-worker" not in pathlib.Path(f"/proc/{killed_pid}/cmdline").read_bytes()
    finally:
        cluster.stop()
