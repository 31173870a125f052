#!/usr/bin/python3
"""run_convert_tests.py — the converter suite (ctest `convert`): tools/convert-needle on
checkpoints built like Cactus's published needle.pkl, checked three ways.

  1. Bytes: every tensor of the written GGUF has the expected name, dims and type, and holds
     exactly the bytes that tests/ref/gguf_np.py's encoders make from the pickle's arrays
     placed by hand (needle_checkpoint.our_tensors: names written out from the spec, not the
     converter's suffix rules); no extra tensors; needle.* metadata as the config says.
  2. Numbers: the engine (`needlepoint logits --all`, `needlepoint embed`) on the converted
     file against flax_ref.py, a float64 forward pass over the pickle's own Flax tree.
       f32 files:        err = max|engine - ref| / max|ref| <= F32_BOUND (embed: max abs)
       f16/q8_0/q4_0:    the same bound against the reference run on the pickle's arrays
                         after an f16/Q8_0/Q4_0 round trip (gguf_np), and QUANT_BOUND[type]
                         against the reference on the unrounded arrays.
  3. Refusals: incomplete or wrong checkpoints and hostile pickles must exit 1, name the
     problem on stderr, and leave no output file.
Plus: the converted model's tokenizer (`needlepoint tokenize --model`) against spm_encode
on the .model it came from, its tokenizer.* keys (values and types) against those the
engine's own reader writes (`needlepoint pack-tokenizer`), and (when ml_dtypes is installed) the emulated bfloat16 pickle
stream against the one ml_dtypes itself produces.

Tokenizers are trained here with spm_train (Needle's options, vocab 512, < 1 s); the
full-shape case extends that model to 8192 pieces by appending NORMAL pieces to the
ModelProto. Usage:
  run_convert_tests.py --cli build/needlepoint --work DIR [--only TEXT] [--no-full] [--list]
Exit 1 on any failure (a table of every case is printed first).
"""

import argparse
import importlib
import importlib.util
import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import time
import types
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
import flax_ref  # noqa: E402
import gguf_np  # noqa: E402
import needle_checkpoint as nc  # noqa: E402

CONVERTER = os.path.join(ROOT, "tools", "convert-needle")
PYTHON = "/usr/bin/python3"

# f32 files: the engine's float32 arithmetic against a float64 reference on the same values
# (measured about 2e-7); the margin keeps the check far below any placement error (a swapped
# or untransposed tensor moves logits by O(1)).
F32_BOUND = 1e-4
# Against the reference on the *unrounded* pickle values, quantized files differ by their
# rounding error. Measured on these random models (logits and embeddings, every case):
# f16 <= 1.2e-4 (3e-7 from bfloat16 pickles, which f16 holds exactly), q8_0 1.3e-3..3.6e-3,
# q4_0 4.8e-2..7.1e-2; the bounds leave about 3x or more.
QUANT_BOUND = {"f16": 1e-3, "q8_0": 2e-2, "q4_0": 0.2}
TOOLS_ID, EOS_ID, FIRST_PLAIN_ID = 5, 1, 6
SPM_OPTS = ["--model_type=bpe", "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
            "--user_defined_symbols=<tool_call>,<tools>", "--byte_fallback=true",
            "--normalization_rule_name=identity", "--num_threads=2", "--minloglevel=1",
            "--max_sentence_length=16384"]
TYPE_IDS = {"f32": gguf_np.F32, "f16": gguf_np.F16, "q8_0": gguf_np.Q8_0, "q4_0": gguf_np.Q4_0}


# ---------------------------------------------------------------------------------------------
# Tokenizers

def write_corpus(path):
    rng = random.Random(7)
    words = ("what is the weather in san francisco set a timer for minutes call mom send message "
             "email calendar event tomorrow at pm play music song artist turn on off lights room "
             "thermostat degrees navigate home search pizza near me add milk shopping list remind "
             "note alarm morning volume brightness").split()
    lines = []
    for _ in range(3000):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))).capitalize() + "?")
        lines.append('[{"name":"get_weather","description":"Get current weather for a city.",'
                     '"parameters":{"location":{"type":"string","description":"City name.","required":true}}}]')
        lines.append('<tool_call>[{"name":"set_timer","arguments":{"minutes":%d}}]' % rng.randint(1, 90))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def train_spm(work, name, vocab=512, model_type="bpe"):
    prefix = os.path.join(work, name)
    opts = [o for o in SPM_OPTS if not o.startswith("--model_type=")]
    subprocess.run(["spm_train", f"--input={os.path.join(work, 'corpus.txt')}", f"--model_prefix={prefix}",
                    f"--vocab_size={vocab}", f"--model_type={model_type}"] + opts, check=True, capture_output=True)
    return prefix + ".model"


