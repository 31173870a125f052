#!/usr/bin/env python3
"""check_datagen.py — `needlepoint generate-data` end to end (ctest `datagen_cli`).

Generates train/dev/test files through the CLI and checks them with an independent Python
reading of the format: every line is {"query", "tools", "answers"}; every answer names a
tool as offered and uses only that tool's parameter keys (whatever schema shape the tool is
written in), with values of the declared JSON type, required keys present and string values
grounded in the query; the same seed gives the same bytes; the stats report is complete;
--check-disjoint accepts train/test and refuses train/dev; --avoid keeps dev from repeating
train examples; a teacher (a real HTTP server on
127.0.0.1 answering with prepared completions, plain and chunked, good, value-dropping and
failing) is used only where its reply passes validation; bad content and bad arguments fail
with the documented exit codes and messages. Exits non-zero on the first failure.
"""
import argparse
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cli, args, expect_rc=0):
    p = subprocess.run([cli] + args, capture_output=True, text=True)
    if p.returncode != expect_rc:
        fail("%s -> rc %d (expected %d)\nstdout: %s\nstderr: %s" % (" ".join(args), p.returncode, expect_rc,
                                                                    p.stdout[-2000:], p.stderr[-2000:]))
    return p


def snake(name):
    """The tools layer's snake_case (docs/tools.md)."""
    s = re.sub(r"[^A-Za-z0-9]", "_", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return re.sub(r"_+", "_", s).strip("_").lower()


def tool_view(t):
    """(name, description, {param: (type, required, enum)}) for any accepted shape."""
    f = t.get("function") if isinstance(t.get("function"), dict) else t
    params = f.get("parameters")
    if params is None:
        params = f.get("input_schema")
    out = {}
    if isinstance(params, dict) and params.get("type") == "object":
        req = set(params.get("required") or [])
        for k, v in (params.get("properties") or {}).items():
            out[k] = (v.get("type", "string"), k in req, v.get("enum"))
    elif isinstance(params, dict):
        for k, v in params.items():
            out[k] = (v.get("type", "string"), bool(v.get("required", False)), v.get("enum"))
    return f["name"], f.get("description", ""), out


def type_ok(t, enum, v):
    if t == "string":
        return isinstance(v, str) and (enum is None or v in enum)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "array":
        return isinstance(v, list) and v and all(isinstance(e, str) for e in v)
    return False


def num_text(v):
    s = repr(v)
    return s[:-2] if s.endswith(".0") else s


def check_file(path, count):
    lines = open(path, encoding="utf-8").read().split("\n")
    if lines[-1] != "":
        fail(path + ": last line has no newline")
    lines = lines[:-1]
    if len(lines) != count:
        fail("%s: %d lines, expected %d" % (path, len(lines), count))
    seen = set()
    kinds = {0: 0, 1: 0, 2: 0}
    for i, line in enumerate(lines, 1):
        ex = json.loads(line)
        q = ex["query"]
        ql = q.lower()
        if not q:
            fail("%s:%d: empty query" % (path, i))
        tools = {}
        for t in ex["tools"]:
            name, _, params = tool_view(t)
            tools[name] = params
        if not 1 <= len(tools) <= 10:
            fail("%s:%d: %d tools" % (path, i, len(tools)))
        kinds[len(ex["answers"])] += 1
        for call in ex["answers"]:
            if call["name"] not in tools:
                fail("%s:%d: answer names %r, not offered" % (path, i, call["name"]))
            params = tools[call["name"]]
            for k, (t, req, enum) in params.items():
                if req and k not in call["arguments"]:
                    fail("%s:%d: required %r missing" % (path, i, k))
            for k, v in call["arguments"].items():
                if k not in params:
                    fail("%s:%d: key %r not offered" % (path, i, k))
                t, _, enum = params[k]
                if not type_ok(t, enum, v):
                    fail("%s:%d: %r=%r is not %s" % (path, i, k, v, t))
                for e in (v if isinstance(v, list) else [v]):
                    if isinstance(e, str) and e.lower() not in ql:
                        fail("%s:%d: value %r not in query %r" % (path, i, e, q))
                    if isinstance(e, (int, float)) and not isinstance(e, bool) and num_text(e) not in q:
                        fail("%s:%d: number %r not in query %r" % (path, i, e, q))
        key = (ql, json.dumps(ex["answers"], sort_keys=True).lower())
        seen.add(key)
    return kinds


class FakeTeacher(http.server.BaseHTTPRequestHandler):
    """OpenAI-compatible /v1/chat/completions with prepared replies, in turn: a good
    paraphrase, one that drops the values, an HTTP 500, a good one sent chunked."""
    protocol_version = "HTTP/1.1"
    calls = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        n = len(FakeTeacher.calls)
        FakeTeacher.calls.append((self.path, body))
        query = body["messages"][-1]["content"].split("\nRequest: ", 1)[1]
        kind = n % 4
        if kind == 2:
            out = b"overloaded"
            self.send_response(500)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        text = {0: "Please handle this for me: " + query, 1: "do the thing, you know which",
                3: "Could you take care of this: " + query}[kind]
        out = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if kind == 3:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(out), 50):
                part = out[i:i + 50]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)


