#!/usr/bin/env python3
"""Writes what the `gguf` Python package (pip install gguf) reads from a GGUF file, as JSON.

GGUFTests compares Tessera's reader against this output.

    scripts/gguf-reference.py MODEL.gguf > Tests/Reference/gguf/smollm2-135m.json
"""
import importlib.metadata
import json
import sys

import gguf


def scalar(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return {"float": value}
    return value


def describe_field(field):
    types = [t.name for t in field.types]
    entry = {"key": field.name, "types": types}
    if types[0] == "ARRAY":
        contents = field.contents()
        entry["count"] = len(contents)
        entry["first"] = [scalar(v) for v in contents[:8]]
        entry["last"] = scalar(contents[-1]) if contents else None
    else:
        entry["value"] = scalar(field.contents())
    return entry


def main(path):
    reader = gguf.GGUFReader(path)
    fields = [f for name, f in reader.fields.items() if not name.startswith("GGUF.")]
    out = {
        "source": "gguf " + importlib.metadata.version("gguf") + " GGUFReader",
        "version": int(reader.fields["GGUF.version"].contents()),
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "metadata": [describe_field(f) for f in fields],
        "type_sizes": [
            {"name": t.name, "id": int(t), "block_size": size[0], "type_size": size[1]}
            for t, size in gguf.GGML_QUANT_SIZES.items()
        ],
        "tensors": [
            {
                "name": t.name,
                "type": t.tensor_type.name,
                "type_id": int(t.tensor_type),
                "shape": [int(d) for d in t.shape],
                "offset": int(t.data_offset) - int(reader.data_offset),
                "n_bytes": int(t.n_bytes),
            }
            for t in reader.tensors
        ],
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
