"""Small helpers shared by the reference-data generators in scripts/reference/."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
REF_DIR = REPO / "Tests" / "Reference"
MODEL_DIR = Path(os.environ.get("TESSERA_MODEL_DIR", Path.home() / ".cache" / "tessera" / "models"))
DEFAULT_MODEL = MODEL_DIR / "smollm2-135m.gguf"
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def f32(x) -> float:
    """A float32 value as the Python float whose repr is the shortest decimal that
    round-trips to the same float32 (keeps JSON small and exact for Float parsing)."""
    v = np.float32(x)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {v}")
    return float(str(v))


def f32_list(a) -> list[float]:
    return [f32(x) for x in np.asarray(a, dtype=np.float32).ravel()]


def write_json(path: Path, obj, indent_top: bool = True) -> None:
    """Writes JSON compactly: one top-level key / list element per line, the rest dense."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if indent_top:
        text = _pretty_shallow(obj)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size} bytes)", file=sys.stderr)


def _dense(o) -> str:
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


def _pretty_shallow(obj) -> str:
    # Two levels of structure on separate lines (dict keys, list items, and the items
    # of lists held directly by the top-level dict); everything deeper stays dense.
    if isinstance(obj, dict):
        parts = []
        for k, v in obj.items():
            if isinstance(v, list) and v and isinstance(v[0], (dict, list)):
                inner = ",\n".join("  " + _dense(x) for x in v)
                parts.append(f" {_dense(k)}: [\n{inner}\n ]")
            else:
                parts.append(f" {_dense(k)}: {_dense(v)}")
        return "{\n" + ",\n".join(parts) + "\n}"
    if isinstance(obj, list):
        return "[\n" + ",\n".join(" " + _dense(x) for x in obj) + "\n]"
    return _dense(obj)


# llama.cpp commit vendored by llama-cpp-python 0.3.36 (vendor/llama.cpp in the sdist).
LLAMA_CPP_COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"


def llama_cpp_version() -> str:
    """llama-cpp-python version plus the vendored llama.cpp commit."""
    import importlib.metadata

    import llama_cpp

    lib = llama_cpp.llama_version().decode()
    return (f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}, "
            f"llama.cpp {lib} commit {LLAMA_CPP_COMMIT[:10]}")
