"""deploy/kubernetes, checked without a cluster: every manifest against Kubernetes' own schemas
(`kubernetes-validate --strict`), the kustomization rendered by `kubectl kustomize`, and the
workloads compared with compose.yaml and the services' sources, so that the two deployments
cannot drift apart."""
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SERVICES = ["gateway", "scheduler", "cache-manager", "inference-worker", "verifier"]
# Where each service declares its default ports (`static let grpc = (variable: …, port: N)`).
PORT_SOURCES = {
    "gateway": "Services/Gateway/Main/GatewayCommand.swift",
    "scheduler": "Services/Scheduler/Main/SchedulerCommand.swift",
    "cache-manager": "Services/CacheManager/Main/CacheManagerCommand.swift",
    "verifier": "Services/Verifier/Main/VerifierCommand.swift",
    "inference-worker": "Services/InferenceWorker/Sources/WorkerOptions.swift",
}
# What Kubernetes needs that compose does not: a Deployment's pod names do not resolve, so a
# worker advertises its pod IP (compose advertises the container's host name).
KUBERNETES_ONLY_ENVIRONMENT = {"inference-worker": {"TESSERA_ADVERTISE_HOST"}}
# compose's one-shot `certs` service writes the TLS volume; on Kubernetes the operator makes
# the same files into the tessera-tls Secret (README), which every pod mounts instead.
COMPOSE_ONLY_SERVICES = {"certs"}
# Ports a service opens only as configured by compose and the manifests (not a default of its
# source): the scheduler's worker enrollment (TESSERA_ENROLLMENT_PORT), the one port of it
# compose publishes and the NetworkPolicies open to outside the namespace.
CONFIGURED_PORTS = {"scheduler": {"enrollment": 7404}}


