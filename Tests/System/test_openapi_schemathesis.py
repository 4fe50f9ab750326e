"""The gateway's OpenAPI document (docs/openapi.json): compiled into the gateway exactly as
written, served at /openapi.json, naming every route the code registers, and checked against a
live gateway by schemathesis, which generates requests from it (valid and invalid) and checks
that every answer is a documented status with the documented content type, headers and JSON
schema, that no answer is a 5xx, and that wrong methods get 405 and missing keys 401."""
import os
import pathlib
import re
import subprocess
import sys
import urllib.request

import pytest

from test_openai_api import TesseraUp

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.json"
HOOKS = pathlib.Path(__file__).resolve().parent / "openapi_hooks.py"
# Where the gateway's HTTP routes are registered: the API (OpenAI/, OpenAPI/) and the
# operations endpoints every service has (ServiceKit). The dashboard's routes (Dashboard/) are
# its own page and JSON, documented with it, not part of this API.
ROUTE_SOURCES = [*(ROOT / "Services/Gateway/Sources/OpenAI").glob("*.swift"),
                 *(ROOT / "Services/Gateway/Sources/OpenAPI").glob("*.swift"),
                 ROOT / "Shared/ServiceKit/Server/HTTPEndpoint.swift"]
# Small and bounded: a few examples per operation, a context of 128 tokens (room for a chat
# template and a short prompt) so that no generated max_tokens can make a request run long, and
# 16 tokens for the many requests that name no max_tokens.
MAX_EXAMPLES = int(os.environ.get("TESSERA_SCHEMATHESIS_EXAMPLES", "10"))
CLUSTER_ENVIRONMENT = {"TESSERA_CONTEXT_LENGTH": "128", "TESSERA_GATEWAY_DEFAULT_MAX_TOKENS": "16"}
RUN_TIMEOUT_S = 600


def documented_operations():
    import json
    document = json.loads(DOCUMENT.read_text())
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in ("get", "post", "put", "delete", "patch")}


def test_gateway_embeds_the_document_as_written():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate-openapi"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_document_names_every_route_the_gateway_registers():
    registered = set()
    for source in ROUTE_SOURCES:
        for method, path in re.findall(r'router\.(get|post)\("(/[^"]*)"\)', source.read_text()):
            registered.add((method.upper(), path))
    assert ("POST", "/v1/chat/completions") in registered and ("GET", "/healthz") in registered
    assert registered == documented_operations()


@pytest.fixture(scope="module")
def cluster(bin_dir, tmp_path_factory):
    # The scheduler and the gateway read these from the environment `tessera up` passes on.
    previous = {name: os.environ.get(name) for name in CLUSTER_ENVIRONMENT}
    os.environ.update(CLUSTER_ENVIRONMENT)
    try:
        up = TesseraUp(bin_dir, tmp_path_factory.mktemp("openapi-cluster"), workers=1)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield up.wait_ready()
    finally:
        up.stop()


def api_key(cluster):
    """The key the suite's gateways accept, or the one `tessera up` printed; None when the
    gateway takes no keys."""
    for line in cluster.output:
        found = re.match(r"^api key: (\S+)$", line.strip())
        if found:
            return found.group(1)
    return os.environ.get("TESSERA_API_KEY")


def ops_port(cluster):
    return getattr(cluster, "ops_port", cluster.http_port)


