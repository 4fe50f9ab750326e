"""ctypes access to the C quantize/dequantize routines of the ggml library that
llama-cpp-python ships (llama_cpp/lib/libggml-base.so). Used only to cross-check
gguf's Python (numpy) implementation against llama.cpp's C code."""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

_lib = None


class _TypeTraits(ctypes.Structure):
    # struct ggml_type_traits from ggml.h (llama.cpp vendored by llama-cpp-python 0.3.36)
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def lib():
    global _lib
    if _lib is None:
        import llama_cpp  # noqa: F401  (loads libllama and its ggml dependencies)

        libdir = Path(llama_cpp.__file__).parent / "lib"
        cands = sorted(libdir.glob("libggml-base.*"))
        if not cands:
            raise RuntimeError(f"libggml-base not found in {libdir}")
        l = ctypes.CDLL(str(cands[0]))
        l.ggml_quantize_chunk.restype = ctypes.c_size_t
        l.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                          ctypes.c_void_p]
        l.ggml_get_type_traits.restype = ctypes.POINTER(_TypeTraits)
        l.ggml_get_type_traits.argtypes = [ctypes.c_int]
        l.ggml_row_size.restype = ctypes.c_size_t
        l.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
        _lib = l
    return _lib


def quantize(values: np.ndarray, qtype: int, n_per_row: int) -> bytes:
    """ggml_quantize_chunk without importance matrix (the path llama-quantize takes)."""
    src = np.ascontiguousarray(values, dtype=np.float32)
    nrows = src.size // n_per_row
    assert nrows * n_per_row == src.size
    l = lib()
    out = ctypes.create_string_buffer(l.ggml_row_size(qtype, n_per_row) * nrows)
    n = l.ggml_quantize_chunk(qtype, src.ctypes.data, out, 0, nrows, n_per_row, None)
    return out.raw[:n]


def dequantize(data: bytes, qtype: int, n_values: int) -> np.ndarray:
    tr = lib().ggml_get_type_traits(qtype).contents
    fn = _TO_FLOAT(tr.to_float)
    buf = ctypes.create_string_buffer(bytes(data), len(data))
    out = np.zeros(n_values, dtype=np.float32)
    fn(ctypes.addressof(buf), out.ctypes.data, n_values)
    return out