def manifest_files():
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def documents():
    return [doc for path in manifest_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def find(kind, name):
    matches = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def workload(service):
    matches = [d for d in documents() if d["kind"] in ("Deployment", "StatefulSet")
               and d["metadata"]["name"] == service]
    assert len(matches) == 1, f"{service}: {len(matches)} workloads"
    return matches[0]


def container(service):
    containers = workload(service)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def default_ports(service):
    """The service's listening ports by name, as its source declares them: gRPC and HTTP, and
    the gateway's operations port (/metrics, /healthz, /readyz without a key)."""
    source = (ROOT / PORT_SOURCES[service]).read_text()
    ports = dict(re.findall(r'static let (grpc|http) = \(variable: "[A-Z_]+", port: (\d+)\)', source))
    assert set(ports) == {"grpc", "http"}, service
    ops = re.search(r'"TESSERA_GATEWAY_OPS_PORT", (\d+)\)', source)
    if ops:
        ports["ops"] = ops.group(1)
    return {name: int(port) for name, port in ports.items()}


def health_port_name(service):
    """The port compose's health check and the probes use: the operations port where there
    is one, else the HTTP port."""
    return "ops" if "ops" in default_ports(service) else "http"


def kubernetes_environment(service):
    """The container's environment: the ConfigMaps it imports, then its own entries (a value,
    or where Kubernetes fills it in)."""
    spec = container(service)
    environment = {}
    for source in spec.get("envFrom", []):
        environment.update(find("ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in spec.get("env", []):
        environment[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return environment


def duration_seconds(text):
    match = re.fullmatch(r"(\d+)s", str(text))
    assert match, f"unexpected compose duration {text!r}"
    return int(match.group(1))


def test_every_manifest_passes_kubernetes_validate_strict():
    files = [str(p) for p in manifest_files()]
    assert len(files) >= 7
    result = subprocess.run(["kubernetes-validate", "--strict", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # One "passed" line per resource: nothing was skipped for want of a schema.
    resources = len(documents())
    assert result.stdout.count(" passed for resource ") + result.stderr.count(" passed for resource ") == resources


def test_kustomization_lists_every_manifest_and_renders():
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(p.name for p in manifest_files())
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed; the resource list was checked")
    rendered = subprocess.run(["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    objects = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert len(objects) == len(documents())
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == kustomization["namespace"], obj["metadata"]
    result = subprocess.run(["kubernetes-validate", "--strict", "-"], input=rendered.stdout,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_workload_matches_compose(service):
    """Same image, command, environment, ports, health checks, volumes and grace period as
    compose.yaml's service (and the ports the service's source declares)."""
    composed = compose()["services"][service]
    spec = container(service)
    pod = workload(service)["spec"]["template"]["spec"]

    assert spec["image"] == composed["image"]
    # compose's `command` replaces the image's CMD, as a container's `args` does (the image
    # has no ENTRYPOINT for `command` to replace).
    assert "command" not in spec and spec["args"] == composed["command"]

    expected = {name: str(value) for name, value in composed["environment"].items()}
    actual = kubernetes_environment(service)
    extra = KUBERNETES_ONLY_ENVIRONMENT.get(service, set())
    assert {k: v for k, v in actual.items() if k not in extra} == expected
    assert set(actual) - set(expected) == extra

    ports = default_ports(service)
    configured = CONFIGURED_PORTS.get(service, {})
    assert {p["name"]: p["containerPort"] for p in spec["ports"]} == {**ports, **configured}
    for name, port in configured.items():
        assert str(port) in {str(v) for v in expected.values()}, f"{service}: {name} {port} not configured"
    if "ports" in composed:  # what compose publishes, the Service offers
        published = {int(mapping.split(":")[1]) for mapping in composed["ports"]}
        assert published == (set(configured.values()) or set(ports.values()))

    url = composed["healthcheck"]["test"][-1]
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\S+)", url)
    probed = health_port_name(service)
    assert match and int(match.group(1)) == ports[probed], url
    readiness, liveness = spec["readinessProbe"], spec["livenessProbe"]
    assert readiness["httpGet"] == {"path": match.group(2), "port": probed} and match.group(2) == "/readyz"
    assert liveness["httpGet"] == {"path": "/healthz", "port": probed}
    assert readiness["periodSeconds"] == duration_seconds(composed["healthcheck"]["interval"])
    assert readiness["timeoutSeconds"] == duration_seconds(composed["healthcheck"]["timeout"])

    mounts = {m["name"]: (m["mountPath"], m.get("readOnly", False)) for m in spec.get("volumeMounts", [])}
    composed_mounts = {}
    for volume in composed.get("volumes", []):
        name, path, *mode = volume.split(":")
        composed_mounts[name] = (path, mode == ["ro"])
    assert mounts == composed_mounts
    assert pod["terminationGracePeriodSeconds"] == duration_seconds(composed["stop_grace_period"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_reachable_by_its_compose_name(service):
    """Other services reach it at the same host:port as on compose's network: a Service named
    like it, selecting its pods, on its default ports (workers are reached at their pod IPs)."""
    pod_labels = workload(service)["spec"]["template"]["metadata"]["labels"]
    selector = workload(service)["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    if service == "inference-worker":
        assert not [d for d in documents() if d["kind"] == "Service" and d["metadata"]["name"] == service]
        return
    spec = find("Service", service)["spec"]
    assert spec["selector"].items() <= pod_labels.items()
    ports = {**default_ports(service), **CONFIGURED_PORTS.get(service, {})}
    assert {p["name"]: (p["port"], p["targetPort"]) for p in spec["ports"]} == \
        {name: (port, name) for name, port in ports.items()}


def test_compose_services_are_all_deployed():
    assert set(compose()["services"]) - COMPOSE_ONLY_SERVICES == set(SERVICES)
    # The TLS material compose's certs service writes comes from a Secret, in every pod.
    for service in SERVICES:
        volumes = {v["name"]: v for v in workload(service)["spec"]["template"]["spec"]["volumes"]}
        if service == "scheduler":
            # A writable copy (join tokens), made from the Secret by an init container, and
            # the CA key from a Secret of its own that no other pod mounts.
            assert "emptyDir" in volumes["tls"]
            assert volumes["tls-secret"]["secret"]["secretName"] == "tessera-tls"
            assert volumes["tls-ca"]["secret"]["secretName"] == "tessera-ca"
            continue
        assert volumes["tls"]["secret"]["secretName"] == "tessera-tls"
        assert "tls-ca" not in volumes
    # compose's named volumes that are not claim templates are claims of their own.
    keys = [v for v in workload("gateway")["spec"]["template"]["spec"]["volumes"] if v["name"] == "gateway-keys"]
    claim = find("PersistentVolumeClaim", keys[0]["persistentVolumeClaim"]["claimName"])
    # Both gateway replicas use the one key store.
    assert "ReadWriteMany" in claim["spec"]["accessModes"]


def test_workload_kinds_replicas_and_state():
    assert workload("gateway")["kind"] == "Deployment" and workload("gateway")["spec"]["replicas"] == 2
    assert workload("scheduler")["kind"] == "Deployment" and workload("scheduler")["spec"]["replicas"] == 1
    assert workload("inference-worker")["kind"] == "Deployment"  # `kubectl scale` changes replicas
    dockerfile = (ROOT / "Dockerfile").read_text()
    store_dir = re.search(r"TESSERA_STORE_DIR=(\S+)", dockerfile).group(1)
    for service, claim, path in [("cache-manager", "model-store", store_dir),
                                 ("verifier", "verifier-state",
                                  compose()["services"]["verifier"]["environment"]["TESSERA_VERIFIER_STATE_DIR"])]:
        stateful = workload(service)
        assert stateful["kind"] == "StatefulSet" and stateful["spec"]["replicas"] == 1
        assert claim in [t["metadata"]["name"] for t in stateful["spec"]["volumeClaimTemplates"]]
        assert {"name": claim, "mountPath": path} in container(service)["volumeMounts"]
        assert find("Service", stateful["spec"]["serviceName"])
    # The image's non-root user owns what the services write.
    for service in SERVICES:
        security = workload(service)["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] != 0


def test_worker_resources_follow_its_memory_budget():
    """Requests cover the memory budget (shards and KV caches) plus the process outside it
    (106 MiB at its peak measured idle on a release build), and the limit is above that."""
    environment = kubernetes_environment("inference-worker")
    budget_mib = int(environment["TESSERA_WORKER_MEMORY_MB"])
    assert budget_mib > 0, "0 would mean half of the node's memory, not the pod's"
    resources = container("inference-worker")["resources"]

    def mebibytes(quantity):
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
        return int(number) * (1024 if unit == "Gi" else 1)

    request = mebibytes(resources["requests"]["memory"])
    limit = mebibytes(resources["limits"]["memory"])
    assert budget_mib + 128 <= request <= budget_mib + 512
    assert request <= limit <= budget_mib + 1024
    assert "cpu" in resources["requests"] and "cpu" not in resources.get("limits", {})


def test_network_policy_lets_only_the_gateway_api_in_from_outside():
    policies = [d for d in documents() if d["kind"] == "NetworkPolicy"]
    gateway_labels = workload("gateway")["spec"]["template"]["metadata"]["labels"]
    ports = default_ports("gateway")
    gateway_ports = {ports["grpc"], ports["http"]}  # the API, not the operations port
    everyone = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert everyone, "no policy covers every pod"
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"]["ingress"]:
            sources = rule.get("from")
            if sources is not None:
                # Only pods of this namespace: a podSelector with no namespaceSelector/ipBlock.
                assert all(set(source) == {"podSelector"} for source in sources), rule
                continue
            # Open to anyone: only on the gateway's pods and only on its API ports, or on the
            # scheduler's pods and only on its enrollment port.
            selected = policy["spec"]["podSelector"].get("matchLabels", {})
            if selected.get("app.kubernetes.io/component") == "scheduler":
                scheduler_labels = workload("scheduler")["spec"]["template"]["metadata"]["labels"]
                assert selected.items() <= scheduler_labels.items(), policy["metadata"]["name"]
                assert {p["port"] for p in rule["ports"]} == set(CONFIGURED_PORTS["scheduler"].values())
                continue
            assert selected and selected.items() <= gateway_labels.items(), policy["metadata"]["name"]
            assert {p["port"] for p in rule["ports"]} == gateway_ports
