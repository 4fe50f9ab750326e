#!/usr/bin/env python3
"""Writes Tests/Reference/chat_templates.json with llama.cpp's built-in chat
templates (llama_chat_apply_template with a template *name*, no model needed).
Also renders the default model's own Jinja template (tokenizer.chat_template)
with jinja2, the way Hugging Face transformers does, as template "smollm2-135m:jinja"."""
from __future__ import annotations

import ctypes
import sys

import gguf
import jinja2.sandbox
import llama_cpp

import refcommon as rc

TEMPLATES = ["chatml", "llama2", "llama2-sys", "llama3", "gemma", "zephyr", "phi3", "mistral-v7"]

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "Name three primary colors."}],
    [{"role": "system", "content": "You answer in French."},
     {"role": "user", "content": "What is the capital of Italy?"},
     {"role": "assistant", "content": "La capitale de l'Italie est Rome."},
     {"role": "user", "content": "And of Spain?"}],
    [{"role": "user", "content": "  Leading spaces, a tab\there,\nnew lines\n\nand unicode: 日本語 🎉  "}],
]


def apply_builtin(name: str, messages, add_ass: bool) -> str:
    arr = (llama_cpp.llama_chat_message * len(messages))()
    keep = []
    for i, m in enumerate(messages):
        r, c = m["role"].encode(), m["content"].encode()
        keep += [r, c]
        arr[i].role, arr[i].content = r, c
    size = 4096
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_chat_apply_template(name.encode(), arr, len(messages), add_ass, buf, size)
        if n < 0:
            raise RuntimeError(f"template {name} not supported ({n})")
        if n <= size:
            return buf.raw[:n].decode("utf-8")
        size = n + 1


def model_template() -> str:
    r = gguf.GGUFReader(str(rc.DEFAULT_MODEL))
    return r.fields["tokenizer.chat_template"].contents()


def render_jinja(template: str, messages, add_generation_prompt: bool) -> str:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            bos_token="<|im_start|>", eos_token="<|im_end|>")


def main():
    out = []
    for name in TEMPLATES:
        for conv in CONVERSATIONS:
            out.append({"template": name, "messages": conv, "add_generation_prompt": True,
                        "text": apply_builtin(name, conv, True)})
        out.append({"template": name, "messages": CONVERSATIONS[2], "add_generation_prompt": False,
                    "text": apply_builtin(name, CONVERSATIONS[2], False)})
    tmpl = model_template()
    for conv in CONVERSATIONS:
        out.append({"template": "smollm2-135m:jinja", "messages": conv, "add_generation_prompt": True,
                    "text": render_jinja(tmpl, conv, True)})
    out.append({"template": "smollm2-135m:jinja", "messages": CONVERSATIONS[2], "add_generation_prompt": False,
                "text": render_jinja(tmpl, CONVERSATIONS[2], False)})
    rc.write_json(rc.REF_DIR / "chat_templates.json", out)
    print(f"{len(out)} renderings; llama.cpp {rc.llama_cpp_version()}", file=sys.stderr)


if __name__ == "__main__":
    main()