def check_teacher(cli, content, tmp):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeTeacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = os.path.join(tmp, "teacher.jsonl")
        stats = os.path.join(tmp, "teacher.stats.json")
        run(cli, ["generate-data", "--content", content, "--out", out, "--count", "200", "--seed", "3",
                  "--teacher-url", "http://127.0.0.1:%d/v1" % server.server_address[1], "--teacher-model", "fake",
                  "--teacher-share", "1", "--stats", stats])
    finally:
        server.shutdown()
    check_file(out, 200)
    t = json.load(open(stats))["teacher"]
    calls = FakeTeacher.calls
    if t["asked"] != len(calls) or t["asked"] < 150:
        fail("teacher asked %r, server saw %d" % (t, len(calls)))
    if not (t["accepted"] > 0 and t["rejected"] > 0 and t["errors"] > 0):
        fail("teacher counts: %r" % t)
    if any(p != "/v1/chat/completions" or b["model"] != "fake" for p, b in calls):
        fail("teacher requests: %r" % calls[:2])
    lines = [json.loads(l) for l in open(out)]
    plain = sum(l["query"].startswith("Please handle this for me: ") for l in lines)
    chunked = sum(l["query"].startswith("Could you take care of this: ") for l in lines)
    dropped = sum(l["query"].startswith("do the thing") for l in lines)
    marked = sum(bool(l.get("meta", {}).get("teacher")) for l in lines)
    if plain == 0 or chunked == 0 or marked != t["accepted"] or plain + chunked + dropped != marked:
        fail("teacher queries: plain %d, chunked %d, dropped %d, marked %d, stats %r" %
             (plain, chunked, dropped, marked, t))
    # A value-dropping reply is only ever accepted for an answer without values.
    for l in lines:
        if l["query"].startswith("do the thing"):
            for c in l["answers"]:
                if any(isinstance(v, (str, list, int, float)) and not isinstance(v, bool) for v in c["arguments"].values()):
                    fail("value-dropping reply accepted: %r" % l)
    run(cli, ["generate-data", "--content", content, "--out", out, "--count", "5",
              "--teacher-url", "https://example.com/v1"], expect_rc=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="np_datagen_cli_")
    try:
        content = os.path.join(a.source, "data", "factory")
        out = run(a.cli, ["generate-data", "--content", content, "--validate"]).stdout
        if "categories" not in out or "tools" not in out:
            fail("--validate printed " + out)

        def gen(split, n, seed, name, extra=()):
            p = os.path.join(tmp, name)
            run(a.cli, ["generate-data", "--content", content, "--out", p, "--count", str(n), "--seed", str(seed),
                        "--split", split] + list(extra))
            return p

        stats = os.path.join(tmp, "stats.json")
        train = gen("train", 3000, 4, "train.jsonl", ["--stats", stats])
        dev = gen("dev", 400, 4, "dev.jsonl")
        test = gen("test", 600, 4, "test.jsonl")
        again = gen("train", 3000, 4, "again.jsonl")
        if open(train, "rb").read() != open(again, "rb").read():
            fail("same seed gave different bytes")
        other = gen("train", 3000, 5, "other.jsonl")
        if open(train, "rb").read() == open(other, "rb").read():
            fail("another seed gave the same bytes")

        kinds = check_file(train, 3000)
        if not (200 <= kinds[0] <= 400 and 200 <= kinds[2] <= 400):
            fail("no-call / two-call counts off: %r" % kinds)
        check_file(dev, 400)
        check_file(test, 600)

        s = json.load(open(stats))
        for k in ("content", "examples", "examples_by_calls", "examples_per_category", "calls_per_category",
                  "tools_offered", "schema_forms", "name_styles", "length_chars", "seconds"):
            if k not in s:
                fail("stats.json lacks %r" % k)
        if s["examples"] != 3000 or s["examples_by_calls"]["0"] != kinds[0]:
            fail("stats.json disagrees with the file")
        if s["content"]["categories"] < 20 or s["content"]["tools"] < 400:
            fail("content too small: %r" % s["content"])

        # --avoid: dev repeats no train example (query ignoring case, answer with snake names).
        def keys(path):
            out = set()
            for line in open(path, encoding="utf-8"):
                ex = json.loads(line)
                out.add((ex["query"].lower(), json.dumps([[snake(c["name"]), c["arguments"]] for c in ex["answers"]],
                                                         sort_keys=True)))
            return out
        if not keys(dev) & keys(train):
            fail("expected some dev/train overlap without --avoid")
        dev2 = gen("dev", 400, 4, "dev2.jsonl", ["--avoid", train])
        if keys(dev2) & keys(train):
            fail("--avoid left %d repeats" % len(keys(dev2) & keys(train)))

        p = run(a.cli, ["generate-data", "--check-disjoint", train, test])
        if "disjoint" not in p.stdout:
            fail("check-disjoint output: " + p.stdout)
        p = run(a.cli, ["generate-data", "--check-disjoint", train, dev], expect_rc=1)
        if "INVALID_INPUT" not in p.stderr:
            fail("check-disjoint train/dev stderr: " + p.stderr)

        check_teacher(a.cli, content, tmp)

        # Broken content: the error names the file.
        bad = os.path.join(tmp, "bad")
        shutil.copytree(content, bad)
        with open(os.path.join(bad, "categories", "timers.json"), "a") as f:
            f.write("}")
        p = run(a.cli, ["generate-data", "--content", bad, "--out", os.path.join(tmp, "x.jsonl"), "--count", "5"],
                expect_rc=1)
        if "timers.json" not in p.stderr or "INVALID_INPUT" not in p.stderr:
            fail("bad content stderr: " + p.stderr)

        # Usage errors.
        run(a.cli, ["generate-data", "--content", content, "--count", "5"], expect_rc=2)
        run(a.cli, ["generate-data", "--content", content, "--out", os.path.join(tmp, "y.jsonl")], expect_rc=2)
        run(a.cli, ["generate-data", "--content", content, "--out", os.path.join(tmp, "y.jsonl"), "--count", "5",
                    "--split", "validation"], expect_rc=2)
        run(a.cli, ["generate-data", "--check-disjoint", train], expect_rc=2)
        print("datagen CLI: ok (train %r)" % kinds)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
