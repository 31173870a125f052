#!/usr/bin/python3
"""check_parity.py — the parity suite: the C++ engine's CLI against the float64 numpy
reference (needle_ref.py), on random-weight models.

For each case: make a model file (with the engine's `make-model`, or with this directory's
python GGUF writer so that the engine also reads a file it did not write), pick random ids,
run the engine CLI (`logits --all` or `embed`), run the reference in-process on the same file,
and compare:
  logits:    err = max|engine - ref| / max|ref|   over every decoder position and vocab entry
  embedding: err = max|engine - ref|              (both are unit vectors)
Every case must have err <= TOLERANCE. A third kind of case, "bytes", checks the engine's
quantizers: the engine's F16/BF16/Q8_0/Q4_0 file must hold exactly the bytes that gguf_np's
quantizers (written from the spec's formulas) make from the engine's F32 file of the same seed
(make-model draws the same values whatever the type); err = share of blocks that differ, and
must be 0. Prints a table; exits 1 on any failure or CLI error.

  check_parity.py --cli build/needlepoint [--only SUBSTRING] [--seed N] [--keep DIR] [--list]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_np  # noqa: E402
import needle_ref as ref  # noqa: E402
import random_model  # noqa: E402

# The engine computes in float32 on weights dequantized from the same bytes the reference
# reads, so this bounds float32 arithmetic only (measured: about 1e-7 on every case).
TOLERANCE = 1e-4
# geglu cases: engine-vs-tanh-GELU error must be this many times below engine-vs-erf-GELU
# (the two GELUs move these logits by only ~2e-5, under TOLERANCE).
GELU_MARGIN = 10
TOOLS_ID = 5          # <tools>
EOS_ID = 1            # decoder start symbol
FIRST_PLAIN_ID = 6    # ids below are specials; pad is sent only by the padded cases
ENGINE_FFN_D_FF = 128
CLI_TIMEOUT_S = 300


class Case:
    def __init__(self, source, config, type_name, what, ffn=None, d_ff=0, alignment=32,
                 shuffle=False, pad_tail=False, catalog=False):
        self.source = source          # "engine": make-model; "python": random_model.py
        self.config = config
        self.type = type_name
        self.what = what              # "logits", "embed" or "bytes"
        self.ffn = ffn
        self.d_ff = d_ff
        self.alignment = alignment
        self.shuffle = shuffle        # python writer: tensors in a random order
        self.pad_tail = pad_tail      # encoder ids end in pad ids (masked like a padded batch row)
        self.catalog = catalog        # the catalog encoder mask, with a random tool-block length

    def model_key(self, type_name=None):
        return (self.source, self.config, type_name or self.type, self.ffn, self.d_ff,
                self.alignment, self.shuffle, self.catalog)

    def needs(self):
        """Model files this case reads."""
        if self.what == "bytes":
            return [self.model_key("f32"), self.model_key()]
        return [self.model_key()]

    def label(self):
        src = ("" if self.source == "engine" else "py:") + ("padded:" if self.pad_tail else "")
        src += "catalog:" if self.catalog else ""
        extra = f" align={self.alignment}" if self.alignment != 32 else ""
        extra += " shuffled" if self.shuffle else ""
        return f"{src}{self.config}{extra}"

    def row(self):
        return f"{self.label()} {self.type} {self.ffn or '-'} {self.what}"


def build_cases():
    cases = []
    for config in ("small", "needle"):
        for t in ("f32", "f16", "q8_0", "q4_0"):
            cases.append(Case("engine", config, t, "logits"))
        cases.append(Case("engine", config, "f32", "embed"))
        if config == "needle":
            for t in ("f16", "q8_0", "q4_0"):
                cases.append(Case("engine", config, t, "bytes"))
    for act in ("drelu", "swiglu", "geglu"):
        cases.append(Case("engine", "small", "f32", "logits", act, ENGINE_FFN_D_FF))
    cases.append(Case("engine", "small", "bf16", "logits"))
    cases.append(Case("engine", "small", "bf16", "bytes"))
    cases.append(Case("engine", "small", "f32", "logits", pad_tail=True))
    cases.append(Case("engine", "small", "f32", "embed", pad_tail=True))
    cases.append(Case("engine", "small", "f32", "logits", catalog=True))
    cases.append(Case("engine", "small", "q8_0", "logits", "swiglu", ENGINE_FFN_D_FF, pad_tail=True, catalog=True))
    # files written by the python writer (a third-party writer for the engine's reader)
    for t in ("f32", "f16", "bf16", "q8_0", "q4_0"):
        cases.append(Case("python", "pysmall", t, "logits"))
    cases.append(Case("python", "pysmall", "q8_0", "logits", "geglu", 96, alignment=64))
    cases.append(Case("python", "pysmall", "q4_0", "logits", "swiglu", 160, shuffle=True))
    cases.append(Case("python", "pysmall", "f32", "embed"))
    cases.append(Case("python", "pysmall", "q4_0", "embed"))
    return cases


class CliError(Exception):
    pass


def run_cli(cli, args):
    try:
        p = subprocess.run([cli] + args, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CliError(f"timed out after {CLI_TIMEOUT_S}s: {args[0]}")
    except OSError as e:
        raise CliError(f"cannot run {cli}: {e}")
    if p.returncode != 0:
        msg = p.stderr.strip().splitlines()
        raise CliError(f"{args[0]} exited {p.returncode}: {msg[-1] if msg else '(no stderr)'}")
    return p.stdout


def make_model(cli, key, path, seed):
    """Writes the model file for a model key (every file of a run uses the same seed, so the
    files of one config differ only by type)."""
    source, config, type_name, ffn, d_ff, alignment, shuffle, catalog = key
    if source == "engine":
        args = ["make-model", "--out", path, "--config", config, "--type", type_name,
                "--seed", str(seed)]
        if ffn:
            args += ["--d-ff", str(d_ff), "--ffn", ffn]
        if catalog:
            args += ["--encoder-mask", "catalog"]
        run_cli(cli, args)
    else:
        random_model.write_random_model(path, config, type_name, seed, d_ff, ffn or "drelu",
                                        alignment, shuffle)


def random_ids(rng, vocab, pad_tail=False, pad_id=0):
    """Encoder ids (40..70 long, with <tools> inside; pad_tail: then 3..9 pad ids) and
    decoder ids (6..12 long, EOS first)."""
    n_enc = int(rng.integers(40, 71))
    enc = rng.integers(FIRST_PLAIN_ID, vocab, n_enc)
    enc[int(rng.integers(1, n_enc - 1))] = TOOLS_ID
    n_dec = int(rng.integers(6, 13))
    dec = rng.integers(FIRST_PLAIN_ID, vocab, n_dec)
    dec[0] = EOS_ID
    if pad_tail:
        enc = np.concatenate([enc, np.full(int(rng.integers(3, 10)), pad_id)])
    return [int(i) for i in enc], [int(i) for i in dec]


def parse_json_array(text, what):
    try:
        return np.array(json.loads(text), dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise CliError(f"{what}: output is not a JSON array of numbers ({e}): {text[:80]!r}")


def run_forward_case(cli, case, model_path, model, rng):
    """logits/embed -> (encoder length, decoder length or "-", err, problem or None)."""
    enc, dec = random_ids(rng, model.vocab, case.pad_tail, model.cfg.pad_id)
    ids = ["--enc-ids", ",".join(map(str, enc))]
    problem = None
    prefix = int(rng.integers(1, len(enc) - 1)) if case.catalog else 0
    if case.what == "logits":
        got = parse_json_array(run_cli(cli, ["logits", "--model", model_path] + ids +
                                       ["--dec-ids", ",".join(map(str, dec)), "--all",
                                        "--block-prefix", str(prefix)]), "logits")
        want = ref.logits(model, [enc], [dec], prefix)[0]                    # (S, V)
        if case.catalog and not problem:
            unmasked = ref.logits(model, [enc], [dec])[0]
            if not np.max(np.abs(unmasked - want)) > 10 * TOLERANCE * np.max(np.abs(want)):
                problem = "the catalog mask did not change the reference's logits (test is blind)"
        if got.shape != want.shape:
            raise CliError(f"logits --all: shape {got.shape}, expected {want.shape}")
        err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
        # (Q8_0 decoding quantizes activations to int16, ~1e-5 of noise: more than the two
        # GELUs differ by, so the GELU is told apart on the F32 geglu cases only.)
        if model.cfg.ffn_act == "geglu" and case.type != "q8_0":
            alt = ref.Model(model.cfg, model.w)
            alt.gelu = ref.gelu_erf
            want_erf = ref.logits(alt, [enc], [dec])[0]
            err_erf = float(np.max(np.abs(got - want_erf)) / np.max(np.abs(want)))
            if not err * GELU_MARGIN < err_erf:
                problem = (f"engine not clearly closer to tanh GELU than to erf GELU "
                           f"(err vs erf-GELU reference {err_erf:.3e})")
        dec_len = len(dec)
    else:
        got = parse_json_array(run_cli(cli, ["embed", "--model", model_path] + ids), "embed")
        want = ref.retrieval_embedding(model, [enc])[0]
        if got.shape != want.shape:
            raise CliError(f"embed: shape {got.shape}, expected {want.shape}")
        err = float(np.max(np.abs(got - want)))
        dec_len = "-"
    if not np.isfinite(err):
        err = float("inf")
    return len(enc), dec_len, err, problem


def run_bytes_case(case, f32_path, q_path):
    """-> (blocks compared, err = share of differing blocks, problem or None)."""
    a, b = gguf_np.GGUFReader(f32_path), gguf_np.GGUFReader(q_path)
    tid = gguf_np.TYPE_BY_NAME[case.type]
    block_bytes = gguf_np.BLOCK[tid][1]
    n_blocks = n_diff = 0
    first = None
    for name, t in b.tensors.items():
        if t.type != tid:
            continue
        if name not in a.tensors or a.tensors[name].type != gguf_np.F32:
            return 0, float("inf"), f"{name}: no F32 twin in the f32 file"
        mine = np.frombuffer(gguf_np.encode_tensor(tid, np.frombuffer(a.raw(name), "<f4")),
                             np.uint8).reshape(-1, block_bytes)
        theirs = np.frombuffer(b.raw(name), np.uint8).reshape(-1, block_bytes)
        diff = np.any(mine != theirs, axis=1)
        n_blocks += len(diff)
        n_diff += int(diff.sum())
        if first is None and diff.any():
            first = f"first at {name} block {int(np.argmax(diff))}"
    if n_blocks == 0:
        return 0, float("inf"), f"no {case.type.upper()} tensor in the file"
    problem = f"{n_diff} of {n_blocks} blocks differ, {first}" if n_diff else None
    return n_blocks, n_diff / n_blocks, problem


def main(argv=None):
    ap = argparse.ArgumentParser(description="engine vs numpy reference parity")
    ap.add_argument("--cli", required=True, help="path to the needlepoint binary")
    ap.add_argument("--only", default="", help="run only cases whose row contains this text")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--keep", default="", help="write the model files here and keep them")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    a = ap.parse_args(argv)

    cases = [c for c in build_cases() if a.only in c.row()]
    if a.list:
        for c in cases:
            print(c.row())
        return 0
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 1

    t_start = time.time()
    tmp = None
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
        workdir = a.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="needle_parity_")
        workdir = tmp.name
    last_use = {}
    for i, c in enumerate(cases):
        for k in c.needs():
            last_use[k] = i
    rng = np.random.default_rng(a.seed)
    files = {}                        # model key -> path, or the CliError that making it raised
    models = {}                       # model key -> needle_ref.Model
    n_files = 0

    def model_file(key):
        nonlocal n_files
        if key not in files:
            src, config, t, ffn = key[:4]
            path = os.path.join(workdir, f"m{n_files}_{src}_{config}_{t}_{ffn or 'noffn'}.gguf")
            n_files += 1
            try:
                make_model(a.cli, key, path, a.seed)
                files[key] = path
            except CliError as e:
                files[key] = e
        if isinstance(files[key], CliError):
            raise files[key]
        return files[key]

    header = (f"{'config':<29} {'type':<5} {'ffn':<6} {'check':<6} {'enc':>4} {'dec':>4} "
              f"{'err':>10}  {'time':>6}  result")
    print(header)
    print("-" * len(header))
    failures = 0
    try:
        for i, c in enumerate(cases):
            t0 = time.time()
            enc_len = dec_len = "-"
            err = None
            try:
                if c.what == "bytes":
                    f32_path, q_path = (model_file(k) for k in c.needs())
                    enc_len, err, problem = run_bytes_case(c, f32_path, q_path)
                    enc_len, dec_len = "", ""
                else:
                    key = c.model_key()
                    path = model_file(key)
                    if key not in models:
                        models[key] = ref.load_model(path)
                    enc_len, dec_len, err, problem = run_forward_case(a.cli, c, path, models[key], rng)
                ok = err <= (0 if c.what == "bytes" else TOLERANCE) and problem is None
                note = ("ok" if ok else f"FAIL: {problem}" if problem
                        else f"FAIL (> {TOLERANCE:g})")
            except CliError as e:
                ok, note = False, f"CLI ERROR: {e}"
            except (ref.ModelError, gguf_np.GGUFError, ValueError, OSError) as e:
                ok, note = False, f"REFERENCE ERROR: {type(e).__name__}: {e}"
            failures += 0 if ok else 1
            err_s = f"{err:.3e}" if err is not None else "-"
            print(f"{c.label():<29} {c.type:<5} {c.ffn or '-':<6} {c.what:<6} {enc_len:>4} "
                  f"{dec_len:>4} {err_s:>10}  {time.time() - t0:5.1f}s  {note}", flush=True)
            for k in [k for k, last in last_use.items() if last == i]:
                models.pop(k, None)
                path = files.get(k)
                if not a.keep and isinstance(path, str) and os.path.exists(path):
                    os.remove(path)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print("-" * len(header))
    print(f"{len(cases) - failures}/{len(cases)} cases passed (logits/embed err <= {TOLERANCE:g}, "
          f"bytes identical) in {time.time() - t_start:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