def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _len_field(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def extend_spm(src, dst, vocab):
    """Appends NORMAL pieces to a ModelProto until it has `vocab` pieces (repeated field 1
    may appear anywhere in the message; their scores sit below every trained piece)."""
    data = open(src, "rb").read()
    have = int(subprocess.run(["spm_export_vocab", f"--model={src}"], capture_output=True, check=True)
               .stdout.count(b"\n"))
    extra = bytearray()
    for i in range(vocab - have):
        piece = "\u2581x" + "".join(chr(ord("a") + (i // 26 ** k) % 26) for k in range(3)) + "q"
        body = _len_field(1, piece.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", -1000.0 - i)
        extra += _len_field(1, body)
    with open(dst, "wb") as f:
        f.write(data + bytes(extra))
    return dst


# ---------------------------------------------------------------------------------------------
# Running things

class Failure(Exception):
    pass


def run(cmd, timeout=300):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def convert(pkl, tok, out, type_name):
    return run([PYTHON, CONVERTER, "--checkpoint", pkl, "--tokenizer", tok, "--out", out, "--type", type_name])


def engine_json(cli, args):
    rc, out, err = run([cli] + args)
    if rc != 0:
        raise Failure(f"needlepoint {args[0]} exited {rc}: {err.strip()[-300:]}")
    return np.array(json.loads(out), dtype=np.float64)


def random_ids(rng, vocab):
    n = int(rng.integers(30, 60))
    enc = rng.integers(FIRST_PLAIN_ID, vocab, n)
    enc[int(rng.integers(1, n - 1))] = TOOLS_ID
    dec = rng.integers(FIRST_PLAIN_ID, vocab, int(rng.integers(5, 10)))
    dec[0] = EOS_ID
    return [int(i) for i in enc], [int(i) for i in dec]


def roundtrip(values, type_name):
    """The values tree after storing every matrix as `type_name` and reading it back
    (gguf_np); kernels are blocked along their input axis, as our [out][in] rows are."""
    tid = TYPE_IDS[type_name]

    def rt(rows):  # (..., n) blocks along the last axis
        if tid in (gguf_np.Q8_0, gguf_np.Q4_0) and rows.shape[-1] % 32:
            return rows
        raw = gguf_np.encode_tensor(tid, rows)
        return gguf_np.dequantize(tid, raw, rows.size).reshape(rows.shape).astype(np.float32)

    def walk(tree, key=None):
        if isinstance(tree, dict):
            return {k: walk(v, k) for k, v in tree.items()}
        if key == "embedding":
            return rt(tree)
        if key == "kernel":
            return np.swapaxes(rt(np.ascontiguousarray(np.swapaxes(tree, -1, -2))), -1, -2)
        return tree
    return walk(values)


# ---------------------------------------------------------------------------------------------
# Checks of one converted file

def check_file(path, spec, values, type_name, tok_pieces):
    """Metadata, tensor table, types and bytes of the converted file."""
    r = gguf_np.GGUFReader(path)
    md = r.metadata
    want_md = {"general.architecture": "needle", "needle.format_version": 1,
               "needle.embedding_length": spec.d, "needle.attention.head_count": spec.heads,
               "needle.attention.head_count_kv": spec.kv_heads, "needle.encoder.block_count": spec.n_enc,
               "needle.decoder.block_count": spec.n_dec, "needle.context_length": spec.max_enc_len,
               "needle.decoder_context_length": spec.max_dec_len, "needle.tool_call_token_id": 4,
               "needle.tools_token_id": 5, "tokenizer.ggml.model": "llama",
               "tokenizer.ggml.padding_token_id": 0, "tokenizer.ggml.eos_token_id": 1,
               "tokenizer.ggml.bos_token_id": 2, "tokenizer.ggml.unknown_token_id": 3,
               "tokenizer.ggml.byte_fallback": True, "tokenizer.ggml.add_space_prefix": True}
    if spec.d_ff:
        want_md["needle.feed_forward_length"] = spec.d_ff
        want_md["needle.feed_forward_activation"] = spec.act
    if spec.contrastive_dim:
        want_md["needle.contrastive.dim"] = spec.contrastive_dim
    if type_name != "f32":
        want_md["general.file_type"] = {"f16": 1, "q8_0": 7, "q4_0": 2}[type_name]
    for k, v in want_md.items():
        if md.get(k) != v:
            raise Failure(f"metadata {k} = {md.get(k)!r}, expected {v!r}")
    for k in ("needle.feed_forward_length", "needle.contrastive.dim"):
        if k not in want_md and k in md:
            raise Failure(f"metadata {k} present but the checkpoint has no such block")
    if abs(md["needle.rope.freq_base"] - spec.rope_theta) > 1e-3 * spec.rope_theta:
        raise Failure(f"needle.rope.freq_base {md['needle.rope.freq_base']} != {spec.rope_theta}")
    if md["tokenizer.ggml.tokens"] != tok_pieces:
        raise Failure("tokenizer.ggml.tokens differ from the .model's pieces")
    want = nc.our_tensors(values, spec)
    extra = sorted(set(r.tensors) - set(want))
    missing = sorted(set(want) - set(r.tensors))
    if extra or missing:
        raise Failure(f"tensor set differs: extra {extra[:3]}, missing {missing[:3]}")
    tid = TYPE_IDS[type_name]
    n_blocks = 0
    for name, arr in want.items():
        t = r.tensors[name]
        if list(t.dims) != list(reversed(arr.shape)):
            raise Failure(f"{name}: dims {t.dims}, expected {list(reversed(arr.shape))}")
        is_matrix = arr.ndim == 2
        exp_type = tid if is_matrix else gguf_np.F32
        if exp_type in (gguf_np.Q8_0, gguf_np.Q4_0) and arr.shape[-1] % 32:
            exp_type = gguf_np.F32
        if t.type != exp_type:
            raise Failure(f"{name}: type {gguf_np.TYPE_NAMES[t.type]}, expected {gguf_np.TYPE_NAMES[exp_type]}")
        if bytes(r.raw(name)) != gguf_np.encode_tensor(exp_type, arr):
            raise Failure(f"{name}: bytes differ from the pickle's array encoded as {gguf_np.TYPE_NAMES[exp_type]}")
        n_blocks += 1
    return n_blocks


def check_numbers(cli, path, spec, cfg, values, type_name, rng):
    """-> dict of measured errors; raises Failure when a bound is broken."""
    enc, dec = random_ids(rng, spec.vocab)
    got = engine_json(cli, ["logits", "--model", path, "--enc-ids", ",".join(map(str, enc)),
                            "--dec-ids", ",".join(map(str, dec)), "--all"])
    exact = flax_ref.logits(values, cfg, enc, dec)
    if got.shape != exact.shape:
        raise Failure(f"logits shape {got.shape}, expected {exact.shape}")
    res = {"logits": float(np.max(np.abs(got - exact)) / np.max(np.abs(exact)))}
    stored = values if type_name == "f32" else roundtrip(values, type_name)
    if type_name != "f32":
        want = flax_ref.logits(stored, cfg, enc, dec)
        res["logits_stored"] = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
    if spec.contrastive_dim:
        got_e = engine_json(cli, ["embed", "--model", path, "--enc-ids", ",".join(map(str, enc))])
        res["embed"] = float(np.max(np.abs(got_e - flax_ref.embedding(values, cfg, enc))))
        if type_name != "f32":
            res["embed_stored"] = float(np.max(np.abs(got_e - flax_ref.embedding(stored, cfg, enc))))
    bound = F32_BOUND if type_name == "f32" else QUANT_BOUND[type_name]
    for k, v in res.items():
        b = F32_BOUND if k.endswith("_stored") else bound
        if not v <= b:
            raise Failure(f"{k} error {v:.3e} > {b:g}")
    return res


# ---------------------------------------------------------------------------------------------
# Cases

class Case:
    def __init__(self, name, spec, dtype="f32", protocol=4, types=("f32",), variant=None, tok="small",
                 numpy2=False):
        self.name, self.spec, self.dtype, self.protocol, self.numpy2 = name, spec, dtype, protocol, numpy2
        self.types, self.variant, self.tok = types, variant, tok


def forward_cases(full):
    S = nc.Spec
    cases = [
        Case("published f32 p4", S(), "f32", 4, ("f32",)),
        Case("published bf16 p5", S(), "bf16", 5, ("f32", "f16", "q8_0", "q4_0")),
        Case("published mixed p2", S(), "mixed", 2, ("f32",)),
        Case("published bf16 p0", S(n_enc=1, n_dec=1), "bf16", 0, ("f32",)),
        Case("published bf16 p5 numpy 2.x names", S(n_enc=1, n_dec=2), "bf16", 5, ("f32",), numpy2=True),
        Case("published mixed p4 numpy 2.x names", S(n_enc=2, n_dec=1), "mixed", 4, ("f32",), numpy2=True),
        Case("ffn drelu f32 p4", S(d_ff=96, act="drelu"), "f32", 4, ("f32", "f16", "q8_0")),
        Case("ffn swiglu bf16 p5", S(d_ff=128, act="swiglu"), "bf16", 5, ("f32", "q4_0")),
        Case("ffn geglu mixed p4 rope=500", S(d_ff=64, act="geglu", rope_theta=500.0), "mixed", 4, ("f32",)),
        Case("no retrieval head, 8/8 heads", S(heads=8, kv_heads=8, contrastive_dim=0, n_enc=3, n_dec=1),
             "f32", 5, ("f32",)),
        Case("dataclass config + FrozenDict params", S(), "bf16", 4, ("f32",), variant="wrapped"),
        Case("unrolled layers", S(d_ff=64), "f32", 4, ("f32",), variant="unrolled"),
        Case("jax.Array leaves (bf16) p5", S(), "mixed", 5, ("f32",), variant="jax"),
        Case("Fortran-ordered arrays p5", S(), "mixed", 5, ("f32",), variant="fortran"),
        Case("Fortran-ordered arrays p4", S(d_ff=32), "bf16", 4, ("f32",), variant="fortran"),
    ]
    if full:
        cases.append(Case("needle v1 shape bf16 p5", S(vocab=8192, d=512, heads=8, kv_heads=4, n_enc=12, n_dec=8,
                                                        contrastive_dim=128, max_enc_len=1024, max_dec_len=512),
                          "bf16", 5, ("q8_0", "f32"), tok="full"))
    return cases


class _NeedleConfig:
    """Pickled like a dataclass instance (NEWOBJ + BUILD of its __dict__)."""


_NeedleConfig.__module__ = "needle.model"
_NeedleConfig.__qualname__ = "NeedleConfig"


class _FrozenDict:
    """Pickled like flax.core.frozen_dict.FrozenDict: __reduce__ -> (FrozenDict, (dict,))."""

    def __init__(self, d):
        self.d = d

    def __reduce__(self):
        return _FrozenDict, (self.d,)


_FrozenDict.__module__ = "flax.core.frozen_dict"
_FrozenDict.__qualname__ = "FrozenDict"


def dumps_variant(case, params, cfg):
    if case.variant == "wrapped":
        obj = _NeedleConfig()
        obj.__dict__.update(cfg)
        mods = {name: types.ModuleType(name) for name in ("needle", "needle.model", "flax", "flax.core",
                                                          "flax.core.frozen_dict")}
        mods["needle.model"].NeedleConfig = _NeedleConfig
        mods["flax.core.frozen_dict"].FrozenDict = _FrozenDict
        saved = {k: sys.modules.get(k) for k in mods}
        sys.modules.update(mods)
        try:
            return nc.dumps({"params": _FrozenDict({"params": params}), "config": obj, "step": 12000},
                            case.protocol)
        finally:
            for k, v in saved.items():
                if v is None:
                    del sys.modules[k]
                else:
                    sys.modules[k] = v
    if case.variant == "jax":
        return dumps_jax({"params": as_jax(params), "config": cfg}, case.protocol)
    if case.variant == "fortran":
        return nc.dumps({"params": as_fortran(params), "config": cfg}, case.protocol)
    if case.variant == "unrolled":
        return nc.dumps({"params": unroll(params), "config": cfg}, case.protocol)
    return nc.dumps({"params": params, "config": cfg}, case.protocol, numpy2=case.numpy2)


def _jax_reconstruct_standin(fun, args, arr_state, aval_state):
    raise AssertionError("a stand-in, never called")


_jax_reconstruct_standin.__module__ = "jax._src.array"
_jax_reconstruct_standin.__qualname__ = _jax_reconstruct_standin.__name__ = "_reconstruct_array"


class _JaxArray:
    """Pickled like jax.Array: __reduce__ -> (_reconstruct_array, (numpy's __reduce__ of the
    value: fun, args, state; then the aval state))."""

    def __init__(self, leaf):
        self.leaf = leaf

    def __reduce__(self):
        red = self.leaf.__reduce_ex__(2) if isinstance(self.leaf, nc.Bf16Array) else self.leaf.__reduce__()
        fun, args, state = red
        return _jax_reconstruct_standin, (fun, args, state, {"weak_type": False})


def as_jax(tree):
    if isinstance(tree, dict):
        return {k: as_jax(v) for k, v in tree.items()}
    return _JaxArray(tree)


def dumps_jax(obj, protocol):
    mods = {name: types.ModuleType(name) for name in ("jax", "jax._src", "jax._src.array")}
    mods["jax._src.array"]._reconstruct_array = _jax_reconstruct_standin
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        return nc.dumps(obj, protocol)
    finally:
        for k, v in saved.items():
            if v is None:
                del sys.modules[k]
            else:
                sys.modules[k] = v


def as_fortran(tree):
    """Every array Fortran-ordered (as a transposed view device_get can return)."""
    if isinstance(tree, dict):
        return {k: as_fortran(v) for k, v in tree.items()}
    if isinstance(tree, nc.Bf16Array):
        return nc.Bf16Array(np.asfortranarray(tree.bits))
    return np.asfortranarray(tree)


def unroll(params):
    """Stacked blocks -> one `EncoderBlock_i` / `DecoderBlock_i` per layer (no layer axis)."""
    out = dict(params)
    for stack, blk in (("encoder", "EncoderBlock"), ("decoder", "DecoderBlock")):
        tree = params[stack]["layers"][blk + "_0"]
        L = len(next(v for v in _leaves(tree)))

        def take(t, i):
            return {k: take(v, i) for k, v in t.items()} if isinstance(t, dict) else np.ascontiguousarray(t[i])
        s = dict(params[stack])
        del s["layers"]
        for i in range(L):
            s[f"{blk}_{i}"] = take(tree, i)
        out[stack] = s
    return out


def _leaves(t):
    if isinstance(t, dict):
        for v in t.values():
            yield from _leaves(v)
    else:
        yield t


def run_forward(cli, work, case, toks, results):
    spec = case.spec
    params, cfg, values = nc.make_checkpoint(spec, zlib.crc32(case.name.encode()), case.dtype)
    tok_path, pieces = toks[case.tok]
    pkl = os.path.join(work, "case.pkl")
    with open(pkl, "wb") as f:
        f.write(dumps_variant(case, params, cfg))
    for type_name in case.types:
        t0 = time.time()
        out = os.path.join(work, f"case_{type_name}.gguf")
        row = {"case": case.name, "type": type_name}
        try:
            rc, _, err = convert(pkl, tok_path, out, type_name)
            if rc != 0:
                raise Failure(f"converter exited {rc}: {err.strip()[-400:]}")
            row["tensors"] = check_file(out, spec, values, type_name, pieces)
            rng = np.random.default_rng(zlib.crc32(f"{case.name} {type_name}".encode()))
            row.update(check_numbers(cli, out, spec, cfg, values, type_name, rng))
            row["ok"] = True
        except Failure as e:
            row["ok"], row["error"] = False, str(e)
        row["time"] = time.time() - t0
        results.append(row)
        print_row(row)
        if os.path.exists(out):
            os.remove(out)
    os.remove(pkl)


def print_row(row):
    errs = "  ".join(f"{k}={row[k]:.2e}" for k in ("logits", "logits_stored", "embed", "embed_stored") if k in row)
    status = "ok" if row["ok"] else "FAIL: " + row.get("error", "")
    print(f"{row['case']:<46} {row['type']:<5} {errs:<72} {row['time']:5.1f}s  {status}", flush=True)


# ---------------------------------------------------------------------------------------------
# Refusals

class _System:
    """A pickle whose loading would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Exec:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import builtins
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


def refusal_cases(work):
    """(name, build(params, cfg) -> the bytes of the checkpoint file, expected stderr
    substrings, tokenizer key, marker file that must not appear, Spec arguments[, --type])."""
    marker = os.path.join(work, "PWNED")

    def drop(path):
        def f(params, cfg):
            t = params
            for k in path[:-1]:
                t = t[k]
            del t[path[-1]]
            return nc.dumps({"params": params, "config": cfg}, 4)
        return f

    def reshape_q(params, cfg):
        k = params["encoder"]["layers"]["EncoderBlock_0"]["self_attn"]["q_proj"]
        k["kernel"] = np.concatenate([k["kernel"], k["kernel"][:, :, :2]], axis=2)
        return nc.dumps({"params": params, "config": cfg}, 5)

    def extra(params, cfg):
        params["encoder"]["layers"]["EncoderBlock_0"]["self_attn"]["q_proj"]["bias"] = np.zeros((2, 64), np.float32)
        return nc.dumps({"params": params, "config": cfg}, 4)

    def several(params, cfg):
        enc = params["encoder"]["layers"]["EncoderBlock_0"]["self_attn"]
        enc["q_proj"]["bias"] = np.zeros((2, 64), np.float32)
        enc["v_proj"]["kernel"] = np.concatenate([enc["v_proj"]["kernel"]] * 2, axis=2)
        del params["decoder"]["layers"]["DecoderBlock_0"]["cross_attn"]["k_norm"]
        return nc.dumps({"params": params, "config": cfg}, 5)

    def ffn_but_config_says_none(params, cfg):
        cfg = dict(cfg, no_feedforward=True)
        return nc.dumps({"params": params, "config": cfg}, 4)

    def heads_disagree(params, cfg):
        return nc.dumps({"params": params, "config": dict(cfg, num_heads=8)}, 4)

    def big_weight(params, cfg):
        params["encoder"]["layers"]["EncoderBlock_0"]["self_attn"]["k_proj"]["kernel"][1, 3, 5] = 1e5
        return nc.dumps({"params": params, "config": cfg}, 4)

    def system(params, cfg):
        return nc.dumps({"params": params, "config": _System(marker)}, 4)

    def exec_(params, cfg):
        return nc.dumps({"params": {"x": _Exec(marker)}, "config": cfg}, 2)

    def garbage(params, cfg):
        return bytes(random.Random(3).getrandbits(8) for _ in range(4096))

    def truncated(params, cfg):
        return nc.dumps({"params": params, "config": cfg}, 5)[:5000]

    blk = ["decoder", "layers", "DecoderBlock_0"]
    return [
        ("missing tensor (cross_attn k_norm)", drop(blk + ["cross_attn", "k_norm"]),
         ["missing dec.blk.0.cross_attn_k_norm.weight", "missing dec.blk.1.cross_attn_k_norm.weight",
          "DecoderBlock_0/cross_attn/k_norm/scale"], "small", None, {}),
        ("missing retrieval part (log_temp)", drop(["log_temp"]), ["missing contrastive.log_temp"], "small", None, {}),
        ("wrong shape (q_proj 64x66)", reshape_q,
         ["EncoderBlock_0/self_attn/q_proj/kernel[0]: shape (64, 66), expected (64, 64)"], "small", None, {}),
        ("extra unknown tensor (q_proj/bias)", extra, ["could not place", "q_proj/bias"], "small", None, {}),
        ("unplaced + wrong shape + missing at once", several,
         ["5 problem(s)", "could not place encoder/layers/EncoderBlock_0/self_attn/q_proj/bias",
          "v_proj/kernel[1]: shape (64, 64), expected (64, 32)", "missing dec.blk.1.cross_attn_k_norm.weight"],
         "small", None, {}),
        ("ffn weights but no_feedforward", ffn_but_config_says_none,
         ["not part of this model (the config has no feed-forward block)"], "small", None, {"d_ff": 64}),
        ("config disagrees with shapes", heads_disagree, ["config num_heads = 8", "q_norm/scale"], "small", None, {}),
        ("tokenizer size != vocab", lambda p, c: nc.dumps({"params": p, "config": c}, 4),
         ["vocab_size = 512 but the tokenizer (pieces) says 8192"], "full", None, {}),
        ("unigram tokenizer", lambda p, c: nc.dumps({"params": p, "config": c}, 4),
         ["only BPE is supported"], "unigram", None, {}),
        ("f16 overflow (a weight of 1e5)", big_weight, ["--type f16: values beyond the f16 range"], "small",
         None, {}, "f16"),
        ("os.system via __reduce__", system, ["the pickle calls posix.system(...)", "nothing from the pickle was executed"],
         "small", marker, {}),
        ("builtins.exec via __reduce__", exec_, ["the pickle calls builtins.exec(...)"], "small", marker, {}),
        ("not a pickle", garbage, ["not a readable pickle"], "small", None, {}),
        ("truncated pickle", truncated, ["not a readable pickle"], "small", None, {}),
    ]


def run_refusals(work, toks, results, only=""):
    for name, build, expect, tok, marker, spec_kw, *type_name in refusal_cases(work):
        if only not in "refuse: " + name:
            continue
        t0 = time.time()
        row = {"case": "refuse: " + name, "type": "-"}
        params, cfg, _ = nc.make_checkpoint(nc.Spec(**spec_kw), 99, "f32")
        pkl = os.path.join(work, "bad.pkl")
        out = os.path.join(work, "bad.gguf")
        with open(pkl, "wb") as f:
            f.write(build(params, cfg))
        try:
            rc, _, err = convert(pkl, toks[tok][0], out, type_name[0] if type_name else "q8_0")
            if rc != 1:
                raise Failure(f"exit code {rc}, expected 1; stderr: {err.strip()[-300:]}")
            for s in expect:
                if s not in err:
                    raise Failure(f"stderr lacks {s!r}: {err.strip()[-400:]}")
            if os.path.exists(out):
                raise Failure("an output file was left behind")
            if [f for f in os.listdir(work) if f.endswith(".part")]:
                raise Failure("a temporary file was left behind")
            if marker and os.path.exists(marker):
                raise Failure("the pickle's command ran")
            row["ok"] = True
        except Failure as e:
            row["ok"], row["error"] = False, str(e)
        row["time"] = time.time() - t0
        results.append(row)
        print_row(row)


# ---------------------------------------------------------------------------------------------
# Tokenizer and bfloat16-stream checks

TOKENIZER_LINES = [
    "What's the weather in San Francisco?",
    "Set a timer for 25 minutes<tools>[{\"name\":\"set_timer\"}]",
    "<tool_call>[{\"name\":\"get_weather\",\"arguments\":{\"location\":\"Zürich\"}}]",
    "  extra   spaces and\ttabs  ",
    "Remind me: 東京 at 9 ☕ — naïve café",
]


def check_tokenizer(cli, work, toks, results):
    t0 = time.time()
    row = {"case": "tokenizer ids vs spm_encode", "type": "-"}
    try:
        spec = nc.Spec()
        params, cfg, _ = nc.make_checkpoint(spec, 5, "f32")
        pkl, out = os.path.join(work, "tok.pkl"), os.path.join(work, "tok.gguf")
        with open(pkl, "wb") as f:
            f.write(nc.dumps({"params": params, "config": cfg}, 4))
        rc, _, err = convert(pkl, toks["small"][0], out, "f32")
        if rc != 0:
            raise Failure(f"converter exited {rc}: {err.strip()[-300:]}")
        text = "\n".join(TOKENIZER_LINES) + "\n"
        ours = subprocess.run([cli, "tokenize", "--model", out], input=text.encode(), capture_output=True)
        theirs = subprocess.run(["spm_encode", f"--model={toks['small'][0]}", "--output_format=id"],
                                input=text.encode(), capture_output=True)
        if ours.returncode or theirs.returncode:
            raise Failure(f"tokenize exited {ours.returncode}, spm_encode {theirs.returncode}")
        a, b = ours.stdout.decode().splitlines(), theirs.stdout.decode().splitlines()
        if a != b or len(a) != len(TOKENIZER_LINES):
            bad = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
            raise Failure(f"line {bad}: ours {a[bad:bad + 1]} vs spm_encode {b[bad:bad + 1]}")
        if not any(" 5 " in f" {l} " for l in a) or not any(" 4 " in f" {l} " for l in a):
            raise Failure("<tools>/<tool_call> did not encode as ids 5/4")
        # The tokenizer keys must equal what the engine's own SentencePiece reader writes.
        packed = os.path.join(work, "packed.gguf")
        rc, _, err = run([cli, "pack-tokenizer", "--spm", toks["small"][0], "--model", out, "--out", packed])
        if rc != 0:
            raise Failure(f"pack-tokenizer exited {rc}: {err.strip()[-200:]}")
        mine, native = gguf_np.GGUFReader(out), gguf_np.GGUFReader(packed)
        keys = sorted(k for k in set(mine.metadata) | set(native.metadata) if k.startswith("tokenizer."))
        for k in keys:
            if mine.metadata.get(k) != native.metadata.get(k) or mine.kv_types.get(k) != native.kv_types.get(k):
                raise Failure(f"{k}: converter wrote {str(mine.metadata.get(k))[:60]} "
                              f"(type {mine.kv_types.get(k)}), the engine {str(native.metadata.get(k))[:60]} "
                              f"(type {native.kv_types.get(k)})")
        os.remove(packed)
        row["keys"] = len(keys)
        row["ok"] = True
        row["lines"] = len(a)
        for p in (pkl, out):
            os.remove(p)
    except Failure as e:
        row["ok"], row["error"] = False, str(e)
    row["time"] = time.time() - t0
    results.append(row)
    print_row(row)


def check_real_bf16_stream(results):
    """With ml_dtypes installed: the emulated stream must equal ml_dtypes' own (the
    descriptor flags, which differ between ml_dtypes releases, are taken from the real one)."""
    if importlib.util.find_spec("ml_dtypes") is None:
        print(f"{'bf16 stream vs ml_dtypes':<46} -     {'':<72}   -    skipped (ml_dtypes not installed)")
        return
    ml_dtypes = importlib.import_module("ml_dtypes")
    t0 = time.time()
    row = {"case": "bf16 stream vs ml_dtypes", "type": "-", "ok": True}
    fn, args, state = np.dtype(ml_dtypes.bfloat16).__reduce__()
    if args[0] is not ml_dtypes.bfloat16 or tuple(state[:7]) != (3, "<", None, None, None, 2, 2):
        row["ok"], row["error"] = False, f"bfloat16 dtype reduces to {args!r}, {state!r}"
    saved = nc.BF16_DESCR.flags
    nc.BF16_DESCR.flags = state[7]
    try:
        params, cfg, _ = nc.make_checkpoint(nc.Spec(n_enc=1, n_dec=1), 3, "mixed")
        for protocol in (2, 4, 5):
            obj = {"params": params, "config": cfg}
            if nc.dumps(obj, protocol) != nc.dumps(obj, protocol, real_bf16=True):
                row["ok"], row["error"] = False, f"protocol {protocol}: streams differ"
    finally:
        nc.BF16_DESCR.flags = saved
    row["time"] = time.time() - t0
    results.append(row)
    print_row(row)


def check_user_dtype_emulation(results):
    """The pickle emulation of user-registered dtypes (needle_checkpoint.UserDtypeArray) must
    give exactly numpy's own bytes for numpy's test dtype `rational`, at every protocol."""
    t0 = time.time()
    row = {"case": "user-dtype pickles vs numpy (rational)", "type": "-", "ok": True}
    try:
        from numpy.core._rational_tests import rational
    except ImportError:
        from numpy._core._rational_tests import rational
    real = [np.array([[rational(1, 2), rational(-3, 4)], [rational(5), rational(7, 9)]]),
            np.array([rational(2, 3)] * 5)]
    d = real[0].dtype
    fn, args, state = d.__reduce__()
    descr = nc.UserDescr(rational, state[5], state[6], state[7])
    fake = [nc.UserDtypeArray(np.frombuffer(a.tobytes(), "<u8").reshape(a.shape), descr) for a in real]
    real.append(np.asfortranarray(real[0].T))
    fake.append(nc.UserDtypeArray(np.asfortranarray(fake[0].storage.T), descr))
    for protocol in (0, 2, 4, 5):
        want = pickle.dumps({"a": real[0], "b": real[1], "f": real[2], "c": np.arange(3, dtype=np.float32)},
                            protocol)
        got = pickle.dumps({"a": fake[0], "b": fake[1], "f": fake[2], "c": np.arange(3, dtype=np.float32)},
                           protocol)
        if want != got:
            row["ok"], row["error"] = False, f"protocol {protocol}: emulated stream differs from numpy's"
    row["time"] = time.time() - t0
    results.append(row)
    print_row(row)


def main(argv=None):
    ap = argparse.ArgumentParser(description="tools/convert-needle tests")
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--no-full", action="store_true", help="skip the full Needle-shape case")
    a = ap.parse_args(argv)
    for tool in ("spm_train", "spm_encode", "spm_export_vocab"):
        if not shutil.which(tool):
            print(f"FAIL: {tool} not found (tools/install-deps.sh installs sentencepiece)")
            return 1
    t_start = time.time()
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    write_corpus(os.path.join(work, "corpus.txt"))
    small = train_spm(work, "small")
    full = extend_spm(small, os.path.join(work, "full.model"), 8192)
    unigram = train_spm(work, "unigram", 400, "unigram")
    toks = {}
    for key, path in (("small", small), ("full", full), ("unigram", unigram)):
        vocab = subprocess.run(["spm_export_vocab", f"--model={path}"], capture_output=True, check=True).stdout
        toks[key] = (path, [line.split(b"\t")[0].decode() for line in vocab.splitlines()])
    results = []
    print(f"{'case':<46} {'type':<5} {'errors (logits: rel. to max|ref|; embed: abs)':<72} {'time':>6}  result")
    for case in forward_cases(not a.no_full):
        if a.only in case.name:
            run_forward(a.cli, work, case, toks, results)
    run_refusals(work, toks, results, a.only)
    if a.only in "tokenizer ids vs spm_encode":
        check_tokenizer(a.cli, work, toks, results)
    if a.only in "user-dtype pickles vs numpy (rational)":
        check_user_dtype_emulation(results)
    if a.only in "bf16 stream vs ml_dtypes":
        check_real_bf16_stream(results)
    failed = [r for r in results if not r["ok"]]
    print(f"{len(results) - len(failed)}/{len(results)} checks passed in {time.time() - t_start:.1f}s")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
