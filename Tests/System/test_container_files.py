"""The no-registry image (deploy/container/Dockerfile.runtime, built by scripts/container-image)
against the top-level Dockerfile's runtime stage: the same packages, user, directories,
environment, ports and command, so an image built either way runs compose.yaml the same.
scripts/container-test runs the image itself; this checks the files, with no engine."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]

# What only the no-registry path needs: its base is an argument (the imported debootstrap
# image), and host builds link the Swift runtime dynamically, so its libraries are registered
# with the loader (the multi-stage build links it statically).
RUNTIME_ONLY = [
    re.compile(r"^ARG BASE="),
    re.compile(r"^RUN echo /usr/local/lib/swift > /etc/ld\.so\.conf\.d/swift\.conf && ldconfig$"),
]


def instructions(text):
    """A Dockerfile's instructions, one string each: continuation lines joined, comments and
    blank lines dropped, runs of blanks made one."""
    joined, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(re.sub(r"\s+", " ", current + stripped).strip())
        current = ""
    return joined


def last_stage(steps):
    starts = [i for i, step in enumerate(steps) if step.startswith("FROM ")]
    return steps[starts[-1]:]


def comparable(steps):
    """Everything but where the stage starts and what it copies in."""
    return [s for s in steps if not s.startswith(("FROM ", "COPY ")) and not any(p.match(s) for p in RUNTIME_ONLY)]


def test_runtime_image_matches_the_dockerfiles_runtime_stage():
    main = last_stage(instructions((ROOT / "Dockerfile").read_text()))
    runtime = instructions((ROOT / "deploy/container/Dockerfile.runtime").read_text())
    assert comparable(runtime) == comparable(main)
    # The executables land where the multi-stage build puts them, and nothing else is added.
    assert [s for s in main if s.startswith("COPY ")] == ["COPY --from=build /out/ /usr/local/bin/"]
    assert [s for s in runtime if s.startswith("COPY ")] == [
        "COPY swift-runtime/ /usr/local/lib/swift/", "COPY bin/ /usr/local/bin/"]
    assert [s for s in runtime if s.startswith("FROM ")] == ["FROM ${BASE}"]


def test_comparison_sees_a_difference():
    main = last_stage(instructions((ROOT / "Dockerfile").read_text()))
    changed = [s.replace("curl", "wget") for s in main]
    assert comparable(changed) != comparable(main)


def test_image_script_copies_every_product_the_dockerfile_builds():
    dockerfile = (ROOT / "Dockerfile").read_text()
    script = (ROOT / "scripts/container-image").read_text()
    built = set(re.findall(r"--product ([a-z-]+)", dockerfile))
    listed = re.search(r"^products=\(([^)]*)\)", script, re.M).group(1).split()
    assert set(listed) == built


def test_second_gateway_is_the_first_without_host_ports():
    import yaml
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    overlay = yaml.safe_load((ROOT / "deploy/container/compose.gateways.yaml").read_text())
    first = {k: v for k, v in compose["services"]["gateway"].items() if k not in ("ports", "build")}
    second = {k: v for k, v in overlay["services"]["gateway-b"].items() if k != "profiles"}
    assert second == first
    assert "ports" not in second
    proxy = overlay["services"]["gateway-proxy"]
    assert set(proxy["depends_on"]) == {"gateway", "gateway-b"}
    nginx = (ROOT / "deploy/container/gateways.nginx.conf").read_text()
    assert "server gateway:8080" in nginx and "server gateway-b:8080" in nginx
    assert "proxy_buffering off" in nginx  # streamed tokens are not held back
