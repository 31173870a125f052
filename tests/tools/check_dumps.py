#!/usr/bin/env python3
"""check_dumps.py — `needlepoint normalize-tools` against Python, byte for byte.

For each tool list (hand-written cases plus seeded random ones: unicode, emoji, control
characters, floats, nested values, every accepted shape, and invalid lists) this script
computes the expected normalised list itself, following docs/tools.md with its own
independent implementation, serialises it with Python's
json.dumps(obj, separators=(",", ":")) and compares it with the CLI's stdout. Lists the
rules reject must make the CLI exit 1 with "error: INVALID_TOOLS: ...".

Pure standard library; any python3. Usage: check_dumps.py path/to/needlepoint [--cases N]
[--seed S] [--verbose]
"""
import argparse
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile


class Invalid(Exception):
    """The rules reject this tool list (expected: INVALID_TOOLS)."""


# ---- the rules, written independently of the C++ -----------------------------------------

def snake(name):
    s = re.sub(r"[^A-Za-z0-9]", "_", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return re.sub(r"_+", "_", s).strip("_").lower()


def first_type(t):
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        for e in t:
            if isinstance(e, str) and e != "null":
                return e
    return ""


def derive_type(spec):
    t = first_type(spec.get("type"))
    if t:
        return t
    for key in ("anyOf", "oneOf"):
        alts = spec.get(key)
        if isinstance(alts, list):
            for alt in alts:
                if isinstance(alt, dict):
                    t = first_type(alt.get("type"))
                    if t and t != "null":
                        return t
    return "string"


def check_common(spec):
    d = spec.get("description")
    if d is not None and not isinstance(d, str):
        raise Invalid("param description")
    e = spec.get("enum")
    if e is not None and not isinstance(e, list):
        raise Invalid("param enum")


def flat_params(params):
    out = {}
    for pname, spec in params.items():
        if not isinstance(spec, dict):
            raise Invalid("param spec")
        check_common(spec)
        flat = dict(spec)
        if "required" not in flat or flat["required"] is None:
            flat["required"] = False
        elif not isinstance(flat["required"], bool):
            raise Invalid("param required")
        out[pname] = flat
    return out


def schema_params(params):
    props = params.get("properties")
    if props is not None and not isinstance(props, dict):
        raise Invalid("properties")
    req = params.get("required")
    required = set()
    if req is not None:
        if not isinstance(req, list):
            raise Invalid("required list")
        for r in req:
            if not isinstance(r, str):
                raise Invalid("required entry")
            if props is None or r not in props:
                raise Invalid("required names no property")
            required.add(r)
    out = {}
    for pname, spec in (props or {}).items():
        if not isinstance(spec, dict):
            raise Invalid("property spec")
        check_common(spec)
        p = {"type": derive_type(spec), "description": spec.get("description") or ""}
        if spec.get("enum") is not None:
            p["enum"] = spec["enum"]
        p["required"] = pname in required or spec.get("required") is True
        out[pname] = p
    return out


def normalize(tools):
    if not isinstance(tools, list):
        raise Invalid("top level")
    out, originals, snakes = [], set(), set()
    for tool in tools:
        if not isinstance(tool, dict):
            raise Invalid("tool")
        src = tool
        if tool.get("function") is not None:
            src = tool["function"]
            if not isinstance(src, dict):
                raise Invalid("function")
        name = src.get("name")
        if not isinstance(name, str) or not name:
            raise Invalid("name")
        sn = snake(name)
        if not sn:
            raise Invalid("empty snake")
        desc = src.get("description")
        if desc is None:
            desc = ""
        elif not isinstance(desc, str):
            raise Invalid("description")
        params = src.get("parameters")
        if params is None:
            params = src.get("input_schema")
        norm_params = {}
        if params is not None:
            if not isinstance(params, dict):
                raise Invalid("parameters")
            if params.get("type") == "object":
                norm_params = schema_params(params)
            else:
                norm_params = flat_params(params)
        if name in originals or sn in snakes:
            raise Invalid("duplicate / collision")
        originals.add(name)
        snakes.add(sn)
        out.append({"name": sn, "description": desc, "parameters": norm_params})
    return out


# Numbers: integers must fit in 64 bits (signed, or unsigned when non-negative) and floats
# must be finite; NaN/Infinity are not JSON. Python alone would accept all three.
def parse_int(s):
    v = int(s)
    if not -2**63 <= v <= 2**64 - 1:
        raise Invalid("integer beyond 64 bits")
    return v


def parse_float(s):
    v = float(s)
    if not math.isfinite(v):
        raise Invalid("number overflow")
    return v


def parse_constant(s):
    raise Invalid("not JSON: " + s)


def expected_output(text_bytes):
    """Expected stdout bytes, or None when the list must be rejected."""
    try:
        text = text_bytes.decode("utf-8")
        tools = json.loads(text, parse_int=parse_int, parse_float=parse_float,
                           parse_constant=parse_constant)
        return (json.dumps(normalize(tools), separators=(",", ":")) + "\n").encode("ascii")
    except (Invalid, UnicodeDecodeError, ValueError):
        return None


# ---- random tool lists -------------------------------------------------------------------

CHAR_POOLS = [
    [chr(c) for c in range(0x20, 0x7F)],
    [chr(c) for c in range(0x00, 0x20)] + ["\x7f"],
    ['"', "\\", "/", "\b", "\f", "\n", "\r", "\t"],
    [chr(c) for c in range(0xA0, 0x180)],
    ["\u2028", "\u2029", "\ufeff", "\uffff", "\ufffd", "\u20ac", "\u4e2d", "\u5929", "\u6c17", "\u0394"],
    ["\U0001F600", "\U0001F680", "\U0001F9D1\u200d\U0001F4BB", "\U00010348", "\U0010FFFF"],
]


def rand_text(rng, max_len=12):
    n = rng.randint(0, max_len)
    out = []
    for _ in range(n):
        pool = CHAR_POOLS[rng.choices(range(len(CHAR_POOLS)), weights=[10, 1, 2, 2, 2, 2])[0]]
        out.append(rng.choice(pool))
    return "".join(out)


def rand_float(rng):
    while True:
        v = rand_float_any(rng)
        if math.isfinite(v):
            return v


def rand_float_any(rng):
    kind = rng.randrange(6)
    if kind == 0:
        while True:
            v = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if math.isfinite(v):
                return v
    if kind == 1:
        return float(f"{rng.randint(1, 999999)}e{rng.randint(-330, 310)}")
    if kind == 2:
        return float(rng.randint(-10**6, 10**6))
    if kind == 3:
        return rng.choice([0.0, -0.0, 0.1, 0.5, 1e-05, 1e-4, 1e16, 1e15, 1e22, 5e-324,
                           2.2250738585072014e-308, 1.7976931348623157e308, 0.30000000000000004])
    if kind == 4:
        return math.ldexp(1.0, rng.randint(-1074, 1023))
    return rng.uniform(-1000, 1000)


def rand_int(rng):
    return rng.choice([
        rng.randint(-100, 100),
        rng.randint(-2**63, 2**63 - 1),
        rng.randint(0, 2**64 - 1),
        rng.choice([0, -1, 2**63 - 1, -2**63, 2**64 - 1, 2**53, 2**53 + 1]),
    ])


def rand_value(rng, depth=0):
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 4 else [])
    k = rng.choice(kinds)
    if k == "null":
        return None
    if k == "bool":
        return rng.random() < 0.5
    if k == "int":
        return rand_int(rng)
    if k == "float":
        return rand_float(rng)
    if k == "str":
        return rand_text(rng)
    if k == "list":
        return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rand_text(rng, 6): rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


