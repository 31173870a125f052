#!/usr/bin/env python3
"""gen_corpus.py — deterministic text for the tokenizer agreement suite (stdlib only).

Writes three files into OUT_DIR:
  train.txt  several MB of varied text (UTF-8), enough for spm_train to fill an
             8192-piece BPE vocabulary: pseudo-words built from syllables in many scripts,
             English, JSON tool lists, tool calls, numbers, URLs, emoji;
  train_ascii.txt  English, JSON, numbers, URLs and code only (about 1 MB), for a small
             vocabulary (512) that must meet every other script through byte fallback;
  test.txt   >= 2,500 lines (bytes; not all valid UTF-8) that stress the encoder: every
             script, emoji ZWJ sequences / skin tones / flags, combining marks, tabs, runs
             of spaces, leading/trailing spaces, empty lines, literal U+2581, <tool_call>
             and <tools> in and around text, invalid UTF-8, control characters, very long
             lines, repetitive strings.

Usage: gen_corpus.py OUT_DIR [--seed N]
The same seed gives byte-identical files on every Python 3 (random.Random is stable).
Not here: training or comparing (run_agreement.py does that).
"""
import json
import os
import random
import sys

# ---- building blocks ---------------------------------------------------------------------

ENGLISH = """the of and to in is you that it he was for on are as with his they at be this
have from or one had by word but not what all were we when your can said there use an each
which she do how their if will up other about out many then them these so some her would make
like him into time has look two more write go see number no way could people my than first
water been call who oil its now find long down day did get come made may part weather city
tomorrow today send email message calendar meeting schedule reminder alarm timer music play
song artist album volume light lights temperature thermostat door lock unlock open close
search web news stock price flight hotel book restaurant table reservation translate convert
currency distance route directions traffic navigate call phone contact text note list add
remove delete update create set get check show tell find order pizza coffee taxi ride uber
please could would should what's where's how's it's don't can't won't I'm you're we're
location name description parameters required string number boolean integer array object
type properties function tool tools arguments query result error value key true false null
San Francisco New York London Paris Tokyo Berlin Sydney Toronto Mumbai Seoul Cairo Lima
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April June
July August September October November December morning evening night noon midnight""".split()

SYLLABLES = {
    "latin": ["ka", "lo", "mi", "ne", "tra", "sto", "be", "qu", "ix", "ar", "on", "el", "zu",
              "pe", "ri", "sha", "ch", "th", "ver", "gen", "dor", "lin", "ast", "ump", "ble",
              "cri", "fo", "gy", "hal", "jo", "kre", "mu", "nap", "ost", "pli", "rus", "sel",
              "tik", "ung", "vo", "wen", "xa", "yel", "zor", "ing", "tion", "ment", "ous"],
    "cyrillic": ["при", "вет", "мир", "по", "го", "да", "ра", "бо", "та", "ко", "ло", "ме",
                 "ни", "ст", "ро", "жи", "зн", "щи", "ча", "шу", "юр", "яз", "ык", "ов", "ев",
                 "ий", "ая", "ое", "ть", "ся", "хо", "фу", "цы", "эт", "ёл", "дн", "ск", "вл"],
    "greek": ["κα", "λη", "μέ", "ρα", "κό", "σμε", "θε", "ός", "πο", "λύ", "φι", "λο", "σο",
              "φί", "α", "γά", "πη", "νε", "ρό", "ψυ", "χή", "ζω", "ή", "ξε", "βί", "δι", "ς"],
    "arabic": ["مر", "حب", "ا", "سل", "ام", "عل", "يك", "كي", "ف", "حا", "لك", "شك", "ر",
               "الط", "قس", "الي", "وم", "مد", "ين", "ة", "كت", "اب", "ب", "ت", "ث", "ج", "خ"],
    "hebrew": ["של", "ום", "תו", "דה", "בב", "קש", "ה", "מז", "ג", "או", "וי", "ר", "עי",
               "ים", "מה", "נש", "מע", "ך", "םן", "ףץ", "לך", "כן", "לא", "אנ", "י"],
    "devanagari": ["नम", "स्ते", "धन्य", "वाद", "मौ", "सम", "आज", "कल", "शह", "र", "की", "है",
                   "में", "से", "को", "का", "कृ", "प", "या", "भा", "ष", "हि", "न्दी", "ज्ञ"],
    "thai": ["สวั", "สดี", "ขอ", "บคุ", "ณ", "อา", "กา", "ศ", "วัน", "นี้", "เมื", "อง",
             "ไทย", "ภา", "ษา", "รั", "ก", "ที่", "และ", "ใน", "เป็", "น", "มี", "ได้"],
    "kana": ["こん", "にち", "は", "あり", "がと", "う", "天気", "東京", "です", "ます", "カ",
             "タ", "カナ", "ラー", "メン", "ソフ", "ト", "ウェ", "ア", "の", "を", "に", "で"],
}

