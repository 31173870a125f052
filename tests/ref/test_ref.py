#!/usr/bin/python3
"""test_ref.py — self-tests of the numpy reference (needle_ref.py) and the GGUF reader/writer
(gguf_np.py). Plain asserts; every test runs, failures are listed, exit status 1 on any.

Properties checked are ones a wrong reference would break: causality, padding invariance,
RoPE being a relative rotation, hand-made quantized blocks, unit RMS, GQA vs MHA computed
another way, closed gates giving a closed-form output. Run: /usr/bin/python3 tests/ref/test_ref.py
"""

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_np  # noqa: E402
import needle_ref as ref  # noqa: E402
import random_model  # noqa: E402

TMP = tempfile.mkdtemp(prefix="needle_ref_test_")
# float64 reference against itself: only reassociation differences are allowed.
TIGHT = 1e-12


def close(a, b, tol=TIGHT, what=""):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert err <= tol * scale, f"{what}: max diff {err:g} > {tol:g} (scale {scale:g})"


_models = {}


def tiny_model(type_name="f32", d_ff=0, ffn="drelu", seed=1):
    key = (type_name, d_ff, ffn, seed)
    if key not in _models:
        path = os.path.join(TMP, f"tiny_{type_name}_{d_ff}_{ffn}_{seed}.gguf")
        random_model.write_random_model(path, "pytiny", type_name, seed, d_ff, ffn)
        _models[key] = (path, ref.load_model(path))
    return _models[key][1]


def tiny_path(type_name="f32", d_ff=0, ffn="drelu", seed=1):
    tiny_model(type_name, d_ff, ffn, seed)
    return _models[(type_name, d_ff, ffn, seed)][0]


def random_ids(rng, n, vocab, first=None):
    ids = rng.integers(6, vocab, n)
    if first is not None:
        ids[0] = first
    return ids


# ---------------------------------------------------------------------------------------------
# GGUF reader / writer

def test_gguf_roundtrip_metadata_and_tensors():
    rng = np.random.default_rng(0)
    w = gguf_np.GGUFWriter(alignment=64)
    kv = [("k.u8", 200, gguf_np.T_U8), ("k.i8", -100, gguf_np.T_I8), ("k.u16", 60000, gguf_np.T_U16),
          ("k.i16", -30000, gguf_np.T_I16), ("k.u32", 4000000000, gguf_np.T_U32),
          ("k.i32", -2000000000, gguf_np.T_I32), ("k.f32", 0.5, gguf_np.T_F32),
          ("k.bool", True, gguf_np.T_BOOL), ("k.str", "héllo ▁", gguf_np.T_STRING),
          ("k.u64", 2 ** 63 + 5, gguf_np.T_U64), ("k.i64", -2 ** 62, gguf_np.T_I64),
          ("k.f64", 1.0 / 3.0, gguf_np.T_F64),
          ("k.arr_i32", [1, -2, 3], (gguf_np.T_ARRAY, gguf_np.T_I32)),
          ("k.arr_str", ["a", "", "ü"], (gguf_np.T_ARRAY, gguf_np.T_STRING)),
          ("k.arr_bool", [True, False], (gguf_np.T_ARRAY, gguf_np.T_BOOL)),
          ("k.arr_empty", [], (gguf_np.T_ARRAY, gguf_np.T_F32))]
    for key, v, t in kv:
        w.add(key, v, t)
    # nested array: array of arrays of u8 (written by hand through the generic path)
    w.kvs["k.nested"] = ((gguf_np.T_ARRAY, gguf_np.T_ARRAY), [])
    a3 = rng.normal(size=(2, 3, 5))                       # dims [5, 3, 2]
    m = rng.normal(size=(3, 64))
    w.add_tensor("t.f32", a3, gguf_np.F32)
    w.add_tensor("t.f16", m, gguf_np.F16)
    w.add_tensor("t.bf16", m, gguf_np.BF16)
    w.add_tensor("t.q8", m, gguf_np.Q8_0)
    w.add_tensor("t.q4", m, gguf_np.Q4_0)
    path = os.path.join(TMP, "roundtrip.gguf")
    w.write(path)
    r = gguf_np.GGUFReader(path)
    assert r.version == 3 and r.alignment == 64
    assert r.data_offset % 64 == 0
    for key, v, t in kv:
        got = r.metadata[key]
        if t == gguf_np.T_F32:
            assert got == np.float32(v), (key, got)
        else:
            assert got == v, (key, got, v)
        assert r.kv_types[key] == t, (key, r.kv_types[key])
    assert r.metadata["k.nested"] == []
    assert list(r.metadata)[0] == "general.alignment"
    assert r.tensors["t.f32"].dims == [5, 3, 2] and r.tensor("t.f32").shape == (2, 3, 5)
    close(r.tensor("t.f32"), a3.astype(np.float32), 0, "f32")
    close(r.tensor("t.f16"), m.astype(np.float16), 0, "f16")
    assert np.max(np.abs(r.tensor("t.bf16") - m)) <= np.max(np.abs(m)) * 2 ** -8, "bf16 rounding"
    for name in r.tensors:
        assert r.tensors[name].offset % 64 == 0, name
    # quantizers: each value within half a step of the original (plus the f16 rounding of d)
    blocks = m.reshape(-1, 32)
    d8 = np.max(np.abs(blocks), axis=1, keepdims=True) / 127
    assert np.all(np.abs(r.tensor("t.q8").reshape(-1, 32) - blocks) <= d8 * 0.5 + np.abs(blocks) * 1e-3)
    d4 = np.max(np.abs(blocks), axis=1, keepdims=True) / 8
    assert np.all(np.abs(r.tensor("t.q4").reshape(-1, 32) - blocks) <= d4 * 1.0 + np.abs(blocks) * 1e-3)