WORDS = ["get", "set", "weather", "HTTP", "Server", "url", "XML", "parse", "id", "2", "v3",
         "send", "Email", "timer", "ALARM", "list", "Item", "a", "B"]
SEPS = ["", "", "", "_", "-", ".", " ", "__", "/", ":", "é", "中"]


def rand_name(rng):
    r = rng.random()
    if r < 0.05:
        return rand_text(rng, 8)           # anything, often rejected
    parts = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
    name = ""
    for i, p in enumerate(parts):
        if rng.random() < 0.4:
            p = p[:1].upper() + p[1:]
        name += (rng.choice(SEPS) if i else "") + p
    if rng.random() < 0.1:
        name = " " + name + rng.choice(["", "_", "!"])
    return name


def rand_type(rng):
    return rng.choice([
        "string", "number", "integer", "boolean", "array", "object",
        ["string", "null"], ["null", "integer"], ["null"], [], "", "null",
    ])


def rand_param_spec(rng, schema):
    spec = {}
    keys = ["type", "description", "enum", "required", "extra", "anyOf", "default", "items"]
    rng.shuffle(keys)
    for key in keys:
        if rng.random() < 0.5:
            continue
        if key == "type":
            spec["type"] = rand_type(rng)
        elif key == "description":
            spec["description"] = rand_text(rng, 20) if rng.random() < 0.95 else rng.choice([None, 3])
        elif key == "enum":
            spec["enum"] = ([rand_value(rng, 3) for _ in range(rng.randint(0, 4))]
                            if rng.random() < 0.95 else rng.choice([None, "x"]))
        elif key == "required":
            spec["required"] = rng.choice([True, False, True, None]) if rng.random() < 0.97 else "yes"
        elif key == "anyOf":
            spec["anyOf"] = [{"type": rand_type(rng)} for _ in range(rng.randint(0, 3))]
        elif key == "items":
            spec["items"] = {"type": rand_type(rng)}
        else:
            spec[key] = rand_value(rng)
    if rng.random() < 0.01:
        return rand_value(rng)  # usually not an object: rejected
    return spec


