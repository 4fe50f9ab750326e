"""`tessera up` starts a whole local cluster; `tessera status` shows its workers."""
import re
import signal
import subprocess
import time

from conftest import free_port_offset


def test_up_status_and_clean_stop(bin_dir, tmp_path):
    offset = free_port_offset(2)
    up = subprocess.Popen([str(bin_dir / "tessera"), "up", "--workers", "2", "--port-offset", str(offset),
                           "--log-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            output.append(line)
            if "cluster ready" in line:
                break
        text = "".join(output)
        assert "cluster ready: 6 processes" in text, text
        for name, port in [("gateway", 7400), ("scheduler", 7401), ("cache-manager", 7402), ("verifier", 7403),
                           ("inference-worker-1", 7410), ("inference-worker-2", 7411)]:
            assert re.search(rf"^{name}\s+127\.0\.0\.1:{port + offset}\s", text, re.M), (name, text)

        time.sleep(1)
        status = subprocess.run([str(bin_dir / "tessera"), "status", "--scheduler", f"127.0.0.1:{7401 + offset}"],
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stderr
        assert status.stdout.splitlines()[0].split()[:2] == ["WORKER", "ADDRESS"]
        rows = [line.split() for line in status.stdout.splitlines()[1:-1]]
        assert [(row[0], row[1]) for row in rows] == [("worker-1", f"127.0.0.1:{7410 + offset}"),
                                                      ("worker-2", f"127.0.0.1:{7411 + offset}")]
        assert status.stdout.splitlines()[-1] == "2 worker(s)"
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    assert up.returncode == 0, rest
    assert "stopped" in rest
    assert "exited with status" not in rest
    # Ordered stop: the gateway drains first, the others stop after it.
    assert rest.index("draining the gateway") < rest.index("stopping the other services"), rest


def test_status_without_scheduler_is_a_clear_error(bin_dir):
    result = subprocess.run([str(bin_dir / "tessera"), "status", "--scheduler", "127.0.0.1:1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.returncode == 1
    assert result.stderr.startswith("tessera: error: cannot reach the scheduler at 127.0.0.1:1")
    assert "Usage" not in result.stderr
