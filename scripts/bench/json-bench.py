#!/usr/bin/env python3
"""What constrained decoding costs: the same greedy chat requests through one local cluster,
once with `response_format` (a JSON schema, and json_object) and once as free text of the
same length (`ignore_eos`, max_tokens = the constrained answer's length). The anchor is the
free-text decode measured in the same run; the script prints ms per token for both and the
ratio, and checks every constrained answer with the `jsonschema` package.

    python3 scripts/bench/json-bench.py [--bin .build/release] [--rounds 3]
"""
import argparse
import json
import os
import pathlib
import signal
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
sys.path.insert(0, str(ROOT / "Tests" / "System"))

import jsonschema  # noqa: E402
import openai  # noqa: E402

from conftest import free_port_offset  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "born": {"type": "integer"},
        "field": {"enum": ["mathematics", "physics", "chemistry", "literature"]},
        "works": {"type": "array", "maxItems": 3,
                  "items": {"type": "object", "properties": {"title": {"type": "string", "maxLength": 60},
                                                             "year": {"type": "integer"}},
                            "required": ["title", "year"]}},
    },
    "required": ["name", "born", "field", "works"],
}
PROMPTS = ["Describe Marie Curie.", "Describe Alan Turing.", "Describe Ada Lovelace.", "Describe Isaac Newton."]


def timed(client, **kwargs):
    start = time.monotonic()
    response = client.chat.completions.create(model="smollm2-135m", temperature=0, **kwargs)
    return response, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser()
    default_bin = ROOT / ".build" / ("release" if (ROOT / ".build/release/tessera").exists() else "debug")
    parser.add_argument("--bin", default=str(default_bin))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import importlib
    bench = importlib.import_module("cluster-bench")
    offset = free_port_offset(1)
    with tempfile.TemporaryDirectory() as logs:
        up = bench.start_cluster(pathlib.Path(args.bin), 1, 4096, offset, logs)
        try:
            _, _, spb, srpc, _ = bench.stubs(pathlib.Path(logs))
            bench.wait_pipeline(spb, srpc, 7401 + offset, 1)
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{8080 + offset}/v1",
                                   api_key=os.environ["TESSERA_API_KEY"], timeout=600)
            rows = {"json_schema": [], "json_object": []}
            for _ in range(args.rounds):
                for prompt in PROMPTS:
                    messages = [{"role": "user", "content": prompt + " Answer in JSON."}]
                    for mode, format in [
                        ("json_schema", {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}}),
                        ("json_object", {"type": "json_object"}),
                    ]:
                        constrained, seconds = timed(client, messages=messages, max_tokens=300, response_format=format)
                        text = constrained.choices[0].message.content
                        tokens = constrained.usage.completion_tokens
                        if constrained.choices[0].finish_reason == "stop":
                            document = json.loads(text)
                            if mode == "json_schema":
                                jsonschema.validate(document, SCHEMA)
                        free, free_seconds = timed(client, messages=messages, max_tokens=tokens,
                                                   extra_body={"ignore_eos": True})
                        assert free.usage.completion_tokens == tokens
                        rows[mode].append((tokens, seconds, free_seconds))
            print(f"{'mode':12} {'answers':>7} {'tokens':>7} {'ms/token':>9} {'free ms/token':>14} {'ratio':>6}")
            for mode, samples in rows.items():
                tokens = sum(t for t, _, _ in samples)
                constrained = sum(s for _, s, _ in samples) / tokens * 1000
                free = sum(f for _, _, f in samples) / tokens * 1000
                print(f"{mode:12} {len(samples):7d} {tokens:7d} {constrained:9.2f} {free:14.2f} {constrained / free:6.2f}")
            print("(whole requests, prefill included, same prompt and token count for both columns; "
                  f"median answer {statistics.median(t for s in rows.values() for t, _, _ in s)} tokens)")
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=120)


if __name__ == "__main__":
    main()