def rand_parameters(rng):
    n = rng.randint(0, 5)
    names = [rand_text(rng, 10) if rng.random() < 0.3 else rng.choice(WORDS).lower() + str(i)
             for i in range(n)]
    if rng.random() < 0.5:  # flat
        return {pn: rand_param_spec(rng, False) for pn in names}
    props = {pn: rand_param_spec(rng, True) for pn in names}
    params = {"type": "object"}
    if props or rng.random() < 0.7:
        params["properties"] = props
    if rng.random() < 0.7:
        req = [pn for pn in props if rng.random() < 0.5]
        if rng.random() < 0.03:
            req.append("not_a_property")
        params["required"] = req
    if rng.random() < 0.3:
        params["additionalProperties"] = False
    items = list(params.items())
    rng.shuffle(items)
    return dict(items)


def rand_tool(rng):
    body = {}
    keys = ["name", "description", "parameters", "extra"]
    rng.shuffle(keys)
    for key in keys:
        if key == "name":
            body["name"] = rand_name(rng)
        elif key == "description" and rng.random() < 0.9:
            body["description"] = rand_text(rng, 30) if rng.random() < 0.97 else rng.choice([None, 1])
        elif key == "parameters" and rng.random() < 0.9:
            body["parameters"] = rand_parameters(rng) if rng.random() < 0.98 else rng.choice([None, [], "x"])
        elif key == "extra" and rng.random() < 0.2:
            body[rand_text(rng, 5)] = rand_value(rng)
    shape = rng.randrange(4)
    if shape == 0:
        return body
    if shape == 1:
        return {"type": "function", "function": body}
    if shape == 2:
        return dict({"type": "function"}, **body)
    if "parameters" in body:
        body["input_schema"] = body.pop("parameters")
    return body


def rand_tool_list(rng):
    return [rand_tool(rng) for _ in range(rng.randint(0, 6))]


# ---- hand-written cases ------------------------------------------------------------------

