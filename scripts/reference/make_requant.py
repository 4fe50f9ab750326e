#!/usr/bin/env python3
"""Makes requantized copies of the default model with llama.cpp's quantizer
(llama_model_quantize, allow_requantize) for the dequantization fixtures.
The copies go to /tmp/tessera-requant (never committed); prints their paths."""
from __future__ import annotations

import sys
from pathlib import Path

import llama_cpp

import refcommon as rc

OUT = Path("/tmp/tessera-requant")
FTYPES = {
    "Q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
    "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "Q6_K": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
    "F16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, ftype in FTYPES.items():
        dest = OUT / f"smollm2-135m-{name}.gguf"
        if not dest.exists():
            p = llama_cpp.llama_model_quantize_default_params()
            p.ftype = ftype
            p.allow_requantize = True
            p.nthread = 2
            rc_ = llama_cpp.llama_model_quantize(str(rc.DEFAULT_MODEL).encode(), str(dest).encode(), p)
            if rc_ != 0:
                sys.exit(f"quantize {name} failed: {rc_}")
        print(dest)


if __name__ == "__main__":
    main()
