#!/usr/bin/env python3
"""run_agreement.py — needlepoint's tokenizer against SentencePiece's own tools, line for line.

  1. gen_corpus.py writes train.txt and test.txt (>= 2,500 lines) into WORK/corpus;
  2. spm_train trains Needle's tokenizer (BPE, vocab 8192, pad 0 / eos 1 / bos 2 / unk 3,
     user-defined <tool_call>,<tools>, byte fallback, identity normalization) and a small
     one (vocab 512) with the same options; models are cached in WORK keyed by a hash of
     the generator and the options, so reruns skip training;
  3. variants of the small (and big) model are made by editing the ModelProto
     (spm_proto.py): normalizer flags off, UNUSED pieces, extra USER_DEFINED pieces, no byte
     fallback;
  4. for every model: spm_encode --output_format=id vs `needlepoint tokenize --spm` and
     `needlepoint tokenize --model <tokenizer-only gguf>` on test.txt; spm_decode
     --input_format=id vs `needlepoint detokenize` (both loaders) on those ids and on random
     id lines (control, unk, byte runs that are and are not valid UTF-8);
  5. models we must refuse (unigram, a precompiled normalizer, a truncated file) must fail
     with UNSUPPORTED / BAD_TOKENIZER.

Every comparison must agree on 100% of lines; otherwise the first mismatches are printed
with both id lists and the exit code is 1. Missing spm_* tools are a failure too (exit 1):
tools/install-deps.sh installs them, and a skipped oracle must not pass for agreement. Usage: run_agreement.py --cli PATH/needlepoint --work DIR
"""
import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import spm_proto  # noqa: E402

NEEDLE_OPTS = ["--model_type=bpe", "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
               "--user_defined_symbols=<tool_call>,<tools>", "--byte_fallback=true",
               "--normalization_rule_name=identity", "--num_threads=2",
               "--max_sentence_length=16384", "--minloglevel=1"]
# (name, training file, options): the small model sees only English/JSON text, so the
# other scripts reach it through byte fallback.
TRAINED = [("needle-8192", "train.txt", ["--vocab_size=8192"]),
           ("small-512", "train_ascii.txt", ["--vocab_size=512"])]
MAX_SHOWN = 5


class Report:
    def __init__(self):
        self.failures = 0
        self.comparisons = 0
        self.lines = 0

    def fail(self, msg):
        self.failures += 1
        print("FAIL: " + msg, flush=True)


