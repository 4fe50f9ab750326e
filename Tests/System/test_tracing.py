"""OpenTelemetry traces across every hop (docs/tracing.md), checked by a real OTLP receiver:
an OTLP/gRPC TraceService built from the `opentelemetry-proto` package, on 127.0.0.1, that
the cluster's processes export to. One chat request through the OpenAI API (the `openai`
client, with a W3C `traceparent` header) must come back as one trace: the gateway's spans,
the scheduler's AcquirePipeline, every stage's Forward stream and steps (with worker ids and
layer ranges), every parent link intact, and the caller's trace id kept."""
import secrets
import threading
import time
from concurrent import futures

import grpc
import openai
import pytest

from conftest import free_port
from test_failover import ProcessCluster

trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
trace_service_grpc = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc")


class Receiver(trace_service_grpc.TraceServiceServicer):
    """Keeps every span exported to it, with its resource's service.name."""

    def __init__(self):
        self.spans, self.lock = [], threading.Lock()

    def Export(self, request, context):
        with self.lock:
            for resource_spans in request.resource_spans:
                service = attributes(resource_spans.resource.attributes).get("service.name")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append((service, span))
        return trace_service.ExportTraceServiceResponse()

    def trace(self, trace_id: bytes):
        with self.lock:
            return [(service, span) for service, span in self.spans if span.trace_id == trace_id]


def attributes(key_values) -> dict:
    values = {}
    for kv in key_values:
        kind = kv.value.WhichOneof("value")
        value = getattr(kv.value, kind) if kind else None
        if kind == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        values[kv.key] = value
    return values


@pytest.fixture
def otlp_receiver():
    receiver = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    receiver.endpoint = f"http://127.0.0.1:{port}"
    yield receiver
    server.stop(grace=None)


@pytest.fixture
def traced_cluster(processes, stubs, tmp_path, otlp_receiver, monkeypatch):
    # Every process the cluster starts inherits these (Processes.start passes os.environ).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # export within 0.2 s, not 5 s
    monkeypatch.setenv("TESSERA_TRACE_DECODE_EVERY", "4")
    # Two 180 MiB workers: the model does not fit one, so the pipeline has two stages and the
    # trace must cross the worker-to-worker hop.
    cluster = ProcessCluster(processes, tmp_path, workers=2, memory_mb=180,
                             worker_args=("--log-level", "debug"))
    cluster.wait_ready(stubs)
    return cluster


def wait_for(receiver, trace_id: bytes, condition, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = receiver.trace(trace_id)
        if condition(spans):
            return spans
        time.sleep(0.2)
    names = sorted(f"{service}:{span.name}" for service, span in receiver.trace(trace_id))
    raise AssertionError(f"the trace never became complete; it has {names}")


def step_spans(spans):
    return [(service, span) for service, span in spans if span.name.startswith("stage step")]


def test_one_chat_request_is_one_trace_across_gateway_scheduler_and_every_stage(
        traced_cluster, otlp_receiver, api_key):
    trace_id, parent_id = secrets.token_bytes(16), secrets.token_bytes(8)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{traced_cluster.gateway_http}/v1", api_key=api_key,
                           max_retries=0, timeout=120)
    completion = client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=9, temperature=0,
        extra_headers={"traceparent": f"00-{trace_id.hex()}-{parent_id.hex()}-01"})
    generated = completion.usage.completion_tokens
    assert generated >= 1

    def complete(spans):
        names = {span.name for _, span in spans}
        workers = {attributes(span.attributes).get("tessera.worker_id") for _, span in step_spans(spans)}
        # Each stage's Forward span ends when its stream closes, after the steps: wait for both
        # (they are exported every 0.2 s, so the second can arrive after the last step span).
        forwards = [span for _, span in spans if span.name == "tessera.v1.InferenceWorker/Forward"]
        return ({"decode", "tessera.v1.Scheduler/AcquirePipeline"} <= names and len(workers) == 2
                and len(forwards) >= 2)

    spans = wait_for(otlp_receiver, trace_id, complete)
    by_id = {span.span_id: (service, span) for service, span in spans}
    names = {(service, span.name) for service, span in spans}

    # The gateway: the HTTP request (a server span whose parent is the caller's), its phases.
    roots = [span for service, span in spans if span.parent_span_id == parent_id]
    assert len(roots) == 1 and roots[0].name == "/v1/chat/completions", roots
    assert roots[0].kind == roots[0].SPAN_KIND_SERVER
    for name in ("tokenize", "acquire pipeline", "pipeline session", "prefill", "decode"):
        assert ("gateway", name) in names, (name, sorted(names))
    # The scheduler's AcquirePipeline, a child of the gateway's "acquire pipeline".
    acquire = [span for service, span in spans if service == "scheduler"
               and span.name == "tessera.v1.Scheduler/AcquirePipeline"]
    assert len(acquire) == 1
    assert by_id[acquire[0].parent_span_id][1].name == "acquire pipeline"

    # Each stage: a Forward server span, and step spans under it naming worker and layers.
    forwards = [(service, span) for service, span in spans if span.name == "tessera.v1.InferenceWorker/Forward"]
    assert {service for service, _ in forwards} == {"inference-worker"} and len(forwards) == 2
    session = next(span for _, span in spans if span.name == "pipeline session")
    first = [span for _, span in forwards if span.parent_span_id == session.span_id]
    assert len(first) == 1, "the first stage's Forward span is a child of the gateway's session span"
    second = [span for _, span in forwards if span.parent_span_id == first[0].span_id]
    assert len(second) == 1, "the second stage's Forward span is a child of the first stage's"

    stages = {}
    for _, span in step_spans(spans):
        values = attributes(span.attributes)
        assert by_id[span.parent_span_id][1].name == "tessera.v1.InferenceWorker/Forward"
        assert values["tessera.session"] and values["tessera.tokens"] >= 1
        stages.setdefault(values["tessera.worker_id"], set()).add(
            (values["tessera.layer_start"], values["tessera.layer_end"], values["tessera.layers"]))
        assert values["tessera.step.kind"] in ("prefill", "decode")
    assert set(stages) == {"worker-1", "worker-2"}
    ranges = sorted(next(iter(layers)) for layers in stages.values())
    assert all(len(layers) == 1 for layers in stages.values()), stages
    assert ranges[0][0] == 0 and ranges[0][1] == ranges[1][0], f"layer ranges not contiguous: {ranges}"
    assert ranges[0][2] == f"[{ranges[0][0]}, {ranges[0][1]})"

    # Sampling: the prompt's step on every stage, one decode step in 4 (steps 4, 8, ...).
    kinds = [(attributes(s.attributes)["tessera.step.kind"], attributes(s.attributes)["tessera.step"])
             for _, s in step_spans(spans)]
    assert kinds.count(("prefill", 0)) == 2
    decoded = sorted({step for kind, step in kinds if kind == "decode"})
    assert decoded == [step for step in range(1, generated) if step % 4 == 0], (decoded, generated)

    # Every parent link resolves inside the trace, up to the caller's span.
    for service, span in spans:
        assert span.parent_span_id == parent_id or span.parent_span_id in by_id, (service, span.name)

    # Log lines logged under a span carry its trace id (a failed step's line leads here).
    for name, worker in traced_cluster.workers.items():
        opened = [line for line in open(worker.log_path).read().splitlines()
                  if 'msg="session opened"' in line and f"trace_id={trace_id.hex()}" in line]
        assert opened, f"{name}: no 'session opened' line with the trace id"


