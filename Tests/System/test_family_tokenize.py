"""`tessera tokenize` on each family's random-weight model gives the ids llama.cpp's own
tokenizer gives (llama-cpp-python, live): BOS added because the GGUF asks for it
(`add_bos_token`), special-token text (`<s>`, `</s>`) parsed only with --special. The
vocabulary is the same small SentencePiece one in every file, so this checks that each
architecture reaches the tokenizer its file declares, with the same special handling.
(The Gemma 3 270M file's own 262k vocabulary: test_model_families.py; SmolLM2's, which
declares no BOS: Tests/TokenizationTests.)"""
import json
import subprocess

import pytest

from test_model_families_cluster import FAMILIES, model_path

llama_cpp = pytest.importorskip("llama_cpp")

TEXTS = ["the cat and a dog", "  two  spaces\tand a tab\n\nnew line", "<s>the</s> of", "emoji 🤖 and 中文", ""]


@pytest.mark.parametrize("family", FAMILIES)
def test_tokenize_gives_llama_cpp_ids(bin_dir, family):
    path = model_path(family)
    vocabulary = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    for special in (False, True):
        for text in TEXTS:
            args = [str(bin_dir / "tessera"), "tokenize", "--model", str(path), text]
            if special:
                args.insert(2, "--special")
            ours = json.loads(subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout)
            expected = vocabulary.tokenize(text.encode("utf-8"), add_bos=True, special=special)
            assert ours == expected, (family, special, text)
            assert expected[0] == 1  # <s>