def test_gguf_default_alignment_and_bytes():
    w = gguf_np.GGUFWriter()
    w.add("general.architecture", "x")
    w.add_tensor("a", np.arange(3.0), gguf_np.F32)            # 12 bytes, padded to 32
    w.add_tensor("b", np.arange(2.0), gguf_np.F32)
    b = w.to_bytes()
    assert b[:4] == b"GGUF" and struct.unpack_from("<IQQ", b, 4) == (3, 2, 1)
    r = gguf_np.GGUFReader(b)
    assert r.alignment == 32 and "general.alignment" not in r.metadata
    assert r.tensors["a"].offset == 0 and r.tensors["b"].offset == 32
    assert len(b) == r.data_offset + 64
    assert r.tensor("b").tolist() == [0.0, 1.0]


def test_gguf_reader_rejects_broken_files():
    w = gguf_np.GGUFWriter()
    w.add("general.architecture", "x")
    w.add_tensor("a", np.arange(64.0), gguf_np.Q8_0)
    good = w.to_bytes()
    gguf_np.GGUFReader(good)
    broken = {
        "bad magic": b"GGUX" + good[4:],
        "bad version": good[:4] + struct.pack("<I", 7) + good[8:],
        "truncated header": good[:30],
        "truncated data": good[:-40],                 # 68 data bytes + 28 padding
        "huge kv count": good[:16] + struct.pack("<Q", 2 ** 40) + good[24:],
    }
    # tensor type field: find it after the name "a" (u64 len 1, 'a', u32 n_dims=1, u64 64)
    at = good.index(struct.pack("<Q", 1) + b"a" + struct.pack("<IQ", 1, 64)) + 8 + 1 + 4 + 8
    broken["unknown tensor type"] = good[:at] + struct.pack("<I", 99) + good[at + 4:]
    broken["misaligned offset"] = good[:at + 4] + struct.pack("<Q", 3) + good[at + 12:]
    broken["ne0 not a block multiple"] = good[:at - 8] + struct.pack("<Q", 48) + good[at:]
    for what, data in broken.items():
        try:
            gguf_np.GGUFReader(data)
        except gguf_np.GGUFError:
            continue
        raise AssertionError(f"reader accepted a file with {what}")


def test_q8_0_hand_block():
    # d = 0.5 (f16 0x3800); qs = -16..15
    qs = list(range(-16, 16))
    raw = struct.pack("<H", 0x3800) + struct.pack("<32b", *qs)
    got = gguf_np.dequantize(gguf_np.Q8_0, raw, 32)
    assert got[0] == -8.0 and got[16] == 0.0 and got[31] == 7.5, got
    assert got.tolist() == [q * 0.5 for q in qs]
    # two blocks: the second has d = -2 (f16 0xC000) and qs = 127, -128, 0...
    raw2 = raw + struct.pack("<H", 0xC000) + struct.pack("<32b", 127, -128, *([0] * 30))
    got2 = gguf_np.dequantize(gguf_np.Q8_0, raw2, 64)
    assert got2[32] == -254.0 and got2[33] == 256.0 and got2[34] == 0.0


