#!/usr/bin/python3
"""check_parity.py — the parity suite: the C++ engine's CLI against the float64 numpy
reference (needle_ref.py), on random-weight models.

For each case: make a model file (with the engine's `make-model`, or with this directory's
python GGUF writer so that the engine also reads a file it did not write), pick random ids,
run the engine CLI (`logits --all` or `embed`), run the reference in-process on the same file,
and compare:
  logits:    err = max|engine - ref| / max|ref|   over every decoder position and vocab entry
  embedding: err = max|engine - ref|              (both are unit vectors)
Every case must have err <= TOLERANCE. Prints a table; exits 1 on any failure or CLI error.

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
import needle_ref as ref  # noqa: E402
import random_model  # noqa: E402

# The engine computes in float32 on weights dequantized from the same bytes the reference
# reads; float32 accumulation over ~20 layers stays well below this (measured ~1e-6).
TOLERANCE = 1e-4
TOOLS_ID = 5          # <tools>
EOS_ID = 1            # decoder start symbol
FIRST_PLAIN_ID = 6    # ids below are specials (pad 0 is never sent)
ENGINE_FFN_D_FF = 128
CLI_TIMEOUT_S = 300
# geglu cases: engine-vs-tanh-reference error must be this many times below engine-vs-erf.
GELU_MARGIN = 10


class Case:
    def __init__(self, source, config, type_name, what, ffn=None, d_ff=0, alignment=32,
                 shuffle=False, pad_tail=False):
        self.source = source          # "engine": make-model; "python": random_model.py
        self.config = config
        self.type = type_name
        self.what = what              # "logits" or "embed"
        self.ffn = ffn
        self.d_ff = d_ff
        self.alignment = alignment
        self.shuffle = shuffle        # python writer: tensors in a random order
        self.pad_tail = pad_tail      # encoder ids end in pad tokens (masked like a padded batch row)

    def model_key(self):
        return (self.source, self.config, self.type, self.ffn, self.d_ff, self.alignment, self.shuffle)

    def label(self):
        src = "" if self.source == "engine" else "py:"
        src = src + ("padded:" if self.pad_tail else "")
        extra = f" align={self.alignment}" if self.alignment != 32 else ""
        extra += " shuffled" if self.shuffle else ""
        return f"{src}{self.config}{extra}"


def build_cases():
    cases = []
    for config in ("small", "needle"):
        for t in ("f32", "f16", "q8_0", "q4_0"):
            cases.append(Case("engine", config, t, "logits"))
    for act in ("drelu", "swiglu", "geglu"):
        cases.append(Case("engine", "small", "f32", "logits", act, ENGINE_FFN_D_FF))
    for config in ("small", "needle"):
        cases.append(Case("engine", config, "f32", "embed"))
    cases.append(Case("engine", "small", "bf16", "logits"))
    cases.append(Case("engine", "small", "f32", "logits", pad_tail=True))
    cases.append(Case("engine", "small", "f32", "embed", pad_tail=True))
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


def make_model(cli, case, path, seed):
    if case.source == "engine":
        args = ["make-model", "--out", path, "--config", case.config, "--type", case.type,
                "--seed", str(seed)]
        if case.ffn:
            args += ["--d-ff", str(case.d_ff), "--ffn", case.ffn]
        run_cli(cli, args)
    else:
        random_model.write_random_model(path, case.config, case.type, seed, case.d_ff,
                                        case.ffn or "drelu", case.alignment, case.shuffle)


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


def run_case(cli, case, model_path, model, rng):
    """-> (encoder length, decoder length or "-", err, problem or None beyond err itself)."""
    enc, dec = random_ids(rng, model.vocab, case.pad_tail, model.cfg.pad_id)
    problem = None
    ids = ["--enc-ids", ",".join(map(str, enc))]
    if case.what == "logits":
        got = parse_json_array(run_cli(cli, ["logits", "--model", model_path] + ids +
                                       ["--dec-ids", ",".join(map(str, dec)), "--all"]), "logits")
        want = ref.logits(model, [enc], [dec])[0]                            # (S, V)
        if got.shape != want.shape:
            raise CliError(f"logits --all: shape {got.shape}, expected {want.shape}")
        err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
        if model.cfg.ffn_act == "geglu":
            # erf vs tanh GELU moves these logits by only ~1e-5 relative, under TOLERANCE:
            # require the engine to be clearly closer to the agreed tanh form.
            alt = ref.Model(model.cfg, model.w)
            alt.gelu = ref.gelu_erf
            want_erf = ref.logits(alt, [enc], [dec])[0]
            err_erf = float(np.max(np.abs(got - want_erf)) / np.max(np.abs(want)))
            if not err * GELU_MARGIN < err_erf:
                problem = (f"engine not clearly closer to tanh GELU than to erf GELU "
                           f"(err vs erf-GELU reference {err_erf:.3e})")
    else:
        got = parse_json_array(run_cli(cli, ["embed", "--model", model_path] + ids), "embed")
        want = ref.retrieval_embedding(model, [enc])[0]
        if got.shape != want.shape:
            raise CliError(f"embed: shape {got.shape}, expected {want.shape}")
        err = float(np.max(np.abs(got - want)))
        dec = []
    if not np.isfinite(err):
        err = float("inf")
    return len(enc), (len(dec) if dec else "-"), err, problem


def main(argv=None):
    ap = argparse.ArgumentParser(description="engine vs numpy reference parity")
    ap.add_argument("--cli", required=True, help="path to the needlepoint binary")
    ap.add_argument("--only", default="", help="run only cases whose row contains this text")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--keep", default="", help="write the model files here and keep them")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    a = ap.parse_args(argv)

    cases = build_cases()
    row = lambda c: f"{c.label()} {c.type} {c.ffn or '-'} {c.what}"  # noqa: E731
    if a.only:
        cases = [c for c in cases if a.only in row(c)]
    if a.list:
        for c in cases:
            print(row(c))
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
    rng = np.random.default_rng(a.seed)
    models = {}                       # model_key -> (path, ref model)
    header = f"{'config':<29} {'type':<5} {'ffn':<6} {'check':<6} {'enc':>4} {'dec':>4} {'err':>10}  {'time':>6}  result"
    print(header)
    print("-" * len(header))
    failures = 0
    try:
        for c in cases:
            t0 = time.time()
            enc_len = dec_len = "-"
            err = None
            note = ""
            try:
                key = c.model_key()
                if key not in models:
                    path = os.path.join(workdir, f"m{len(models)}_{c.source}_{c.config}_{c.type}"
                                                 f"_{c.ffn or 'noffn'}.gguf")
                    make_model(a.cli, c, path, a.seed + len(models))
                    models[key] = (path, ref.load_model(path))
                path, model = models[key]
                enc_len, dec_len, err, problem = run_case(a.cli, c, path, model, rng)
                ok = err <= TOLERANCE and problem is None
                note = "ok" if ok else f"FAIL: {problem}" if problem else f"FAIL (> {TOLERANCE:g})"
            except CliError as e:
                ok, note = False, f"CLI ERROR: {e}"
            except (ref.ModelError, ValueError, OSError) as e:
                ok, note = False, f"REFERENCE ERROR: {type(e).__name__}: {e}"
            failures += 0 if ok else 1
            err_s = f"{err:.3e}" if err is not None else "-"
            print(f"{c.label():<29} {c.type:<5} {c.ffn or '-':<6} {c.what:<6} {enc_len:>4} {dec_len:>4} "
                  f"{err_s:>10}  {time.time() - t0:5.1f}s  {note}", flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print("-" * len(header))
    print(f"{len(cases) - failures}/{len(cases)} cases within {TOLERANCE:g} "
          f"({time.time() - t_start:.1f}s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