CJK_POOL = ("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着"
            "去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主"
            "行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理"
            "美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四"
            "天气北京上海城市明天今天下雨温度会议日程提醒闹钟音乐播放歌曲搜索新闻股票价格航班酒店")


def hangul(rng):
    lead = rng.randrange(19)
    vowel = rng.randrange(21)
    tail = rng.choice([0, 0, 0, rng.randrange(28)])
    return chr(0xAC00 + (lead * 21 + vowel) * 28 + tail)


def pseudo_word(rng, script):
    if script == "english":
        return rng.choice(ENGLISH)
    if script == "cjk":
        return "".join(rng.choice(CJK_POOL) for _ in range(rng.randint(1, 4)))
    if script == "korean":
        return "".join(hangul(rng) for _ in range(rng.randint(1, 4)))
    syl = SYLLABLES[script]
    return "".join(rng.choice(syl) for _ in range(rng.randint(1, 4)))


SCRIPTS = ["english", "latin", "cyrillic", "greek", "arabic", "hebrew", "devanagari", "cjk",
           "kana", "thai", "korean"]
NO_SPACE_SCRIPTS = {"cjk", "kana", "thai"}

EMOJI = ["😀", "😂", "🥲", "🔥", "🎉", "❤️", "👍", "🙏", "🚀", "🌍", "☀️", "🌧️", "⚡", "🍕",
         "☕", "✈️", "🏠", "📅", "⏰", "🎵", "📧", "✅", "❌", "⭐", "💡", "🤖", "🐍", "🦀"]
SKIN = ["\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"]
ZWJ = ["👨\u200d👩\u200d👧\u200d👦", "👩\u200d💻", "🏳️\u200d🌈", "🧑🏽\u200d🚀",
       "👨🏿\u200d🍳", "🏴\u200d☠️", "👁️\u200d🗨️", "🧔\u200d♀️", "❤️\u200d🔥"]
FLAGS = ["US", "DE", "JP", "FR", "BR", "IN", "KR", "GB", "CN", "RU", "IL", "EG", "TH", "GR"]
KEYCAPS = ["1\ufe0f\u20e3", "#\ufe0f\u20e3", "*\ufe0f\u20e3", "0\ufe0f\u20e3"]


def emoji(rng):
    k = rng.randrange(6)
    if k == 0:
        return rng.choice(EMOJI)
    if k == 1:
        return rng.choice(["👍", "👋", "🙌", "👏", "🤝", "💪", "🧑"]) + rng.choice(SKIN)
    if k == 2:
        return rng.choice(ZWJ)
    if k == 3:
        cc = rng.choice(FLAGS)
        return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in cc)
    if k == 4:
        return rng.choice(KEYCAPS)
    return chr(rng.randint(0x1F300, 0x1FAFF))  # anything in the emoji blocks, often rare