def test_q4_0_hand_block():
    # d = 2.0 (f16 0x4000); byte j = low nibble (j) | high nibble (15 - j)
    qs = bytes([(j & 0xF) | ((15 - j) << 4) for j in range(16)])
    got = gguf_np.dequantize(gguf_np.Q4_0, struct.pack("<H", 0x4000) + qs, 32)
    # value j = (j - 8) * 2 ; value j + 16 = (15 - j - 8) * 2
    assert got[0] == -16.0 and got[8] == 0.0 and got[15] == 14.0, got[:16]
    assert got[16] == 14.0 and got[31] == -16.0, got[16:]
    assert got.tolist() == [(j - 8) * 2.0 for j in range(16)] + [(7 - j) * 2.0 for j in range(16)]
    # byte 0x80: value 0 -> (0-8)*d, value 16 -> (8-8)*d
    got = gguf_np.dequantize(gguf_np.Q4_0, struct.pack("<H", 0x3C00) + bytes([0x80] + [0x88] * 15), 32)
    assert got[0] == -8.0 and got[16] == 0.0 and got[1] == 0.0


def test_quantizers_match_spec_formulas():
    # Q8_0: d = max|x|/127, q = round(x/d), halves away from zero
    x = np.zeros(32, dtype=np.float32)
    x[0], x[1], x[2] = 127.0, 0.5, -0.5                        # d = 1
    b = gguf_np.quantize_q8_0(x)
    assert struct.unpack_from("<H", b, 0)[0] == 0x3C00
    assert struct.unpack_from("<3b", b, 2) == (127, 1, -1)
    # Q4_0: d = m/-8 with m the signed max-magnitude element; that element maps to nibble 0
    x = np.linspace(-1, 3, 32).astype(np.float32)              # m = 3 -> d = -0.375
    b = gguf_np.quantize_q4_0(x)
    assert np.float16(np.frombuffer(b[:2], "<f2")[0]) == np.float16(-0.375)
    deq = gguf_np.dequantize(gguf_np.Q4_0, b, 32)
    assert deq[31] == 3.0 and (b[2 + 15] >> 4) == 0
    assert np.all(np.abs(deq - x) <= 0.375 / 2 + 1e-6)
    # all-zero blocks stay zero
    assert not np.any(gguf_np.dequantize(gguf_np.Q4_0, gguf_np.quantize_q4_0(np.zeros(32)), 32))
    assert not np.any(gguf_np.dequantize(gguf_np.Q8_0, gguf_np.quantize_q8_0(np.zeros(32)), 32))


# ---------------------------------------------------------------------------------------------
# Building blocks

def test_zcrmsnorm():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 64)) * 7
    y = ref.zcrmsnorm(x, np.zeros(64), 0.0)
    rms = np.sqrt(np.mean(y * y, axis=-1))
    close(rms, np.ones_like(rms), 1e-12, "unit rms with g=0, eps=0")
    ms = np.mean(x * x, axis=-1)
    y = ref.zcrmsnorm(x, np.zeros(64), 1e-6)
    close(np.mean(y * y, axis=-1), ms / (ms + 1e-6), 1e-12, "eps inside the sqrt")
    g = rng.normal(size=64)
    close(ref.zcrmsnorm(x, g, 1e-6), y * (1 + g), 1e-12, "(1+g) scaling")
    close(ref.zcrmsnorm(np.array([3.0, 4.0]), np.zeros(2), 0.0), np.array([3.0, 4.0]) / math.sqrt(12.5))