def run(cmd, stdin_bytes=None, check=True):
    p = subprocess.run(cmd, input=stdin_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    return p


def sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()


def cached(stamp_path, key, build):
    if os.path.exists(stamp_path) and open(stamp_path).read() == key:
        return False
    build()
    with open(stamp_path, "w") as f:
        f.write(key)
    return True


def split_lines(data):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def show(b, limit=160):
    r = repr(b)
    return r if len(r) <= limit else r[:limit] + f"... ({len(b)} bytes)"


def compare(report, what, inputs, ref_out, our_out):
    """Line-by-line comparison; prints the first mismatches with the input line."""
    ref, ours = split_lines(ref_out), split_lines(our_out)
    report.comparisons += 1
    if len(ref) != len(inputs) or len(ours) != len(inputs):
        report.fail(f"{what}: line counts differ: input {len(inputs)}, SentencePiece {len(ref)}, needlepoint {len(ours)}")
    n = min(len(ref), len(ours), len(inputs))
    bad = [i for i in range(n) if ref[i] != ours[i]]
    report.lines += n
    if bad:
        report.fail(f"{what}: {len(bad)} of {n} lines differ")
        for i in bad[:MAX_SHOWN]:
            print(f"  line {i + 1}: input         {show(inputs[i])}")
            a, b = ref[i].split(b" "), ours[i].split(b" ")
            k = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
            lo = max(0, k - 8)
            note = f" (from item {lo}; first difference at item {k})" if lo else f" (first difference at item {k})"
            print(f"           SentencePiece {show(b' '.join(a[lo:lo + 40]), 600)}{note}")
            print(f"           needlepoint   {show(b' '.join(b[lo:lo + 40]), 600)}")
        return False
    print(f"  {what}: {n}/{n} lines agree", flush=True)
    return True


def random_id_lines(model_bytes, seed, count=400):
    """Id lines for decode: any id, byte runs (valid and broken UTF-8), controls, unk."""
    pieces = spm_proto.Model(model_bytes).pieces()
    rng = random.Random(seed)
    byte_id = {}
    for i, (p, _, t) in enumerate(pieces):
        if t == spm_proto.BYTE:
            byte_id[int(p[3:5], 16)] = i
    special = [i for i, (_, _, t) in enumerate(pieces) if t in (spm_proto.CONTROL, spm_proto.UNKNOWN)]
    ws = [i for i, (p, _, t) in enumerate(pieces) if p.startswith("\u2581".encode()) and t == spm_proto.NORMAL]
    # A newline byte would split an output line; everything else goes.
    any_id = [i for i in range(len(pieces)) if byte_id.get(0x0A) != i]
    lines = []
    for _ in range(count):
        ids = []
        for _ in range(rng.randint(0, 16)):
            r = rng.random()
            if r < 0.35 or not byte_id:
                ids.append(rng.choice(any_id))
            elif r < 0.6:
                text = rng.choice(["é", "的", "😀", "\u2581", " ", "👍🏽", "\t", "a"]).encode()
                if rng.random() < 0.4:
                    text = text[:rng.randint(0, len(text))] + bytes([rng.randint(0x80, 0xFF)])
                ids += [byte_id[b] for b in text if b != 0x0A]
            elif r < 0.8:
                ids.append(rng.choice(special))
            else:
                ids.append(rng.choice(ws))
        lines.append(" ".join(map(str, ids)).encode())
    return lines


def check_model(report, cli, name, model_path, test_lines, work):
    print(f"[{name}] {model_path}", flush=True)
    test_data = b"\n".join(test_lines) + b"\n"
    gguf = os.path.join(work, name + ".tokenizer.gguf")
    run([cli, "tokenize", "--spm", model_path, "--write-gguf", gguf])
    loaders = [("--spm", model_path), ("--model", gguf)]

    ref_ids = run(["spm_encode", f"--model={model_path}", "--output_format=id"], test_data).stdout
    for flag, path in loaders:
        ours = run([cli, "tokenize", flag, path], test_data).stdout
        compare(report, f"{name} encode ({flag})", test_lines, ref_ids, ours)

    id_lines = split_lines(ref_ids)
    for label, lines in [("decode of encoded lines", id_lines),
                         ("decode of random ids", random_id_lines(open(model_path, "rb").read(), hash_seed(name)))]:
        data = b"\n".join(lines) + b"\n"
        ref_text = run(["spm_decode", f"--model={model_path}", "--input_format=id"], data).stdout
        for flag, path in loaders:
            ours = run([cli, "detokenize", flag, path], data).stdout
            compare(report, f"{name} {label} ({flag})", lines, ref_text, ours)


def hash_seed(name):
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def make_variants(models, work):
    """Edited copies of trained models: (name, path, expect) with expect None (must agree)
    or the status code needlepoint must refuse it with."""
    small = open(models["small-512"], "rb").read()
    big = open(models["needle-8192"], "rb").read()
    out = []

    def save(name, m, expect=None):
        path = os.path.join(work, name + ".model")
        with open(path, "wb") as f:
            f.write(m.to_bytes())
        out.append((name, path, expect))

    for name, dummy, extra_ws in [("small-no-dummy-prefix", 0, 1), ("small-keep-spaces", 1, 0),
                                  ("small-no-normalizer-flags", 0, 0)]:
        m = spm_proto.Model(small)

        def edit(sub, dummy=dummy, extra_ws=extra_ws):
            spm_proto.set_scalar(sub, 3, dummy)
            spm_proto.set_scalar(sub, 4, extra_ws)
        m.edit_sub(3, edit)
        save(name, m)

    for name, data in [("small-unused", small), ("needle-8192-unused", big)]:
        m = spm_proto.Model(data)
        pieces = m.pieces()
        k = 0
        for i, (p, s, t) in enumerate(pieces):
            if t == spm_proto.NORMAL and len(p.decode()) > 1:
                k += 1
                if k % 4 == 0:
                    pieces[i] = (p, s, spm_proto.UNUSED)
        m.set_pieces(pieces)
        save(name, m)

    m = spm_proto.Model(small)
    pieces = m.pieces()
    index = {p: i for i, (p, _, _) in enumerate(pieces)}
    for sym in ["ab", "abc", "bcd", "\u2581Hello", "the\u2581", "<tool", "ols>", "a b", "😀", "\u2581\u2581",
                "::", "{\"name\":", "ко", "的天", "\t", "e"]:
        b = sym.encode()
        if b in index:
            p, s, _ = pieces[index[b]]
            pieces[index[b]] = (p, s, spm_proto.USER_DEFINED)
        else:
            pieces.append((b, 0.0, spm_proto.USER_DEFINED))
    m.set_pieces(pieces)
    save("small-user-defined", m)

    m = spm_proto.Model(small)
    m.set_pieces([x for x in m.pieces() if x[2] != spm_proto.BYTE])
    m.edit_sub(2, lambda sub: spm_proto.set_scalar(sub, 35, 0))
    save("small-no-byte-fallback", m)

    m = spm_proto.Model(small)
    m.edit_sub(2, lambda sub: spm_proto.set_scalar(sub, 3, 1))
    save("refuse-unigram", m, "UNSUPPORTED")
    m = spm_proto.Model(small)

    def nfkc(sub):
        spm_proto.set_bytes(sub, 1, b"nmt_nfkc")
        spm_proto.set_bytes(sub, 2, b"\x04\x00\x00\x00not-a-real-charsmap")
    m.edit_sub(3, nfkc)
    save("refuse-nfkc", m, "UNSUPPORTED")
    path = os.path.join(work, "refuse-truncated.model")
    with open(path, "wb") as f:
        f.write(small[:len(small) // 2 + 3])
    out.append(("refuse-truncated", path, "BAD_TOKENIZER"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    for tool in ["spm_train", "spm_encode", "spm_decode"]:
        if not shutil.which(tool):
            print(f"FAIL: {tool} not found (apt install sentencepiece)")
            return 1
    t0 = time.time()
    work = os.path.abspath(args.work)
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus, exist_ok=True)
    gen = os.path.join(HERE, "gen_corpus.py")
    corpus_key = sha(open(gen, "rb").read())
    if cached(os.path.join(corpus, "stamp"), corpus_key,
              lambda: run([sys.executable, gen, corpus])):
        print("corpus generated", flush=True)

    models = {}
    for name, train_file, opts in TRAINED:
        prefix = os.path.join(work, name)
        all_opts = NEEDLE_OPTS + opts
        key = sha(corpus_key, train_file, *all_opts)

        def train(prefix=prefix, all_opts=all_opts, train_file=train_file):
            t = time.time()
            run(["spm_train", f"--input={os.path.join(corpus, train_file)}", f"--model_prefix={prefix}"] + all_opts)
            print(f"trained {os.path.basename(prefix)} in {time.time() - t:.1f} s", flush=True)
        cached(prefix + ".stamp", key, train)
        models[name] = prefix + ".model"

    test_lines = split_lines(open(os.path.join(corpus, "test.txt"), "rb").read())
    report = Report()
    for name, path in models.items():
        check_model(report, args.cli, name, path, test_lines, work)
    for name, path, expect in make_variants(models, work):
        if expect is None:
            check_model(report, args.cli, name, path, test_lines, work)
            continue
        p = run([args.cli, "tokenize", "--spm", path], b"hello\n", check=False)
        err = p.stderr.decode(errors="replace").strip()
        report.comparisons += 1
        if p.returncode != 1 or expect not in err:
            report.fail(f"{name}: expected exit 1 with {expect}, got {p.returncode}: {err}")
        else:
            print(f"[{name}] refused as expected: {err}")

    print(f"tokenizer agreement: {report.comparisons} comparisons, {report.lines} lines compared, "
          f"{len(test_lines)} test lines, {report.failures} failures ({time.time() - t0:.1f} s)")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