def combining(rng):
    base = rng.choice("aeiouAEIOUnyczsxqwg")
    marks = "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 4)))
    return base + marks


def number(rng):
    k = rng.randrange(10)
    if k == 0:
        return str(rng.randint(0, 10 ** rng.randint(1, 12)))
    if k == 1:
        return f"{rng.uniform(-1000, 1000):.{rng.randint(1, 6)}f}"
    if k == 2:
        return f"+1 ({rng.randint(200, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if k == 3:
        return f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
    if k == 4:
        return f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}"
    if k == 5:
        return "".join(chr(0x660 + rng.randrange(10)) for _ in range(rng.randint(1, 5)))  # Arabic-Indic
    if k == 6:
        return "".join(chr(0x966 + rng.randrange(10)) for _ in range(rng.randint(1, 5)))  # Devanagari
    if k == 7:
        return "".join(chr(0xFF10 + rng.randrange(10)) for _ in range(rng.randint(1, 5)))  # full-width
    if k == 8:
        return f"{rng.randint(1, 100)}%"
    return f"${rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"


def url(rng):
    host = rng.choice(["example.com", "api.weather.gov", "www.google.com", "github.com",
                       "huggingface.co", "en.wikipedia.org", "localhost:8080", "192.168.0.1"])
    path = "/".join(pseudo_word(rng, "latin") for _ in range(rng.randint(0, 4)))
    q = "&".join(f"{pseudo_word(rng, 'latin')}={rng.randint(0, 999)}" for _ in range(rng.randint(0, 3)))
    u = f"{rng.choice(['https', 'http', 'ftp'])}://{host}/{path}"
    if q:
        u += "?" + q
    if rng.random() < 0.2:
        u += "#" + pseudo_word(rng, "latin")
    k = rng.randrange(5)
    if k == 0:
        return f"{pseudo_word(rng, 'latin')}.{pseudo_word(rng, 'latin')}@{host}"
    if k == 1:
        return "C:\\Users\\" + pseudo_word(rng, "latin") + "\\Documents\\file_" + str(rng.randint(1, 99)) + ".txt"
    return u


CODE = ["def f(x):\n    return x ** 2", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "if x != None and y >= 3: print(f\"{x=}\")", "const x = await fetch(url, {method: 'POST'});",
        "SELECT * FROM users WHERE id = 42;", "<div class=\"row\">&nbsp;</div>", "a && b || !c",
        "std::vector<int32_t> ids;", "x <<= 2; y >>= 1; z ^= 0xFF;", "#include <stdio.h>",
        "$ ls -la | grep '^d' > out.txt 2>&1", "{{template}} [[link]] ((paren))", "λx.x → ∀y∃z"]


def snake_or_camel(rng):
    words = [pseudo_word(rng, "english").lower().replace("'", "") for _ in range(rng.randint(1, 3))]
    k = rng.randrange(3)
    if k == 0:
        return "_".join(words)
    if k == 1:
        return words[0] + "".join(w.capitalize() for w in words[1:])
    return "".join(w.capitalize() for w in words)


def sentence(rng, script=None, n=None):
    script = script or rng.choice(SCRIPTS)
    n = n or rng.randint(2, 14)
    sep = "" if script in NO_SPACE_SCRIPTS and rng.random() < 0.7 else " "
    words = [pseudo_word(rng, script) for _ in range(n)]
    if script in ("english", "latin"):
        words = [w.capitalize() if rng.random() < 0.1 else (w.upper() if rng.random() < 0.03 else w)
                 for w in words]
        if words:
            words[0] = words[0][:1].upper() + words[0][1:]
    s = sep.join(words)
    return s + rng.choice([".", "?", "!", "", ",", "...", " :)", "。", "؟", "।"])


