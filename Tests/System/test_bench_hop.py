"""`tessera bench hop`: a pipeline hop's parts, measured on loopback with the services' own
gRPC stack (an echo `Forward` server over plaintext and over mutual TLS)."""
import re
import subprocess


def bench(bin_dir, *args):
    return subprocess.run([str(bin_dir / "tessera"), "bench", "hop", *args], capture_output=True,
                          text=True, timeout=120)


def test_every_transport_and_caller_gets_a_row_of_round_trip_times(bin_dir):
    result = bench(bin_dir, "--messages", "40", "--width", "576")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The step carries 576 f32 values: their 2,304 bytes plus the message's own fields.
    step_bytes = int(re.search(r"f32 step \((\d+) bytes\)", out).group(1))
    assert 2304 < step_bytes < 2400, out
    assert re.search(r"protobuf encode \+ decode, both messages: [\d.]+ µs", out), out
    rows = [line for line in out.splitlines() if line.startswith(("plaintext", "mutual TLS"))]
    assert len(rows) == 4, out
    for line in rows:
        times = [float(value) for value in re.findall(r"([\d.]+) ms", line)]
        assert len(times) == 4 and all(0 < t < 1000 for t in times), line
        assert times[0] <= times[1] <= times[2], line  # p50 ≤ p90 ≤ p99
    assert sum("async streams" in line for line in rows) == 2, out
    assert sum(" direct " in f" {line} " for line in rows) == 2, out


def test_bad_counts_are_usage_errors(bin_dir):
    result = bench(bin_dir, "--messages", "0")
    assert result.returncode == 64, result
    assert "--messages and --width must be positive" in result.stderr
