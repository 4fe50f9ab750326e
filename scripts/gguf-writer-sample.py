#!/usr/bin/env python3
"""Writes a small GGUF with the `gguf` Python package's GGUFWriter and prints its bytes as JSON.

GGUFTests builds the same file with Tessera's GGUFWriter and expects identical bytes.

    scripts/gguf-writer-sample.py > Tests/Reference/gguf/writer-sample.json
"""
import importlib.metadata
import json
import os
import tempfile

import gguf
import numpy as np

path = tempfile.mktemp(suffix=".gguf")
writer = gguf.GGUFWriter(path, arch="tessera-test")
writer.add_uint8("t.u8", 200)
writer.add_int8("t.i8", -5)
writer.add_uint16("t.u16", 60000)
writer.add_int16("t.i16", -300)
writer.add_uint32("t.u32", 4000000000)
writer.add_int32("t.i32", -7)
writer.add_float32("t.f32", 1.5)
writer.add_bool("t.bool", True)
writer.add_string("t.str", "h\u00e9llo \u2581 \U0001F600")
writer.add_uint64("t.u64", 2**63 + 5)
writer.add_int64("t.i64", -(2**40))
writer.add_float64("t.f64", -0.1)
writer.add_array("t.arr", ["a", "bc", ""])
writer.add_array("t.nested", [[1, 2], [3]])  # inner integers are stored as INT32
writer.add_tensor("a", np.arange(6, dtype=np.float32).reshape(2, 3))  # ggml dims [3, 2]
writer.add_tensor("b", np.array([1, 2, 3, 4, 5], dtype=np.float16))
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
data = open(path, "rb").read()
os.unlink(path)
print(json.dumps({"source": "gguf " + importlib.metadata.version("gguf") + " GGUFWriter",
                  "size": len(data), "hex": data.hex()}, indent=1))