def tools_json(rng, ensure_ascii=True):
    tools = []
    for _ in range(rng.randint(1, 4)):
        params = {}
        for _ in range(rng.randint(0, 4)):
            params[snake_or_camel(rng)] = {
                "type": rng.choice(["string", "number", "boolean", "integer", "array"]),
                "description": sentence(rng, rng.choice(["english", "english", "cyrillic", "cjk"]), rng.randint(2, 8)),
                "required": rng.random() < 0.5,
            }
        tools.append({"name": snake_or_camel(rng),
                      "description": sentence(rng, "english", rng.randint(3, 10)),
                      "parameters": params})
    if rng.random() < 0.3:
        return json.dumps(tools, ensure_ascii=ensure_ascii)  # ", " and ": " separators
    return json.dumps(tools, separators=(",", ":"), ensure_ascii=ensure_ascii)


def tool_call(rng):
    calls = []
    for _ in range(rng.randint(0, 2)):
        args = {snake_or_camel(rng): rng.choice([sentence(rng, None, rng.randint(1, 3)), rng.randint(0, 999),
                                                 rng.random() < 0.5, round(rng.uniform(0, 100), 2)])
                for _ in range(rng.randint(0, 3))}
        calls.append({"name": snake_or_camel(rng), "arguments": args})
    return "<tool_call>" + json.dumps(calls, separators=(",", ":"), ensure_ascii=rng.random() < 0.7)


def segment(rng):
    k = rng.randrange(20)
    if k < 8:
        return sentence(rng)
    if k == 8:
        return emoji(rng)
    if k == 9:
        return combining(rng)
    if k == 10:
        return number(rng)
    if k == 11:
        return url(rng)
    if k == 12:
        return rng.choice(CODE).replace("\n", " ")
    if k == 13:
        return tools_json(rng, rng.random() < 0.7)
    if k == 14:
        return tool_call(rng)
    if k == 15:
        return rng.choice(["<tools>", "<tool_call>", " <tools> ", "<tools>" + tools_json(rng)])
    if k == 16:
        return rng.choice(["\t", "  ", "   ", "\u00a0", "\u3000", "\u2003", "\u200b", "\u2581", " \t "])
    if k == 17:
        return sentence(rng, "english").upper()
    if k == 18:
        return "".join(rng.choice("!@#$%^&*()_+-=[]{};:'\",.<>/?\\|`~") for _ in range(rng.randint(1, 6)))
    return pseudo_word(rng, rng.choice(SCRIPTS)) * rng.randint(1, 3)


def mixed_line(rng, max_segments=6):
    parts = [segment(rng) for _ in range(rng.randint(1, max_segments))]
    return "".join(p + rng.choice([" ", " ", " ", "", "  ", "\t"]) for p in parts).rstrip(" ") \
        if rng.random() < 0.8 else " ".join(parts)


# ---- training text ------------------------------------------------------------------------

def train_lines(rng, n_lines):
    for i in range(n_lines):
        k = i % 10
        if k < 4:
            yield " ".join(sentence(rng) for _ in range(rng.randint(1, 3)))
        elif k < 6:
            yield " ".join(sentence(rng, "english") for _ in range(rng.randint(1, 4)))
        elif k == 6:
            yield sentence(rng, "english", rng.randint(3, 10)) + " <tools> " + tools_json(rng)
        elif k == 7:
            yield tool_call(rng)
        else:
            yield mixed_line(rng, 8)


def train_lines_ascii(rng, n_lines):
    """English, JSON and numbers only: for the small model, which then meets every other
    script through byte fallback."""
    for i in range(n_lines):
        k = i % 5
        if k < 2:
            yield " ".join(sentence(rng, rng.choice(["english", "latin"])) for _ in range(rng.randint(1, 3)))
        elif k == 2:
            yield sentence(rng, "english", rng.randint(3, 10)) + " <tools> " + tools_json(rng, True)
        elif k == 3:
            yield tool_call(rng).encode("ascii", "backslashreplace").decode()
        else:
            yield " ".join([number(rng), url(rng), rng.choice(CODE).replace("\n", " ")])


