"""Input strings for the tokenization reference (Tests/Reference/tokenization/*.json).
Each case: (text, special, add_bos). Written for Tessera; deliberately varied."""

LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 4
LONG_NUMBER = "31415926535897932384626433832795028841971693993751"

PY_CODE = '''def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


if __name__ == "__main__":
    print([fib(i) for i in range(10)])
'''

SWIFT_CODE = '''struct Token: Hashable, Sendable {
\tlet id: Int32
\tvar text: String

\tfunc isSpecial() -> Bool { text.hasPrefix("<|") && text.hasSuffix("|>") }
}

let tokens = [Token(id: 1, text: "<|im_start|>")].filter { !$0.isSpecial() }
'''

JSON_TEXT = '''{
  "model": "smollm2-135m",
  "layers": 30,
  "heads": {"q": 9, "kv": 3},
  "rope_theta": 100000.0,
  "tags": ["edge", "llm", null, true, false],
  "ratio": -1.5e-3
}'''

CHATML = ("<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n"
          "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")

_plain = [
    # empty / whitespace
    "",
    " ",
    "  ",
    "   leading spaces",
    "trailing spaces   ",
    "a  b   c    d     e",
    "\t",
    "tab\tseparated\tvalues",
    "\t\tdouble tab indent",
    " \t \t mixed whitespace \t ",
    "\n",
    "line one\nline two",
    "windows\r\nline endings\r\n",
    "\n\n\nthree newlines first",
    "paragraph one.\n\nparagraph two.\n\n\n\nafter four",
    "spaces before newline   \n   and after",
    "\u00a0non-breaking\u00a0space",
    # words, case, contractions
    "Hello, world!",
    "hello world",
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "It's John's book; they're here, we've gone, I'm fine, you'll see, he'd know, don't.",
    "IT'S JOHN'S; THEY'RE WE'VE I'M YOU'LL HE'D DON'T",
    "It’s a curly apostrophe",
    "'s 't 're 've 'm 'll 'd",
    "rock'n'roll o'clock y'all",
    # numbers
    "0",
    "7 42 123 1234 12345 123456",
    LONG_NUMBER,
    "3.14159 -2.5e-10 1,000,000 0x1F 0b1010",
    "version 1.2.3-beta+build.45",
    "2024-06-01T12:34:56Z",
    "Call +1 (555) 010-9999 now",
    # URLs / emails / paths
    "https://example.com/path/to/page?query=1&lang=en#section",
    "Visit http://www.example.org or ftp://files.example.net/pub/",
    "contact: first.last+tag@mail.example.co.uk",
    "/usr/local/bin/swift build -c release",
    "C:\\Users\\tessera\\models\\model.gguf",
    # code
    PY_CODE,
    SWIFT_CODE,
    JSON_TEXT,
    "x = [i**2 for i in range(10) if i % 2 == 0]  # squares",
    "if (a != b && c >= d || !e) { return; }",
    "<div class=\"main\"><p>Hello &amp; welcome</p></div>",
    "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;",
    # punctuation
    "!!!???...,,,;;;:::",
    "Wait... what?! No way!!!",
    "----------====----------",
    "«quotes» “double” ‘single’ — en–dash … ellipsis",
    "(((nested))) [[[brackets]]] {{{braces}}}",
    "@#$%^&*()_+-=~`|\\",
    # scripts
    "日本語のテキストを分割します。",
    "我爱自然语言处理。今天天气很好！",
    "漢字とひらがなとカタカナ、そしてＡＢＣ全角英字",
    "안녕하세요, 세계! 한국어 토큰화 테스트입니다.",
    "مرحبا بالعالم، هذا اختبار للتقسيم.",
    "नमस्ते दुनिया, यह एक परीक्षण है।",
    "Привет, мир! Это проверка токенизатора.",
    "Γειά σου Κόσμε",
    "สวัสดีครับ ภาษาไทย",
    "עברית מימין לשמאל",
    # accents / combining marks
    "café naïve résumé façade Ångström",
    "cafe\u0301 nai\u0308ve (combining marks)",
    "Z\u0335\u0322a\u0336\u0327l\u0334g\u0337o\u0338 text",
    "ﬁ ligature, ½ fraction, ² superscript, Ⅻ numeral",
    # emoji
    "I love pizza 🍕🍕🍕",
    "family 👨‍👩‍👧‍👦 and technologist 👩🏽‍💻",
    "flags 🇯🇵🇺🇸🇩🇪🏳️‍🌈",
    "thumbs 👍🏻👍🏿 heart ❤️ keycap 1️⃣",
    # long
    LONG_WORD,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    ("The edge cluster routes each request to the node with the lowest expected latency. " * 3).strip(),
    # control characters
    "bell\x07 null-ish \x01 escape \x1b[0m",
]

_special = [
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>user\nHi there!<|im_end|>\n",
    CHATML,
    "text before <|endoftext|> text after",
    "<|im_start|><|im_end|><|endoftext|>",
    "not special: <|im_star|> <im_end> < |im_end| >",
]


def cases():
    out = [(t, False, False) for t in _plain]
    for t in _special:
        out.append((t, True, False))
        out.append((t, False, False))
    # a few with BOS requested explicitly
    for t in ["Hello, world!", "", "<|im_start|>user\nHi<|im_end|>"]:
        out.append((t, True, True))
    return out
