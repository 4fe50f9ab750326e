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
        assert "TESSERA_TLS_DIR" in service["environment"] and "tls:/var/lib/tessera/tls:ro" in service["volumes"]
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