# ---- test lines -----------------------------------------------------------------------------

EDGE_CASES = [
    "", " ", "  ", "\t", " \t ", "\u2581", "\u2581\u2581", " \u2581 ", "x\u2581", "\u2581x", "a \u2581b",
    "<tools>", " <tools> ", "<tools><tool_call>", "<tool_call>", "<tool_call", "tools>", "<TOOLS>",
    "<<tools>>", "<tools>x<tools>", "x<tool_call>[]", "<tool_call><tool_call>", "  <tools>  ",
    "a", "aa", "aaa", "aaaa", "a" * 63, "ab" * 40, "abc" * 33, "\u2581" * 10, " " * 50 + "x" + " " * 50,
    "Hello, world!", "hello world", "HELLO WORLD", "What's the weather in San Francisco?",
    "e\u0301", "\u00e9", "n\u0303o", "Z\u0351\u0308\u0324\u0330a\u0336\u0301lgo",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466", "\U0001F44D\U0001F3FD", "\U0001F1FA\U0001F1F8",
    "\ufeffBOM at start", "zero\u200bwidth", "nbsp\u00a0here", "ideographic\u3000space",
    "tab\tseparated\tvalues", "trailing tab\t", "\tleading tab", "line with \r carriage return",
    "ends with cr\r", "\r", "\x0b\x0c\x1c\x1d\x1e\x1f", "\x7f", "bell\x07", "esc\x1b[31mred\x1b[0m",
    "\U0010FFFF", "\ue000 private use", "\ufffd literal replacement", "\ufffd", "\uffff\ufffe",
    "1234567890", "3.14159", "-0.0", "1e-10", "0x1F", "١٢٣", "१२३", "１２３",
    '[{"name":"get_weather","description":"Get current weather for a city.","parameters":{"location":{"type":"string","description":"City name.","required":true}}}]',
    '<tool_call>[{"name":"get_weather","arguments":{"location":"San Francisco"}}]',
    '[{"name":"caf\\u00e9","arguments":{}}]', "{}", "[]", '""', "\\n\\t\\u0000",
]

INVALID_BYTES = [b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc3", b"\xc3\x28", b"\xc0\xaf", b"\xe0\x80\xaf",
                 b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
                 b"\xe2\x96", b"\xf0\x9f\x98", b"\xf0\x9f", b"\xc1\xbf", b"\xe0\x9f\xbf",
                 b"\xf0\x8f\xbf\xbf", b"\xfc\x80\x80\x80\x80\x80", b"\x00", b"\x00\x00"]


def corrupt(rng, text):
    """Inserts invalid UTF-8 (and NUL) at random byte positions, or cuts a character."""
    b = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 3)):
        pos = rng.randint(0, len(b))
        b[pos:pos] = rng.choice(INVALID_BYTES)
    if rng.random() < 0.3 and len(b) > 2:
        cut = rng.randint(1, len(b) - 1)
        b = b[:cut]  # may end inside a character
    return bytes(b)


