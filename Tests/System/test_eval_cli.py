"""`tessera eval` as a user runs it: a short evaluation of one variant prints its table and a
PNG chart that an independent decoder reads (scripts/reference/png_check.py: zlib + struct),
and bad input is a clear one-line error."""
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def tessera(bin_dir, *args, timeout=600):
    return subprocess.run([str(bin_dir / "tessera"), "eval", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_short_evaluation_prints_the_table_and_writes_the_chart(bin_dir, tmp_path):
    chart = tmp_path / "chart.png"
    report = tmp_path / "report.json"
    result = tessera(bin_dir, "--methods", "q4_0", "--context", "128", "--tokens", "256",
                     "--chart", str(chart), "--json", str(report))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "file", "MB"], lines
    assert lines[1].startswith("smollm2-135m (reference)") and lines[2].startswith("Q4_0"), lines
    assert "256 evaluation tokens (126 scored), n_ctx 128" in result.stdout
    assert f"chart: {chart}" in result.stdout
    assert "evaluating 2 models on 256 tokens" in result.stderr
    rows = json.loads(report.read_text())["rows"]
    assert [row["label"] for row in rows] == ["smollm2-135m (reference)", "Q4_0"]
    assert rows[0]["meanKLDivergence"] == 0 and rows[1]["meanKLDivergence"] > 0
    decoded = subprocess.run([sys.executable, str(REPO / "scripts/reference/png_check.py"), str(chart)],
                             capture_output=True, text=True, check=True)
    image = json.loads(decoded.stdout)
    assert (image["width"], image["height"]) == (1200, 610)
    # Two dots, their labels, axes, grid and titles: a few percent of the pixels.
    assert image["colors"] >= 5 and 0.01 < image["non_background"] < 0.5


def test_an_unknown_method_lists_the_known_ones(bin_dir):
    result = tessera(bin_dir, "--methods", "q9_9", timeout=60)
    assert result.returncode == 64, result
    assert "q9_9" in result.stderr and "wanda24-q4_0" in result.stderr and "q4_k" in result.stderr


def test_a_missing_variant_file_is_one_line(bin_dir):
    result = tessera(bin_dir, "--methods", "/nonexistent/v.gguf", timeout=60)
    assert result.returncode == 1, result
    assert result.stderr.strip() == "tessera: error: variant file /nonexistent/v.gguf does not exist"


def test_a_window_longer_than_the_tokens_is_refused(bin_dir):
    result = tessera(bin_dir, "--context", "1024", "--tokens", "512", timeout=60)
    assert result.returncode == 64, result
    assert "--tokens must be at least --context" in result.stderr
