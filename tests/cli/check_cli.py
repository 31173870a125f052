#!/usr/bin/env python3
"""check_cli.py — the needlepoint CLI end to end: every command, its JSON output, its exit
codes, and its errors on bad input. Usage: check_cli.py --cli PATH. Exits non-zero on the
first failure, printing what differed."""
import argparse
import json
import re
import os
import subprocess
import sys
import tempfile

FAILURES = []
PASSED = [0]


def run(cli, *args, stdin=None):
    p = subprocess.run([cli, *args], input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if cond:
        PASSED[0] += 1
    else:
        FAILURES.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    cli = ap.parse_args().cli
    tmp = tempfile.mkdtemp(prefix="np-cli-")
    model = os.path.join(tmp, "m.gguf")
    tools = ('[{"name":"getWeather","description":"Get current weather for a city.","parameters":'
             '{"location":{"type":"string","description":"City name.","required":true}}},'
             '{"type":"function","function":{"name":"set_timer","parameters":{"type":"object",'
             '"properties":{"minutes":{"type":"integer"}},"required":["minutes"]}}}]')

    rc, out, err = run(cli, "make-model", "--out", model, "--config", "small", "--type", "q8_0", "--seed", "3")
    check(rc == 0 and os.path.getsize(model) > 0, "make-model writes a model")

    rc, out, err = run(cli, "inspect", "--model", model)
    check(rc == 0 and "model check: ok" in out and "token_embd.weight" in out and "Q8_0" in out,
          "inspect lists metadata and tensors and checks the model")

    rc, out, err = run(cli, "run", "--model", model, "--query", "weather in Paris?", "--tools", tools)
    ok = rc == 0
    if ok:
        r = json.loads(out)
        ok = (isinstance(r["calls"], list) and r["valid"] is True and r["truncated"] is False
              and isinstance(json.loads(r["raw"]), list) and r["tokens"]["input"] > 0
              and r["stop_reason"] in ("complete", "eos", "max_tokens")
              and all(c["name"] in ("getWeather", "set_timer") for c in r["calls"]))
    check(ok, "run prints a valid result: %s" % out.strip()[:200])

    tools_file = os.path.join(tmp, "tools.json")
    with open(tools_file, "w") as f:
        f.write(tools)
    rc2, out2, _ = run(cli, "run", "--model", model, "--query", "weather in Paris?", "--tools", "@" + tools_file)
    check(rc2 == 0 and json.loads(out2)["raw"] == json.loads(out)["raw"], "run reads --tools @file, same answer")

    rc, out, err = run(cli, "run", "--model", model, "--query", "x", "--tools", '[{"name":"a"},{"name":"a"}]')
    check(rc == 1 and "INVALID_TOOLS" in err and "a" in err, "duplicate tool names: INVALID_TOOLS, exit 1")
    rc, out, err = run(cli, "run", "--model", model, "--query", "x", "--tools", '{"name":"a"}')
    check(rc == 1 and "INVALID_TOOLS" in err, "tools not a list: INVALID_TOOLS")
    rc, out, err = run(cli, "run", "--model", model, "--query", "x", "--tools", "@" + os.path.join(tmp, "nope.json"))
    check(rc == 1 and "IO_ERROR" in err, "missing tools file: IO_ERROR")
    rc, out, err = run(cli, "run", "--query", "x", "--tools", "[]")
    check(rc == 2 and "--model" in err, "missing --model: usage error, exit 2")
    rc, out, err = run(cli, "run", "--model", os.path.join(tmp, "missing.gguf"), "--query", "x", "--tools", "[]")
    check(rc == 1 and "IO_ERROR" in err, "missing model file: IO_ERROR")
    junk = os.path.join(tmp, "junk.gguf")
    with open(junk, "wb") as f:
        f.write(b"NOTGGUF" + bytes(100))
    rc, out, err = run(cli, "run", "--model", junk, "--query", "x", "--tools", "[]")
    check(rc == 1 and "BAD_MAGIC" in err, "not a GGUF file: BAD_MAGIC")
    rc, out, err = run(cli, "frobnicate")
    check(rc == 2 and "unknown command" in err, "unknown command: exit 2")
    rc, out, err = run(cli, "help")
    check(rc == 0 and "logits" in out and "tokenize" in out, "help lists the commands")

    rc, out, err = run(cli, "logits", "--model", model, "--enc-ids", "10,11,5,12", "--dec-ids", "1,4,30")
    last = json.loads(out) if rc == 0 else None
    check(rc == 0 and isinstance(last, list) and len(last) == 512, "logits: vocab-sized array")
    rc, out, err = run(cli, "logits", "--model", model, "--enc-ids", "10,11,5,12", "--dec-ids", "1,4,30", "--all")
    allv = json.loads(out) if rc == 0 else None
    check(rc == 0 and len(allv) == 3 and allv[2] == last, "logits --all: one row per position, last row equal")
    rc, out, err = run(cli, "logits", "--model", model, "--enc-ids", "10,99999", "--dec-ids", "1")
    check(rc == 1 and "INVALID_INPUT" in err, "logits with an id outside the vocabulary: INVALID_INPUT")
    rc, out, err = run(cli, "logits", "--model", model, "--enc-ids", "10,x", "--dec-ids", "1")
    check(rc == 2, "logits with malformed ids: usage error")

    # quantize: the q8_0 model as q4_0 (smaller, loads, same metadata), back to q8_0 from
    # the q8_0 file unchanged; bad types and files that are no model are refused, no file left.
    q4 = os.path.join(tmp, "m-q4.gguf")
    rc, out, err = run(cli, "quantize", "--model", model, "--type", "q4_0", "--out", q4)
    check(rc == 0 and json.loads(out)["bytes_out"] == os.path.getsize(q4) < os.path.getsize(model),
          "quantize q8_0 -> q4_0 writes a smaller file")
    rc, out, _ = run(cli, "inspect", "--model", q4)
    check(rc == 0 and "model check: ok" in out and "Q4_0" in out, "the q4_0 file loads and holds Q4_0 tensors")
    q8 = os.path.join(tmp, "m-q8.gguf")
    rc, _, _ = run(cli, "quantize", "--model", model, "--type", "q8_0", "--out", q8)
    check(rc == 0 and open(q8, "rb").read() == open(model, "rb").read(), "quantize q8_0 -> q8_0 is byte for byte the same")
    rc, out, err = run(cli, "quantize", "--model", model, "--type", "q3_k", "--out", q8 + "x")
    check(rc == 2 and "--type" in err and not os.path.exists(q8 + "x"), "quantize: an unknown type is a usage error")
    notes = os.path.join(tmp, "notes.txt")
    with open(notes, "w") as fh:
        fh.write("not a model")
    rc, out, err = run(cli, "quantize", "--model", notes, "--type", "q4_0", "--out", q8 + "y")
    check(rc == 1 and "BAD_MAGIC" in err and not os.path.exists(q8 + "y"), "quantize: a file that is no GGUF is refused")
    rc, out, err = run(cli, "quantize", "--model", model, "--type", "q4_0")
    check(rc == 2 and "--out" in err, "quantize: --out is required")

    # The catalog encoder mask (docs/engine.md): a catalog model, its block prefix, bench.
    cat = os.path.join(tmp, "cat.gguf")
    rc, out, err = run(cli, "make-model", "--out", cat, "--config", "small", "--encoder-mask", "catalog", "--seed", "4")
    rc2, out2, _ = run(cli, "inspect", "--model", cat)
    check(rc == 0 and '"catalog"' in out2, "make-model --encoder-mask catalog")
    rc, out, err = run(cli, "make-model", "--out", cat + "x", "--encoder-mask", "sideways")
    check(rc == 2 and "--encoder-mask" in err, "make-model: unknown mask is a usage error")
    ids = ["--enc-ids", "5,10,11,12,20,21", "--dec-ids", "1,4"]
    rc, a, _ = run(cli, "logits", "--model", cat, *ids, "--block-prefix", "4")
    rc2, b, _ = run(cli, "logits", "--model", cat, *ids)
    check(rc == 0 and rc2 == 0 and json.loads(a) != json.loads(b), "logits --block-prefix: the mask changes the logits")
    rc, out, err = run(cli, "logits", "--model", model, *ids, "--block-prefix", "4")
    check(rc == 1 and "INVALID_INPUT" in err and "catalog" in err, "logits --block-prefix on a bidirectional model: INVALID_INPUT")
    rc, out, err = run(cli, "logits", "--model", cat, *ids, "--block-prefix", "9")
    check(rc == 1 and "INVALID_INPUT" in err, "logits --block-prefix past the input: INVALID_INPUT")
    rc, out, err = run(cli, "run", "--model", cat, "--query", "weather in Paris?", "--tools", tools)
    check(rc == 0 and json.loads(out)["catalog"] == "miss", "run on a catalog model: the block is encoded (miss)")
    rc, out, err = run(cli, "bench", "--model", cat, "--n", "2", "--tools", tools, "--query", "weather in Paris?")
    r = json.loads(out) if rc == 0 else {}
    check(rc == 0 and r["call"]["cached"]["catalog"] == "hit" and r["call"]["uncached"]["catalog"] == "off"
          and r["call"]["cached"]["raw"] == r["call"]["uncached"]["raw"] and r["prefill"] and r["decode"]["tokens_per_s"] > 0,
          "bench: prefill, decode, and calls with the catalog cache off and on (same answer): %s" % out[:160])
    rc, out, err = run(cli, "bench", "--model", cat, "--n", "1", "--max-tokens", "3", "--tools", tools, "--query", "weather in Paris?")
    r = json.loads(out) if rc == 0 else {}
    check(rc == 0 and all(0 < r["call"][k]["output_tokens"] <= 3 for k in ("cached", "uncached")),
          "bench --max-tokens 3: every timed call stops within 3 tokens: %s" % out[:160])
    rc, out, err = run(cli, "bench", "--model", cat, "--max-tokens", "0")
    check(rc == 2 and "--max-tokens" in err, "bench --max-tokens 0: a usage error")
    # Sparse logits and the priors' flags: the same answer with all logits; bad values refused.
    q = ["--query", "weather in Paris?", "--tools", tools, "--tool-prior", "1,4,1,3", "--copy-prior", "2"]
    rc, a, _ = run(cli, "run", "--model", cat, *q)
    rc2, b, _ = run(cli, "run", "--model", cat, *q, "--full-logits")
    ra, rb = (json.loads(a), json.loads(b)) if rc == 0 and rc2 == 0 else ({}, {})
    check(rc == 0 and rc2 == 0 and ra["raw"] == rb["raw"] and rb["tokens"]["sparse"] == 0,
          "run --full-logits: the same answer, no sparse steps (%s sparse without)" % ra.get("tokens", {}).get("sparse"))
    for bad in ("1,4,1,1,1", "1,,2", "1,4,-1", "1,4,1,-3", "1,4,1,", "x"):
        rc, out, err = run(cli, "run", "--model", cat, "--query", "x", "--tools", tools, "--tool-prior", bad)
        check(rc == 2 and "--tool-prior" in err, "run --tool-prior %s: a usage error" % bad)

    rc, out, err = run(cli, "embed", "--model", model, "--enc-ids", "10,11,12")
    e = json.loads(out) if rc == 0 else []
    check(rc == 0 and len(e) == 32 and abs(sum(v * v for v in e) - 1) < 1e-5, "embed: unit-norm vector")

    rc, out, err = run(cli, "normalize-tools", "--tools", tools)
    check(rc == 0 and json.loads(out)[0]["name"] == "get_weather", "normalize-tools: snake_case names")

    rc, out, err = run(cli, "tokenize", "--model", model, stdin="hello world\n\nJSON {\"a\":1}\n")
    lines = out.split("\n")
    check(rc == 0 and len(lines) == 4 and lines[1] == "" and lines[0] != "", "tokenize: one line per input line")
    rc, dec, err = run(cli, "detokenize", "--model", model, stdin=lines[0] + "\n")
    check(rc == 0 and dec.rstrip("\n") == "hello world", "detokenize inverts tokenize")

    # pack-tokenizer: a SentencePiece model trained here replaces the synthetic tokenizer.
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w") as f:
        for i in range(3000):
            f.write("set a timer for %d minutes and call mom at %d pm, weather in city%d\n" % (i % 60, i % 12, i % 97))
    prefix = os.path.join(tmp, "spm")
    p = subprocess.run(["spm_train", "--input=" + corpus, "--model_prefix=" + prefix, "--model_type=bpe",
                        "--vocab_size=400", "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
                        "--user_defined_symbols=<tool_call>,<tools>", "--byte_fallback=true",
                        "--normalization_rule_name=identity", "--minloglevel=2"], capture_output=True, text=True)
    check(p.returncode == 0, "spm_train made a tokenizer for pack-tokenizer")
    spm_model = prefix + ".model"
    m2 = os.path.join(tmp, "m2.gguf")
    rc, out, err = run(cli, "make-model", "--out", m2, "--config", "small", "--spm", spm_model)
    check(rc == 0, "make-model --spm")
    rc, out, err = run(cli, "pack-tokenizer", "--spm", spm_model, "--model", model, "--out", os.path.join(tmp, "m3.gguf"))
    check(rc == 1 and "token_embd.weight" in err, "pack-tokenizer refuses a vocabulary that does not fit the embedding")
    rc, out, err = run(cli, "pack-tokenizer", "--spm", spm_model, "--model", m2, "--out", os.path.join(tmp, "m4.gguf"))
    check(rc == 0, "pack-tokenizer with a fitting vocabulary")
    text = "set a timer for 5 minutes <tools> ok\n"
    rc, a, _ = run(cli, "tokenize", "--model", os.path.join(tmp, "m4.gguf"), stdin=text)
    rc2, b, _ = run(cli, "tokenize", "--spm", spm_model, stdin=text)
    sp = subprocess.run(["spm_encode", "--model=" + spm_model, "--output_format=id"], input=text,
                        capture_output=True, text=True)
    check(rc == 0 and rc2 == 0 and a == b == sp.stdout, "packed tokenizer encodes as spm_encode does")
    rc, out, err = run(cli, "run", "--model", os.path.join(tmp, "m4.gguf"), "--query", "set a timer for 5 minutes",
                       "--tools", tools, "--max-tokens", "12")
    check(rc == 0 and json.loads(out)["valid"], "run on the SentencePiece-tokenized model")

    # Retrieval and confidence (docs/retrieval.md, docs/confidence.md).
    rc, out, err = run(cli, "run", "--model", model, "--query", "weather in Paris?", "--tools", tools)
    r = json.loads(out) if rc == 0 else {}
    check(rc == 0 and 0 <= r["confidence"] <= 1 and r["confidence"] == r["confidence_raw"]
          and len(r["call_confidence"]) == len(r["calls"]) and 0 <= r["no_call_probability"] <= 1
          and r["preselected"] == [], "run reports confidence, no-call probability, no pre-selection for 2 tools")
    rc, out, err = run(cli, "retrieve", "--model", model, "--query", "weather in Paris?", "--tools", tools)
    ranked = json.loads(out) if rc == 0 else []
    check(rc == 0 and sorted(t["name"] for t in ranked) == ["getWeather", "set_timer"]
          and ranked[0]["score"] >= ranked[1]["score"], "retrieve ranks every tool")
    rc, out, err = run(cli, "retrieve", "--model", model, "--query", "x", "--tools", tools, "-k", "1")
    check(rc == 0 and len(json.loads(out)) == 1, "retrieve -k 1")
    rc, out, err = run(cli, "retrieve", "--model", model, "--query", "x", "--tools", tools, "-k", "zero")
    check(rc == 2, "retrieve -k malformed: usage error")
    data = os.path.join(tmp, "d.jsonl")
    with open(data, "w") as f:
        for i, (q, name, args) in enumerate([("weather in Paris", "getWeather", {"location": "Paris"}),
                                             ("timer for 5 minutes", "set_timer", {"minutes": 5}),
                                             ("hello there", None, None), ("weather in Rome", "getWeather", {"location": "Rome"})]):
            ans = [] if name is None else [{"name": name, "arguments": args}]
            f.write(json.dumps({"query": q, "tools": tools, "answers": json.dumps(ans)}) + "\n")
    rc, out, err = run(cli, "eval-retrieval", "--model", model, "--data", data, "--k", "1,2")
    m = json.loads(out) if rc == 0 else {}
    check(rc == 0 and m["catalog_tools"] == 2 and m["pairs"] == 3 and m["recall@2"] == 1.0
          and 0 <= m["recall@1"] <= 1, "eval-retrieval: recall@k over the file's catalog: %s" % out.strip())
    rc, out, err = run(cli, "eval", "--model", model, "--data", data, "--json")
    m = json.loads(out) if rc == 0 else {}
    check(rc == 0 and 0 <= m["ece"] <= 1 and m["coverage"][0]["coverage"] == 1.0
          and m["coverage"][0]["exact_match"] == m["exact_match"], "eval reports ECE and the coverage curve")
    cal = os.path.join(tmp, "cal.gguf")
    rc, out, err = run(cli, "calibrate", "--model", model, "--data", data, "--out", cal)
    c = json.loads(out) if rc == 0 else {}
    check(rc == 0 and c["examples"] == 4 and len(c["knots"]) >= 2, "calibrate fits knots: %s" % out.strip()[:200])
    rc, out, err = run(cli, "inspect", "--model", cal)
    check(rc == 0 and "needlepoint.confidence.calibration" in out and "model check: ok" in out,
          "the calibrated copy carries the key and loads")
    rc, out, err = run(cli, "run", "--model", cal, "--query", "weather in Paris?", "--tools", tools)
    r = json.loads(out) if rc == 0 else {}
    check(rc == 0 and 0 <= r["confidence"] <= 1, "run on the calibrated model")
    rc, out, err = run(cli, "calibrate", "--model", model, "--data", data)
    check(rc == 2, "calibrate without --out: usage error")

    # Options a command does not know are refused before it runs (check_options, cli/args.cpp).
    rc, help_text, _ = run(cli, "help")
    blocks, current = {}, None
    for line in help_text.split("\n"):
        m = re.match(r"^  ([a-z][a-z-]*) ", line)
        if m:
            current = m.group(1)
            blocks.setdefault(current, [])
        if current and (m or line.startswith("        ")):
            blocks[current] += re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line)
    check(len(blocks) >= 20, "help lists %d commands" % len(blocks))
    for command, options in sorted(blocks.items()):
        rc, out, err = run(cli, command, "--no-such-option")
        check(rc == 2 and "unknown option --no-such-option" in err, "%s refuses an unknown option: %s" % (command, err.strip()[:120]))
        if command in ("train", "finetune"):
            continue  # they check their own options after reading them (cmd_train.cpp), tested in train_cli
        # Every option the help names is known: with it (and a value for it), the first
        # option refused is still the unknown one.
        for opt in sorted(set(options)):
            rc, out, err = run(cli, command, opt, "X", "--no-such-option")
            check(rc == 2 and "unknown option --no-such-option" in err, "%s knows %s: %s" % (command, opt, err.strip()[:120]))
    rc, out, err = run(cli, "eval", "--model", model, "--data", data, "--limt", "2")
    check(rc == 2 and "unknown option --limt" in err and "did you mean --limit?" in err, "a misspelt option names the one meant")
    rc, out, err = run(cli, "generate-data", "--out", os.path.join(tmp, "g.jsonl"), "--count", "2", "--multi-share", "0")
    check(rc == 2 and "did you mean --multi?" in err and not os.path.exists(os.path.join(tmp, "g.jsonl")),
          "generate-data --multi-share: refused, nothing written")
    rc, out, err = run(cli, "run", "--model", model, "--query", "x", "--tools", tools, "--full-logits=yes")
    check(rc == 2 and "takes no value" in err, "a switch given a value is refused")
    rc, out, err = run(cli, "run", "--model", model, "--query", "--weather in Paris?", "--tools", tools)
    check(rc == 0 and json.loads(out)["valid"], "a value that begins with -- is a value")
    rc, out, err = run(cli, "run", "--model=" + model, "--query=weather in Paris?", "--tools=" + tools, "--threads", "1")
    check(rc == 0 and json.loads(out)["valid"], "--name=value and --threads pass")

    # Numbers are read strictly: a malformed one is a usage error naming the option, never a
    # silent 0 (before: atoi, so `eval --limit 5x` evaluated 5 and `--limit x` nothing).
    for argv, opt in ((("run", "--model", model, "--query", "x", "--tools", tools, "--max-tokens", "abc"), "--max-tokens"),
                      (("run", "--model", model, "--query", "x", "--tools", tools, "--preselect-k", "0"), "--preselect-k"),
                      (("eval", "--model", model, "--data", data, "--limit", "5x"), "--limit"),
                      (("eval", "--model", model, "--data", data, "--failures", "-2"), "--failures"),
                      (("bench", "--model", model, "--n", "1e3"), "--n"),
                      (("make-model", "--out", os.path.join(tmp, "mm.gguf"), "--seed", "-1"), "--seed"),
                      (("make-model", "--out", os.path.join(tmp, "mm.gguf"), "--d-ff", "ninety"), "--d-ff"),
                      (("bench-peak", "--seconds", "fast"), "--seconds"),
                      (("bench-train", "--batch", "0"), "--batch"),
                      (("run", "--model", model, "--query", "x", "--tools", tools, "--threads", "2x"), "--threads")):
        rc, out, err = run(cli, *argv)
        check(rc == 2 and opt in err and out == "", "%s %s: a usage error naming it: %s" % (argv[0], opt, err.strip()[:100]))
    check(not os.path.exists(os.path.join(tmp, "mm.gguf")), "make-model with a bad number writes nothing")
    rc, out, err = run(cli, "run", "--model", model, "--query", "x", "--tools", tools, "--threads")
    check(rc == 2 and "--threads needs" in err, "--threads with no number: a usage error")
    rc, out, err = run(cli, "run", "--model", model, "--query", "weather in Paris?", "--tools", tools, "--threads=1")
    check(rc == 0 and json.loads(out)["valid"], "--threads=1 is read")
    rc, out, err = run(cli, "train", "--data", data, "--out", os.path.join(tmp, "t.gguf"), "--step", "3")
    check(rc == 2 and "did you mean --steps?" in err and not os.path.exists(os.path.join(tmp, "t.gguf")),
          "train --step: refused, the option meant named")
    rc, out, err = run(cli, "eval", "--model", model, "--data", data, "--limit", "2", "--json")
    check(rc == 0 and json.loads(out)["examples"] == 2, "eval --limit 2 evaluates 2")

    print("cli: %d passed, %d failed" % (PASSED[0], len(FAILURES)))
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
