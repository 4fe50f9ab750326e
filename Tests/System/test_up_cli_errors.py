"""Runtime errors of the `tessera` CLI are one line, `tessera: error: …`, and exit 1; only
mistakes in the arguments print usage."""
import subprocess

from conftest import free_port


def tessera(bin_dir, *args):
    return subprocess.run([str(bin_dir / "tessera"), *args], capture_output=True, text=True, timeout=60)


def test_run_with_a_missing_model_file_says_how_to_get_one(bin_dir):
    result = tessera(bin_dir, "run", "--model", "/nonexistent", "Hi")
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tessera: error: model file /nonexistent does not exist"), lines
    assert "tessera model pull smollm2-135m" in lines[0]
    assert "scripts/" not in lines[0] and "Usage" not in result.stderr


def test_unreachable_cluster_is_one_line_without_usage(bin_dir):
    port = free_port()  # nothing listens there
    for args in (["status", "--scheduler", f"127.0.0.1:{port}"], ["placement", "--scheduler", f"127.0.0.1:{port}"],
                 ["chat", "--gateway", f"127.0.0.1:{port}", "Hi"]):
        result = tessera(bin_dir, *args)
        assert result.returncode == 1, (args, result)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("tessera: error: "), (args, result.stderr)
        assert f"127.0.0.1:{port}" in lines[0]


def test_port_offset_moves_the_default_address(bin_dir):
    result = tessera(bin_dir, "status", "--port-offset", "3")  # 7401 + 3: nothing there
    assert result.returncode == 1
    assert "127.0.0.1:7404" in result.stderr


def test_usage_errors_still_print_usage(bin_dir):
    result = tessera(bin_dir, "up", "--workers", "0")
    assert result.returncode == 64
    assert "--workers must be between 1 and 64" in result.stderr
    assert "Usage: tessera up" in result.stderr
    both = tessera(bin_dir, "status", "--port-offset", "5", "--scheduler", "127.0.0.1:7401")
    assert both.returncode == 64 and "not both" in both.stderr


def test_help_is_help_not_an_error(bin_dir):
    for args in (["--help"], ["bench", "engine", "--help"], ["model", "--help"], ["up", "-h"]):
        result = tessera(bin_dir, *args)
        assert result.returncode == 0, (args, result)
        assert "USAGE:" in result.stdout and "error" not in result.stderr, (args, result)