def test_served_document_is_the_file(cluster):
    # A plain opener (none the suite installed adds a key): the document needs none.
    with urllib.request.build_opener().open(cluster.url("/openapi.json"), timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.read() == DOCUMENT.read_bytes()


def post(cluster, path, body):
    """Status and JSON body of a POST with the cluster's key."""
    import json
    import urllib.error
    headers = {"Content-Type": "application/json"}
    if api_key(cluster):
        headers["Authorization"] = f"Bearer {api_key(cluster)}"
    request = urllib.request.Request(cluster.url(path), data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.build_opener().open(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("fields, param", [
    # What schemathesis found accepted though the document (and OpenAI) put it out of range.
    ({"frequency_penalty": 3, "repeat_last_n": 0}, "frequency_penalty"),
    ({"presence_penalty": 2.000000001}, "presence_penalty"),
    ({"logit_bias": {"0": 100.00000001}}, "logit_bias"),
    ({"max_tokens": 0, "max_completion_tokens": 4}, "max_tokens"),
    ({"seed": 9223372036854775808}, "seed"),
])
def test_values_out_of_range_are_refused(cluster, fields, param):
    request = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, **fields}
    status, body = post(cluster, "/v1/chat/completions", request)
    assert status == 400 and body["error"]["param"] == param, body


def test_the_largest_seed_is_read_exactly(cluster):
    # Through a double it would have become 9223372036854774784, another seed.
    largest = {"prompt": "The sky is", "max_tokens": 4, "seed": 9223372036854775807, "temperature": 1.5}
    below = {**largest, "seed": 9223372036854774784}
    first, second = post(cluster, "/v1/completions", largest), post(cluster, "/v1/completions", largest)
    assert first[0] == second[0] == 200 and first[1]["choices"][0]["text"] == second[1]["choices"][0]["text"]
    assert post(cluster, "/v1/completions", below)[0] == 200


def schemathesis(cluster, tmp_path, base_url, *selection, excluded=()):
    """One bounded schemathesis run of the document against `base_url`; its output on failure."""
    key = api_key(cluster)
    args = ["schemathesis", "run", str(DOCUMENT), "--url", base_url, *selection,
            "--checks", "all",
            # Valid-by-schema requests the gateway still refuses with a documented 400 (a
            # logit_bias id beyond the vocabulary, a JSON-schema keyword it cannot enforce, a
            # prompt longer than the context) are rules a schema cannot state.
            "--exclude-checks", ",".join(["positive_data_acceptance", *excluded]),
            "--max-examples", str(MAX_EXAMPLES), "--request-timeout", "60", "--max-response-time", "60",
            "--workers", "1",
            "--no-color", "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")]
    if key:
        args += ["--header", f"Authorization: Bearer {key}"]
    if os.environ.get("TESSERA_SCHEMATHESIS_SEED"):
        args += ["--seed", os.environ["TESSERA_SCHEMATHESIS_SEED"]]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    # Its example database and reports go to the test's directory, not the repository.
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.log").write_text(output)
    assert result.returncode == 0, output[-12000:]
    assert re.search(r"Tested: [1-9]", output), output[-4000:]
    return output


# The coverage phase's boundary values, valid ones included, are ~1,200 requests, ~700 of them
# generations (about 6 minutes here); by default only its invalid ones run (10 s), and the
# valid side is left to the examples, fuzzing and stateful phases. TESSERA_SCHEMATHESIS_FULL=1
# runs every phase in both modes.
API_RUNS = ([["--phases", "examples,coverage,fuzzing,stateful"]] if os.environ.get("TESSERA_SCHEMATHESIS_FULL")
            else [["--phases", "coverage", "--mode", "negative"], ["--phases", "examples,fuzzing,stateful"]])


@pytest.mark.parametrize("phases", API_RUNS, ids=lambda phases: "+".join(phases[1::2]))
def test_schemathesis_against_the_api_port(cluster, tmp_path, phases):
    output = schemathesis(cluster, tmp_path, f"http://127.0.0.1:{cluster.http_port}", "--include-tag", "api", *phases)
    print(output[-1500:])


def test_schemathesis_against_the_operations_port(cluster, tmp_path):
    # The operations port is every service's plain router: another method on a known path is
    # Hummingbird's 404 there, not a 405.
    output = schemathesis(cluster, tmp_path, f"http://127.0.0.1:{ops_port(cluster)}", "--include-tag", "operations",
                          excluded=["unsupported_method"])
    print(output[-1500:])