def test_lines(rng):
    out = [s.encode("utf-8") for s in EDGE_CASES]
    out += [bytes(x) for x in INVALID_BYTES]
    out += [b"a" + x + b"b" for x in INVALID_BYTES] + [b" " + x + b" " for x in INVALID_BYTES]
    for script in SCRIPTS:                                   # each script, plain
        for _ in range(60):
            out.append(sentence(rng, script).encode("utf-8"))
    for _ in range(150):
        out.append((" ".join(emoji(rng) for _ in range(rng.randint(1, 6)))).encode("utf-8"))
        out.append((sentence(rng, "english") + " " + emoji(rng) + emoji(rng)).encode("utf-8"))
    for _ in range(100):
        out.append(" ".join(combining(rng) + pseudo_word(rng, "latin") for _ in range(rng.randint(1, 5))).encode("utf-8"))
    for _ in range(150):                                    # whitespace shapes
        s = sentence(rng)
        lead = rng.choice(["", " ", "  ", "\t", " \t", "      "])
        trail = rng.choice(["", " ", "   ", "\t", "\t ", "\u2581", " \u2581"])
        inner = rng.choice([" ", "  ", "    ", "\t", " \t ", "\u00a0"])
        out.append((lead + s.replace(" ", inner) + trail).encode("utf-8"))
    for _ in range(120):
        out.append(tools_json(rng, rng.random() < 0.7).encode("utf-8"))
        out.append(tool_call(rng).encode("utf-8"))
    for _ in range(120):                                    # query <tools> tools, like the encoder sees
        q = sentence(rng, rng.choice(SCRIPTS))
        out.append((q + rng.choice(["<tools>", " <tools>", "<tools> ", " <tools> "]) + tools_json(rng)).encode("utf-8"))
    for _ in range(100):
        out.append(" ".join(number(rng) for _ in range(rng.randint(1, 6))).encode("utf-8"))
        out.append((url(rng) + " " + sentence(rng, "english")).encode("utf-8"))
    for _ in range(60):
        out.append(rng.choice(CODE).replace("\n", "\t").encode("utf-8"))
    for _ in range(120):
        out.append(corrupt(rng, mixed_line(rng)))
    for _ in range(200):                                    # random unicode soup, incl. rare chars
        chars = []
        for _ in range(rng.randint(1, 30)):
            k = rng.randrange(6)
            if k == 0:
                chars.append(chr(rng.randint(0x20, 0x7E)))
            elif k == 1:
                chars.append(chr(rng.randint(0xA0, 0x24FF)))
            elif k == 2:
                chars.append(chr(rng.randint(0x4E00, 0x9FFF)))
            elif k == 3:
                chars.append(chr(rng.randint(0x10000, 0x10FFFF)) if rng.random() < 0.3 else chr(rng.randint(0x1F300, 0x1FAFF)))
            elif k == 4:
                chars.append(rng.choice([" ", "  ", "\t", "\u2581", "<tools>", "<tool_call>"]))
            else:
                cp = rng.randint(0xE000, 0xFFFD)
                chars.append(chr(cp))
        out.append("".join(chars).encode("utf-8", "surrogatepass"))
    for _ in range(100):                                    # repetitive strings: merge tie order
        unit = rng.choice(["a", "ab", "aba", "▁", " a", "la", "ко", "的", "ab ", "xyz", "00", "ñ"])
        out.append((unit * rng.randint(2, 200)).encode("utf-8"))
    while len(out) < 2700:
        out.append(mixed_line(rng).encode("utf-8"))
    for i in range(25):                                     # very long lines
        parts = []
        size = rng.choice([2000, 5000, 10000, 30000])
        while sum(len(p) for p in parts) < size:
            parts.append(mixed_line(rng, 10) if i % 3 else sentence(rng, "english"))
        out.append(" ".join(parts).encode("utf-8"))
    for line in out:
        assert b"\n" not in line
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: gen_corpus.py OUT_DIR [--seed N]")
    out_dir = sys.argv[1]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1234
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(seed)
    with open(os.path.join(out_dir, "train.txt"), "w", encoding="utf-8", newline="\n") as f:
        for line in train_lines(rng, 40000):
            f.write(line.replace("\n", " ") + "\n")
    rng = random.Random(seed + 2)
    with open(os.path.join(out_dir, "train_ascii.txt"), "w", encoding="utf-8", newline="\n") as f:
        for line in train_lines_ascii(rng, 8000):
            f.write(line.replace("\n", " ") + "\n")
    rng = random.Random(seed + 1)
    lines = test_lines(rng)
    with open(os.path.join(out_dir, "test.txt"), "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    print(f"gen_corpus: {len(lines)} test lines, train.txt {os.path.getsize(os.path.join(out_dir, 'train.txt'))} bytes")


if __name__ == "__main__":
    main()