def test_grpc_traceparent_is_honoured_and_background_rpcs_make_no_traces(traced_cluster, otlp_receiver, stubs):
    trace_id, parent_id = secrets.token_bytes(16), secrets.token_bytes(8)
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    with grpc.insecure_channel(f"127.0.0.1:{traced_cluster.grpc_port}") as channel:
        list(rpc.GatewayStub(channel).Generate(
            pb.GenerateRequest(prompt="Hi", sampling=common.SamplingParams(temperature=0, max_tokens=2)),
            metadata=[("traceparent", f"00-{trace_id.hex()}-{parent_id.hex()}-01")], timeout=60))
    spans = wait_for(otlp_receiver, trace_id, lambda spans: len(step_spans(spans)) >= 2)
    root = [span for _, span in spans if span.parent_span_id == parent_id]
    assert [span.name for span in root] == ["tessera.v1.Gateway/Generate"]

    # Heartbeats, health checks and placement polls carry no trace context: no spans, so the
    # receiver holds nothing but request traces (each rooted at the gateway).
    time.sleep(1.0)
    with otlp_receiver.lock:
        everything = list(otlp_receiver.spans)
    by_trace = {}
    for service, span in everything:
        by_trace.setdefault(span.trace_id, []).append((service, span))
    for spans in by_trace.values():
        ids = {span.span_id for _, span in spans}
        roots = [(service, span.name) for service, span in spans if span.parent_span_id not in ids]
        assert all(service == "gateway" for service, _ in roots), roots


def test_a_failover_shows_in_the_trace(processes, stubs, tmp_path, otlp_receiver, monkeypatch):
    # Three 400 MiB workers: single-stage replicas. The worker serving a stream is SIGKILLed
    # mid-stream; the stream completes on another, and the trace shows how: a failover span
    # naming the worker, a replay on the new pipeline, a second pipeline session.
    from test_failover import serving_worker
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    cluster = ProcessCluster(processes, tmp_path, workers=3, memory_mb=400, step_timeout_ms=3000)
    cluster.wait_ready(stubs)
    trace_id, parent_id = secrets.token_bytes(16), secrets.token_bytes(8)
    pb, rpc, common = stubs.gateway_pb2, stubs.gateway_pb2_grpc, stubs.common_pb2
    received, killed = [], []

    def kill_when_streaming():
        deadline = time.monotonic() + 120
        while len(received) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker_id, _ = serving_worker(cluster.placement(stubs))
        cluster.workers[worker_id].kill()
        killed.append(worker_id)

    killer = threading.Thread(target=kill_when_streaming)
    killer.start()
    request = pb.GenerateRequest(prompt="The history of the Roman empire",
                                 sampling=common.SamplingParams(temperature=0, max_tokens=80, ignore_eos=True))
    with grpc.insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        for message in rpc.GatewayStub(channel).Generate(
                request, metadata=[("traceparent", f"00-{trace_id.hex()}-{parent_id.hex()}-01")], timeout=300):
            received.extend(message.token_ids)
    killer.join(timeout=130)
    assert killed and len(received) == 80

    spans = wait_for(otlp_receiver, trace_id,
                     lambda spans: "replay" in {span.name for _, span in spans}
                     and sum(span.name == "pipeline session" for _, span in spans) == 2)
    failovers = [attributes(span.attributes) for _, span in spans if span.name == "failover"]
    assert len(failovers) == 1 and failovers[0]["tessera.failed_worker"] == killed[0], failovers
    sessions = [attributes(span.attributes) for _, span in spans if span.name == "pipeline session"]
    assert any(killed[0] in s["tessera.workers"] for s in sessions)
    assert any(killed[0] not in s["tessera.workers"] for s in sessions)
    # The new stage replayed the prompt and the output so far in the same trace.
    replays = [attributes(span.attributes) for _, span in step_spans(spans)
               if attributes(span.attributes)["tessera.step.kind"] == "replay"]
    assert replays and all(values["tessera.worker_id"] != killed[0] for values in replays)