def fixed_cases(rng):
    cases = []
    published = ('[{"name":"get_weather","description":"Get current weather for a city.",'
                 '"parameters":{"location":{"type":"string","description":"City name.","required":true}}}]')
    cases.append(("published example", published.encode()))
    cases.append(("empty list", b"[]"))
    cases.append(("whitespace", b' [ { "name" : "getWeather" , "parameters" : { } } ] \n'))
    cases.append(("duplicate keys", b'[{"name":"a","name":"bB","description":"x","description":"y"}]'))
    cases.append(("raw utf-8", '[{"name":"caf\u00e9Order","description":"\u00e9\u4e2d\U0001F600 \u2028"}]'
                  .encode("utf-8")))
    cases.append(("escaped utf-16", b'[{"name":"x","description":"\\ud83d\\ude00\\u00e9\\u0000\\u001f\\u007f/"}]'))
    floats = [rand_float(rng) for _ in range(2000)]
    ints = [rand_int(rng) for _ in range(300)]
    cases.append(("floats and ints", json.dumps(
        [{"name": "numbers", "parameters": {"x": {"type": "number", "f": floats, "i": ints}}}]).encode()))
    cases.append(("float literals", b'[{"name":"n","parameters":{"x":{"v":[1.0,1e2,1E-7,-0.0,-0,0.1e1,'
                  b'123456789012345678,1.5e300,2.5e-320,9007199254740993]}}}]'))
    schema = {"type": "object", "properties": {
        "city": {"type": "string", "description": "City.", "default": "Paris"},
        "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
        "days": {"anyOf": [{"type": "null"}, {"type": "integer"}], "description": "n"},
        "raw": {}, "flag": {"type": "boolean", "required": True}},
        "required": ["city"], "additionalProperties": False}
    cases.append(("json-schema", json.dumps([{"name": "getWeather", "description": "W",
                                              "parameters": schema}]).encode()))
    cases.append(("openai", json.dumps([{"type": "function", "function": {
        "name": "HTTPServer", "description": "W", "parameters": schema}}]).encode()))
    cases.append(("anthropic", json.dumps([{"name": "get-user.name", "input_schema": schema}]).encode()))
    cases.append(("flat param named type", b'[{"name":"t","parameters":{"type":{"type":"string"}}}]'))
    # rejected
    cases.append(("not json", b'[{"name":'))
    cases.append(("not an array", b'{"name":"a"}'))
    cases.append(("invalid utf-8", b'[{"name":"a","description":"\xff"}]'))
    cases.append(("collision", b'[{"name":"getWeather"},{"name":"get_weather"}]'))
    cases.append(("duplicate", b'[{"name":"a"},{"name":"a"}]'))
    cases.append(("empty snake", '[{"name":"\u5929\u6c17"}]'.encode("utf-8")))
    cases.append(("required not bool", b'[{"name":"a","parameters":{"p":{"required":"yes"}}}]'))
    cases.append(("required unknown", b'[{"name":"a","parameters":{"type":"object","properties":{},'
                  b'"required":["p"]}}]'))
    return cases


# ---- driver ------------------------------------------------------------------------------

def run_cli(cli, text_bytes, tmpdir, inline):
    if inline:
        arg = text_bytes
    else:
        path = os.path.join(tmpdir, "tools.json")
        with open(path, "wb") as f:
            f.write(text_bytes)
        arg = "@" + path
    p = subprocess.run([cli, "normalize-tools", "--tools", arg], capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cli")
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--seed", type=int, default=20260512)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    cases = fixed_cases(rng)
    for i in range(args.cases):
        tools = rand_tool_list(rng)
        text = json.dumps(tools, ensure_ascii=rng.random() < 0.5,
                          indent=rng.choice([None, None, 2]))
        cases.append((f"random #{i}", text.encode("utf-8")))

    failures = accepted = rejected = 0
    with tempfile.TemporaryDirectory() as tmpdir:
        for idx, (label, text) in enumerate(cases):
            want = expected_output(text)
            inline = idx % 7 == 0 and b"\x00" not in text
            rc, out, err = run_cli(args.cli, text, tmpdir, inline)
            if want is None:
                ok = rc == 1 and err.startswith(b"error: INVALID_TOOLS: ") and out == b""
                rejected += ok
            else:
                ok = rc == 0 and out == want
                accepted += ok
            if not ok:
                failures += 1
                print(f"FAIL {label}: rc={rc}")
                print(f"  input:    {text[:600]!r}")
                print(f"  expected: {want[:600]!r}" if want else "  expected: INVALID_TOOLS")
                if want and out:
                    at = next((i for i, (a, b) in enumerate(zip(out, want)) if a != b),
                              min(len(out), len(want)))
                    print(f"  first difference at byte {at}: got {out[max(0, at - 40):at + 40]!r}")
                    print(f"                              want {want[max(0, at - 40):at + 40]!r}")
                else:
                    print(f"  stdout: {out[:300]!r}\n  stderr: {err[:300]!r}")
                if failures >= 10:
                    break
            elif args.verbose:
                print(f"ok   {label}")
    print(f"check_dumps: {len(cases)} cases, {accepted} matched byte for byte, "
          f"{rejected} rejected as expected, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