def test_rope_rotation_and_relative():
    rng = np.random.default_rng(3)
    hs, theta = 16, 10000.0
    q = rng.normal(size=(hs,))
    k = rng.normal(size=(hs,))
    pos = np.arange(40)
    rq = ref.rope(np.broadcast_to(q, (40, hs)), pos, theta)
    rk = ref.rope(np.broadcast_to(k, (40, hs)), pos, theta)
    close(np.linalg.norm(rq, axis=-1), np.full(40, np.linalg.norm(q)), 1e-12, "norm preserved")
    close(rq[0], q, 0, "position 0 is the identity")
    dots = rq @ rk.T                                           # (m, n)
    for s in (1, 5, 17):
        close(dots[s:, s:], dots[:-s, :-s], 1e-12, f"q.k depends on m-n only (shift {s})")
    # hand example: hs = 2 -> one pair, angle t / theta^0 = t radians
    close(ref.rope(np.array([[1.0, 0.0]] * 3), np.arange(3), theta),
          np.array([[math.cos(t), math.sin(t)] for t in range(3)]), 1e-15, "hs=2 rotation")
    # pair i is (x[i], x[i + hs/2]) with frequency theta^(-2i/hs): check pair 3 at t = 7
    x = np.zeros((8, hs))
    x[7, 3] = 1.0
    ang = 7 / theta ** (2 * 3 / hs)
    y = ref.rope(x, np.arange(8), theta)[7]
    assert abs(y[3] - math.cos(ang)) < 1e-15 and abs(y[3 + hs // 2] - math.sin(ang)) < 1e-15


class _Cfg:
    def __init__(self, nh, nkv, hs, theta=10000.0, eps=1e-6):
        self.n_heads, self.n_kv_heads, self.head_dim = nh, nkv, hs
        self.rope_theta, self.eps = theta, eps


def _attn_weights(rng, C, nkv, hs, prefix="a"):
    return {f"{prefix}_q.weight": rng.normal(size=(C, C)) / math.sqrt(C),
            f"{prefix}_k.weight": rng.normal(size=(nkv * hs, C)) / math.sqrt(C),
            f"{prefix}_v.weight": rng.normal(size=(nkv * hs, C)) / math.sqrt(C),
            f"{prefix}_output.weight": rng.normal(size=(C, C)) / math.sqrt(C),
            f"{prefix}_q_norm.weight": rng.uniform(-0.5, 0.5, hs),
            f"{prefix}_k_norm.weight": rng.uniform(-0.5, 0.5, hs)}


def _mha_loops(q_in, kv_in, w, cfg, mask, use_rope):
    """Plain MHA, one head and one query at a time (a different computation of the same op)."""
    B, Tq, C = q_in.shape
    Tk = kv_in.shape[1]
    hs = cfg.head_dim
    out = np.zeros((B, Tq, C))
    for b in range(B):
        heads = []
        for h in range(cfg.n_heads):
            Wq = w["a_q.weight"][h * hs:(h + 1) * hs]
            Wk = w["a_k.weight"][h * hs:(h + 1) * hs]
            Wv = w["a_v.weight"][h * hs:(h + 1) * hs]
            head = np.zeros((Tq, hs))
            ks = []
            for j in range(Tk):
                kj = ref.zcrmsnorm(Wk @ kv_in[b, j], w["a_k_norm.weight"], cfg.eps)
                ks.append(ref.rope(kj[None], [j], cfg.rope_theta)[0] if use_rope else kj)
            for i in range(Tq):
                qi = ref.zcrmsnorm(Wq @ q_in[b, i], w["a_q_norm.weight"], cfg.eps)
                if use_rope:
                    qi = ref.rope(qi[None], [i], cfg.rope_theta)[0]
                s = [float(qi @ ks[j]) / math.sqrt(hs) for j in range(Tk) if mask[b, i, j]]
                vs = [Wv @ kv_in[b, j] for j in range(Tk) if mask[b, i, j]]
                p = np.exp(np.array(s) - max(s))
                p /= p.sum()
                head[i] = sum(pj * vj for pj, vj in zip(p, vs))
            heads.append(head)
        out[b] = np.concatenate(heads, axis=-1) @ w["a_output.weight"].T
    return out


def test_attention_mha_equals_loops():
    rng = np.random.default_rng(4)
    C, nh, hs, B, Tq, Tk = 32, 4, 8, 2, 5, 7
    cfg = _Cfg(nh, nh, hs)
    w = _attn_weights(rng, C, nh, hs)
    q_in, kv_in = rng.normal(size=(B, Tq, C)), rng.normal(size=(B, Tk, C))
    mask = rng.random((B, Tq, Tk)) < 0.7
    mask[:, :, 0] = True
    close(ref.attention(q_in, kv_in, w, "a", cfg, mask, False),
          _mha_loops(q_in, kv_in, w, cfg, mask, False), 1e-12, "cross-style, masked")
    kv_self = rng.normal(size=(B, Tq, C))
    causal = np.broadcast_to(np.tril(np.ones((Tq, Tq), bool)), (B, Tq, Tq))
    close(ref.attention(kv_self, kv_self, w, "a", cfg, causal, True),
          _mha_loops(kv_self, kv_self, w, cfg, causal, True), 1e-12, "self, causal, rope")


def test_gqa_equals_mha_with_repeated_kv_weights():
    rng = np.random.default_rng(5)
    C, nh, nkv, hs, B, T = 32, 4, 2, 8, 2, 6
    w = _attn_weights(rng, C, nkv, hs)
    x = rng.normal(size=(B, T, C))
    mask = np.ones((B, T, T), bool)
    gqa = ref.attention(x, x, w, "a", _Cfg(nh, nkv, hs), mask, True)
    # query head h uses kv head h // (nh/nkv): duplicate each kv head's rows for its query heads
    w_mha = dict(w)
    for n in ("a_k.weight", "a_v.weight"):
        w_mha[n] = np.concatenate([w[n][(h // (nh // nkv)) * hs:(h // (nh // nkv) + 1) * hs]
                                   for h in range(nh)])
    close(gqa, _mha_loops(x, x, w_mha, _Cfg(nh, nh, hs), mask, True), 1e-12, "GQA vs expanded MHA")
    # and the grouping is consecutive, not interleaved: the interleaved expansion must differ
    w_bad = dict(w)
    for n in ("a_k.weight", "a_v.weight"):
        w_bad[n] = np.concatenate([w[n][(h % nkv) * hs:(h % nkv + 1) * hs] for h in range(nh)])
    assert np.max(np.abs(gqa - _mha_loops(x, x, w_bad, _Cfg(nh, nh, hs), mask, True))) > 1e-3


def test_masked_keys_get_zero_weight():
    rng = np.random.default_rng(6)
    C, nh, hs, B, Tq, Tk = 32, 4, 8, 1, 3, 5
    cfg = _Cfg(nh, 2, hs)
    w = _attn_weights(rng, C, 2, hs)
    q_in, kv_in = rng.normal(size=(B, Tq, C)), rng.normal(size=(B, Tk, C))
    mask = np.zeros((B, Tq, Tk), bool)
    mask[:, :, :3] = True
    full = ref.attention(q_in, kv_in, w, "a", cfg, mask, False)
    kv_changed = kv_in.copy()
    kv_changed[:, 3:] = 1e6 * rng.normal(size=(B, 2, C))
    close(ref.attention(q_in, kv_changed, w, "a", cfg, mask, False), full, 1e-12, "masked keys ignored")
    close(ref.attention(q_in, kv_in[:, :3], w, "a", cfg, mask[:, :, :3], False), full, 1e-12,
          "masked = absent")


def test_activations():
    # tanh-approximate GELU (jax.nn.gelu default), not the erf form
    assert abs(ref.gelu_tanh(1.0) - 0.8411919906082768) < 1e-12, ref.gelu_tanh(1.0)
    erf_gelu_1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    assert abs(ref.gelu_tanh(1.0) - erf_gelu_1) > 1e-4
    assert ref.gelu_tanh(0.0) == 0.0
    rng = np.random.default_rng(7)
    C, F = 8, 12
    w = {"p.ffn_gate_proj.weight": rng.normal(size=(F, C)), "p.ffn_up_proj.weight": rng.normal(size=(F, C)),
         "p.ffn_down_proj.weight": rng.normal(size=(C, F))}
    h = rng.normal(size=(1, 2, C))
    g = h @ w["p.ffn_gate_proj.weight"].T
    u = h @ w["p.ffn_up_proj.weight"].T
    Wd = w["p.ffn_down_proj.weight"]
    expect = {"drelu": np.where(g > 0, g, 0) * np.where(u > 0, u, 0),
              "swiglu": g / (1 + np.exp(-g)) * u,
              "geglu": np.vectorize(ref.gelu_tanh)(g) * u}
    for act, a in expect.items():
        close(ref.feed_forward(h, w, "p", act), a @ Wd.T, 1e-12, act)


# ---------------------------------------------------------------------------------------------
# Whole model

def test_decoder_is_causal():
    for d_ff, ffn in ((0, "drelu"), (64, "swiglu")):
        m = tiny_model(d_ff=d_ff, ffn=ffn)
        rng = np.random.default_rng(8)
        enc = random_ids(rng, 20, m.vocab)
        dec = random_ids(rng, 9, m.vocab, first=1)
        base = ref.logits(m, [enc], [dec])[0]
        for t in range(1, 9):
            dec2 = dec.copy()
            dec2[t:] = random_ids(rng, 9 - t, m.vocab)
            other = ref.logits(m, [enc], [dec2])[0]
            close(other[:t], base[:t], 1e-12, f"positions < {t} unchanged")
            assert np.max(np.abs(other[t] - base[t])) > 1e-6, "position t must see token t"
        # the prefix run gives the same logits as the full run at its positions
        close(ref.logits(m, [enc], [dec[:4]])[0], base[:4], 1e-12, "prefix run")


def test_encoder_padding_invariance():
    m = tiny_model(d_ff=64, ffn="geglu")
    rng = np.random.default_rng(9)
    enc = random_ids(rng, 15, m.vocab)
    enc[4] = 5
    dec = random_ids(rng, 6, m.vocab, first=1)
    pad = m.cfg.pad_id
    out = ref.encoder_forward(m, [enc])
    padded = np.concatenate([enc, np.full(7, pad)])
    out_p = ref.encoder_forward(m, [padded])
    close(out_p[:, :15], out, 1e-12, "encoder output on real positions")
    close(ref.logits(m, [padded], [dec]), ref.logits(m, [enc], [dec]), 1e-12, "logits")
    close(ref.retrieval_embedding(m, [padded]), ref.retrieval_embedding(m, [enc]), 1e-12, "embedding")
    # unmasked pads would change the result: the mask is doing the work
    m.cfg.pad_id = -1
    try:
        assert np.max(np.abs(ref.encoder_forward(m, [padded])[:, :15] - out)) > 1e-6
    finally:
        m.cfg.pad_id = pad


def test_batch_equals_single_sequences():
    m = tiny_model()
    rng = np.random.default_rng(10)
    pad = m.cfg.pad_id
    encs = [random_ids(rng, n, m.vocab) for n in (11, 17, 4)]
    decs = [random_ids(rng, n, m.vocab, first=1) for n in (5, 3, 7)]
    T, S = max(map(len, encs)), max(map(len, decs))
    E = np.array([np.concatenate([e, np.full(T - len(e), pad)]) for e in encs])
    D = np.array([np.concatenate([d, np.full(S - len(d), pad)]) for d in decs])
    lg = ref.logits(m, E, D)
    emb = ref.retrieval_embedding(m, E)
    for b in range(3):
        close(lg[b, :len(decs[b])], ref.logits(m, [encs[b]], [decs[b]])[0], 1e-12, f"logits row {b}")
        close(emb[b], ref.retrieval_embedding(m, [encs[b]])[0], 1e-12, f"embedding row {b}")


def test_closed_gates_give_closed_form():
    """With every gate at -inf (sigmoid = 0) the layers add nothing:
    logits = ZCRMSNorm_dec(E[dec] * sqrt(C)) @ E^T and the pooled encoder output is the mean of
    ZCRMSNorm_enc(E[enc] * sqrt(C))."""
    m = tiny_model(d_ff=64, ffn="drelu")
    w = dict(m.w)
    for k in w:
        if k.endswith("_gate") or k.endswith(".ffn_gate"):
            w[k] = np.array([-700.0])                       # sigmoid ~ 1e-304
    mc = ref.Model(m.cfg, w)
    rng = np.random.default_rng(11)
    enc = random_ids(rng, 9, m.vocab)
    dec = random_ids(rng, 4, m.vocab, first=1)
    E, C, eps = w["token_embd.weight"], m.cfg.d_model, m.cfg.eps

    def norm(x, g):
        return x * (1 + g) / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps)

    expect = norm(E[dec] * math.sqrt(C), w["dec.output_norm.weight"]) @ E.T
    close(ref.logits(mc, [enc], [dec])[0], expect, 1e-12, "closed-gate logits")
    pooled = norm(E[enc] * math.sqrt(C), w["enc.output_norm.weight"]).mean(0)
    e = np.maximum(w["contrastive.hidden.weight"] @ pooled + w["contrastive.hidden.bias"], 0)
    e = w["contrastive.proj.weight"] @ e
    close(ref.retrieval_embedding(mc, [enc])[0], e / np.linalg.norm(e), 1e-12, "closed-gate embedding")


def test_embedding_unit_norm_and_quantized_models_load():
    rng = np.random.default_rng(12)
    for t in ("f32", "f16", "bf16", "q8_0", "q4_0"):
        m = tiny_model(t)
        enc = random_ids(rng, 12, m.vocab)
        e = ref.retrieval_embedding(m, [enc])[0]
        assert e.shape == (32,) and abs(np.linalg.norm(e) - 1) < 1e-12, t
        lg = ref.logits(m, [enc], [[1, 4]])
        assert lg.shape == (1, 2, m.vocab) and np.all(np.isfinite(lg)), t
    # the same seed at different types: quantization changes logits only a little
    enc = random_ids(rng, 12, 288)
    base = ref.logits(tiny_model("f32"), [enc], [[1, 4, 9]])
    for t, tol in (("f16", 1e-2), ("bf16", 5e-2), ("q8_0", 5e-2), ("q4_0", 0.5)):
        err = np.max(np.abs(ref.logits(tiny_model(t), [enc], [[1, 4, 9]]) - base)) / np.max(np.abs(base))
        assert err < tol, (t, err)


def test_loader_rejects_bad_models():
    path = tiny_path()
    r = gguf_np.GGUFReader(path)

    def rewrite(drop=None, reshape=None, md=None):
        w = gguf_np.GGUFWriter()
        for k, v in r.metadata.items():
            t = r.kv_types[k]
            if md and k in md:
                v = md[k]
            w.add(k, v, t)
        for name, ti in r.tensors.items():
            if name == drop:
                continue
            a = r.tensor(name)
            if name == reshape:
                a = a.reshape(a.shape[1], a.shape[0])
            w.add_tensor(name, a, gguf_np.F32)
        p = os.path.join(TMP, "bad.gguf")
        w.write(p)
        return p

    cases = {"missing tensor": rewrite(drop="dec.blk.1.cross_attn_k_norm.weight"),
             "transposed projection": rewrite(reshape="enc.blk.0.attn_k.weight"),
             "unknown encoder mask mode": rewrite(md={"needle.encoder.mask": "tools-isolated"})}
    for what, p in cases.items():
        try:
            ref.load_model(p)
        except ref.ModelError:
            continue
        raise AssertionError(f"loader accepted a model with {what}")


def test_cli_json_shapes():
    path = tiny_path()
    m = tiny_model()
    cli = [sys.executable, os.path.join(HERE, "needle_ref.py")]
    enc, dec = [5, 6, 7, 100], [1, 4, 9]

    def run(*args):
        p = subprocess.run(cli + list(args), capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    rc, out, err = run("logits", "--model", path, "--enc-ids", "5,6,7,100", "--dec-ids", "1,4,9", "--all")
    assert rc == 0, err
    lg = np.array(json.loads(out))
    assert lg.shape == (3, m.vocab)
    close(lg, ref.logits(m, [enc], [dec])[0], 0, "--all json is exact")
    rc, out, err = run("logits", "--model", path, "--enc-ids", "5,6,7,100", "--dec-ids", "1,4,9")
    assert rc == 0 and np.array(json.loads(out)).shape == (m.vocab,)
    rc, out, err = run("embed", "--model", path, "--enc-ids", "5,6,7,100")
    assert rc == 0 and np.array(json.loads(out)).shape == (32,)
    rc, out, err = run("logits", "--model", path, "--enc-ids", "5,99999", "--dec-ids", "1")
    assert rc == 1 and err.startswith("error: "), (rc, err)


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    failed = []
    for name, fn in tests:
        try:
            fn()
            print(f"ok    {name}")
        except Exception:
            failed.append(name)
            print(f"FAIL  {name}")
            traceback.print_exc()
    print(f"{len(tests) - len(failed)}/{len(tests)} passed")
    shutil.rmtree(TMP, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
