"""compose.yaml and the Dockerfile, checked without a container engine."""
import pathlib
import re
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICES = {"gateway", "scheduler", "cache-manager", "inference-worker", "verifier"}


def test_compose_file_matches_the_compose_spec():
    result = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_are_complete_and_scalable():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = dict(compose["services"])
    # The one-shot certificate maker (mutual TLS) runs before the services and then exits.
    certs = services.pop("certs")
    assert certs["restart"] == "no" and "tessera certs init" in " ".join(certs["command"])
    assert set(services) == SERVICES
    for name, service in services.items():
        # Read-only, but for the scheduler, which keeps join tokens there (enrollment, below).
        tls = "tls:/var/lib/tessera/tls" + ("" if name == "scheduler" else ":ro")
        assert "TESSERA_TLS_DIR" in service["environment"] and tls in service["volumes"]
        if name != "scheduler":
            assert not [v for v in service["volumes"] if v.startswith("tls-ca:")], name
        assert service["command"][0] == name
        assert service["restart"] == "unless-stopped"
        assert "healthcheck" in service and "/readyz" in " ".join(service["healthcheck"]["test"])
        for dependency in service.get("depends_on", {}):
            assert dependency in services or dependency == "certs"
    worker = services["inference-worker"]
    # --scale works: no fixed container name, no published host ports.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["environment"]["TESSERA_SCHEDULER_ADDRESS"] == "scheduler:7401"
    assert "model-store" in compose["volumes"]
    assert any(v.startswith("model-store:") for v in services["cache-manager"]["volumes"])


def test_compose_scheduler_enrolls_edge_workers():
    """The enrollment port is published for machines outside the project, and the scheduler
    alone can read the CA key that signs for them (docs/security.md, "Enrolling workers")."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    scheduler = compose["services"]["scheduler"]
    assert scheduler["environment"]["TESSERA_ENROLLMENT_PORT"] == "7404"
    assert "7404:7404" in scheduler["ports"]
    assert "tls-ca:/var/lib/tessera/ca:ro" in scheduler["volumes"]
    certs = " ".join(compose["services"]["certs"]["command"])
    assert "ln -sf /var/lib/tessera/ca/ca.key ca.key" in certs and "rm ca.key" not in certs
    assert "TESSERA_PUBLIC_NAMES" in certs


def test_dockerfile_builds_every_product_of_the_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    manifest = (ROOT / "Package.swift").read_text()
    products = set(re.findall(r'\.executable\(name: "([a-z-]+)"', manifest))
    # The faulty worker (the verifier's detection matrix) is test-only: never in the image.
    assert products == SERVICES | {"tessera", "tessera-faulty-worker"}
    built = set(re.findall(r"--product ([a-z-]+)", dockerfile))
    assert built == products - {"tessera-faulty-worker"}
    assert "faulty" not in dockerfile
    assert re.search(r"^FROM swift:6\.3\S* AS build", dockerfile, re.M)
    assert "swift build -c release" in dockerfile
    assert re.search(r"^FROM debian:\S+-slim", dockerfile, re.M)
