"""One podman-compose project driven from the host: bring up, scale, kill, inspect, tear down.

Used by scripts/container-test. Podman runs without systemd here, so container health checks
have no timer: `healthy` runs a container's own compose health check on demand instead
(`podman healthcheck run`), which is what the engine's timer would do.
"""
import json
import subprocess
import time

COMPOSE_PROJECT_LABEL = "io.podman.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


def run(args, timeout=300, check=True):
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


class PodmanProject:
    def __init__(self, name, compose_files, profiles=()):
        self.name = name
        self.compose_files = list(compose_files)
        self.profiles = list(profiles)

    def compose(self, *args, timeout=600):
        command = ["podman-compose", "-p", self.name]
        for path in self.compose_files:
            command += ["-f", str(path)]
        for profile in self.profiles:
            command += ["--profile", profile]
        return run(command + list(args), timeout=timeout)

    def containers(self, service=None, running_only=True):
        """Container names of the project (of one service), sorted."""
        command = ["podman", "ps", "--format", "{{.Names}}", "--filter", f"label={COMPOSE_PROJECT_LABEL}={self.name}"]
        if not running_only:
            command.append("--all")
        if service:
            command += ["--filter", f"label={COMPOSE_SERVICE_LABEL}={service}"]
        return sorted(line for line in run(command).stdout.split() if line)

    def state(self, container):
        out = run(["podman", "inspect", "--format", "json", container]).stdout
        return json.loads(out)[0]["State"]

    def healthy(self, container):
        return run(["podman", "healthcheck", "run", container], timeout=30, check=False).returncode == 0

    def wait_healthy(self, containers, timeout):
        deadline = time.monotonic() + timeout
        waiting = list(containers)
        while waiting and time.monotonic() < deadline:
            waiting = [c for c in waiting if not self.healthy(c)]
            if waiting:
                time.sleep(1)
        if waiting:
            raise AssertionError(f"not healthy after {timeout} s: {waiting}")

    def logs(self, container):
        result = run(["podman", "logs", container], check=False)
        return result.stdout + result.stderr

    def exec(self, container, *command, timeout=30):
        return run(["podman", "exec", container, *command], timeout=timeout, check=False)

    def volume_names(self):
        out = run(["podman", "volume", "ls", "--format", "{{.Name}}"]).stdout.split()
        return sorted(v for v in out if v.startswith(f"{self.name}_"))

    def leftovers(self):
        return self.containers(running_only=False) + self.volume_names()

    def tear_down(self, stop_first=(), grace_s=30):
        """Stops `stop_first` services' containers, then the rest (podman-compose 1.6's
        `down` stops only the first replica of a scaled service), then removes containers,
        pod, volumes and network. Returns each container's exit status after its stop
        (137: it did not exit within `grace_s` of SIGTERM and was killed)."""
        for service in list(stop_first) + [None]:
            names = self.containers(service)
            if names:
                run(["podman", "stop", "-t", str(grace_s), *names], timeout=grace_s + 60, check=False)
        exit_codes = {name: self.state(name)["ExitCode"] for name in self.containers(running_only=False)}
        self.compose("down", "-v", "-t", str(grace_s), timeout=grace_s * 4 + 120)
        run(["podman", "pod", "rm", "-f", f"pod_{self.name}"], check=False)
        for container in self.containers(running_only=False):
            run(["podman", "rm", "-f", container], check=False)
        for volume in self.volume_names():
            run(["podman", "volume", "rm", "-f", volume], check=False)
        run(["podman", "network", "rm", "-f", f"{self.name}_default"], check=False)
        return exit_codes
