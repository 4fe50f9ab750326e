"""API keys in the system tests. The gateway requires a key on every API request, so the
suite runs with keys on: `install` (a session fixture in conftest.py) creates one store with
one unlimited key through `tessera keys create`, points every gateway the tests start at it
(env TESSERA_GATEWAY_KEYS_DB) and every `tessera up` at the same key (env TESSERA_API_KEY),
gives it to the verifiers' canaries (env TESSERA_VERIFIER_GATEWAY_API_KEY_FILE), and makes
the suite's clients send it: urllib through an installed opener, grpcio channels through an
interceptor. A request that already says `Authorization` keeps its own; tests about keys
use `raw_insecure_channel` and the `openai` client with the key they mean."""
import os
import pathlib
import re
import subprocess
import urllib.request

import grpc

# The plain grpcio function, before `install` wraps it.
raw_insecure_channel = grpc.insecure_channel


def create_key(bin_dir: pathlib.Path, store: pathlib.Path, name: str, rpm=None, tpm=None, streams=None) -> str:
    """`tessera keys create NAME` in `store`; returns the key it printed."""
    args = [str(bin_dir / "tessera"), "keys", "create", name, "--keys-db", str(store)]
    for flag, value in (("--rpm", rpm), ("--tpm", tpm), ("--streams", streams)):
        if value is not None:
            args += [flag, str(value)]
    output = subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"^api key: (tsk-\S+)$", output, re.MULTILINE)
    assert found, f"`tessera keys create` printed no key:\n{output}"
    return found.group(1)


def keys_command(bin_dir: pathlib.Path, store: pathlib.Path, *args: str) -> str:
    """The output of `tessera keys ARGS --keys-db STORE`."""
    return subprocess.run([str(bin_dir / "tessera"), "keys", *args, "--keys-db", str(store)],
                          check=True, capture_output=True, text=True, timeout=30).stdout


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class _AddKey(urllib.request.BaseHandler):
    """Adds the suite's key to each urllib request that has no Authorization of its own."""

    def __init__(self, key):
        self.key = key

    def http_request(self, request):
        if not request.has_header("Authorization"):
            request.add_unredirected_header("Authorization", f"Bearer {self.key}")
        return request


class _KeyMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                   grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds `authorization: Bearer KEY` to each call without one (other services ignore it)."""

    def __init__(self, key):
        self.key = key

    def _details(self, details):
        metadata = list(details.metadata or [])
        if not any(name == "authorization" for name, _ in metadata):
            metadata.append(("authorization", f"Bearer {self.key}"))
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else \
            _CallDetails(details, metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, details, metadata):
        self.method, self.timeout, self.credentials = details.method, details.timeout, details.credentials
        self.wait_for_ready, self.compression = details.wait_for_ready, details.compression
        self.metadata = metadata


def install(bin_dir: pathlib.Path, directory: pathlib.Path) -> str:
    """Creates the suite's store and key and makes every gateway and client use them."""
    store = directory / "keys.sqlite"
    key = create_key(bin_dir, store, "system-tests", rpm=0, tpm=0, streams=0)
    os.environ["TESSERA_GATEWAY_KEYS_DB"] = str(store)
    os.environ["TESSERA_API_KEY"] = key
    # The verifier's canaries are gateway requests too.
    key_file = directory / "verifier-canaries.key"
    key_file.write_text(key + "\n")
    os.environ["TESSERA_VERIFIER_GATEWAY_API_KEY_FILE"] = str(key_file)
    urllib.request.install_opener(urllib.request.build_opener(_AddKey(key)))

    def insecure_channel(target, options=None, compression=None):
        return grpc.intercept_channel(raw_insecure_channel(target, options, compression), _KeyMetadata(key))

    grpc.insecure_channel = insecure_channel
    return key
