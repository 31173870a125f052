#!/usr/bin/python3
"""needle_ref.py — the Needle v1 forward pass in float64 numpy, written plainly from
/work/shared/spec/needle-v1.md, as the reference the C++ engine is checked against.

What it is: one function per block (zcrmsnorm, rope, attention, feed_forward, encoder,
decoder, logits, retrieval embedding), batched with right padding, weights read from a GGUF
file (model-format.md) through gguf_np.py and dequantized to float64.

What it deliberately is not: fast, or shaped like the engine. The decoder runs the whole
decoder sequence at once under a causal mask (no KV cache), GQA repeats the kv heads instead
of indexing them, and everything is float64, so agreement with the engine's incremental
float32 path is evidence rather than a copy.

Conventions (numpy shapes; B batch, T encoder length, S decoder length, C = d_model,
NH query heads, NKV kv heads, HS = head_dim = C / NH, V vocab):
- Projections are stored [out][in] (numpy (out, in)), so y = x @ W.T.
- Padding is on the right; positions start at 0 in both encoder and decoder.
- Encoder padding (id == pad id from the metadata) is masked as keys in encoder
  self-attention and in cross-attention, and left out of the retrieval head's mean pool.
  Queries at pad positions are still computed (their outputs are never used).
- The decoder needs no padding mask: with right padding, causality already keeps every
  real position from seeing a later pad.

CLI (prints JSON, the same shapes as the engine's CLI):
  needle_ref.py logits --model M --enc-ids 1,2,3 --dec-ids 1,4 [--all]
  needle_ref.py embed  --model M --enc-ids 1,2,3
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_np  # noqa: E402

# The most negative finite value of the compute dtype (float64): what a masked score becomes
# before the softmax (needle-v1.md, "Attention").
MASKED_SCORE = np.finfo(np.float64).min

FFN_ACTIVATIONS = ("drelu", "swiglu", "geglu")
ENCODER_MASK_MODES = ("bidirectional", "catalog")


class ModelError(ValueError):
    """A model file this reference cannot run (missing key or tensor, bad shape)."""


# ---------------------------------------------------------------------------------------------
# Configuration and weights

class Config:
    """Hyper-parameters read from the GGUF metadata (model-format.md, "Metadata keys")."""

    def __init__(self, md):
        def get(key, default=None):
            if key in md:
                return md[key]
            if default is None:
                raise ModelError(f"missing metadata key {key}")
            return default

        arch = get("general.architecture")
        if arch != "needle":
            raise ModelError(f"general.architecture is {arch!r}, expected 'needle'")
        self.d_model = int(get("needle.embedding_length"))
        self.n_heads = int(get("needle.attention.head_count"))
        self.n_kv_heads = int(get("needle.attention.head_count_kv"))
        self.n_enc_layers = int(get("needle.encoder.block_count"))
        self.n_dec_layers = int(get("needle.decoder.block_count"))
        # Optional, with Needle v1's values as defaults (the config class's defaults).
        self.rope_theta = float(get("needle.rope.freq_base", 10000.0))
        self.eps = float(get("needle.attention.layer_norm_rms_epsilon", 1e-6))
        self.d_ff = int(get("needle.feed_forward_length", 0))
        self.ffn_act = get("needle.feed_forward_activation", "drelu") if self.d_ff else None
        self.contrastive_dim = int(get("needle.contrastive.dim", 0))
        self.pad_id = int(get("tokenizer.ggml.padding_token_id", 0))
        self.encoder_mask = get("needle.encoder.mask", "bidirectional")
        if self.d_model % self.n_heads:
            raise ModelError(f"embedding_length {self.d_model} not divisible by head_count {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ModelError(f"head_count {self.n_heads} not divisible by head_count_kv {self.n_kv_heads}")
        self.head_dim = self.d_model // self.n_heads
        if self.head_dim % 2:
            raise ModelError(f"head_dim {self.head_dim} is odd: RoPE needs pairs")
        if self.ffn_act is not None and self.ffn_act not in FFN_ACTIVATIONS:
            raise ModelError(f"unknown needle.feed_forward_activation {self.ffn_act!r}")
        if self.encoder_mask not in ENCODER_MASK_MODES:
            raise ModelError(f"unknown needle.encoder.mask {self.encoder_mask!r}")


def expected_tensors(cfg, vocab):
    """name -> numpy shape of every tensor the model must hold."""
    C, HS, KV = cfg.d_model, cfg.head_dim, cfg.n_kv_heads * cfg.head_dim

    def attn(prefix):
        return {f"{prefix}_norm.weight": (C,), f"{prefix}_q.weight": (C, C),
                f"{prefix}_k.weight": (KV, C), f"{prefix}_v.weight": (KV, C),
                f"{prefix}_output.weight": (C, C), f"{prefix}_q_norm.weight": (HS,),
                f"{prefix}_k_norm.weight": (HS,), f"{prefix}_gate": (1,)}

    def ffn(prefix):
        if not cfg.d_ff:
            return {}
        return {f"{prefix}.ffn_norm.weight": (C,), f"{prefix}.ffn_gate": (1,),
                f"{prefix}.ffn_gate_proj.weight": (cfg.d_ff, C),
                f"{prefix}.ffn_up_proj.weight": (cfg.d_ff, C),
                f"{prefix}.ffn_down_proj.weight": (C, cfg.d_ff)}

    shapes = {"token_embd.weight": (vocab, C), "enc.output_norm.weight": (C,),
              "dec.output_norm.weight": (C,)}
    for i in range(cfg.n_enc_layers):
        shapes.update(attn(f"enc.blk.{i}.attn"))
        shapes.update(ffn(f"enc.blk.{i}"))
    for i in range(cfg.n_dec_layers):
        shapes.update(attn(f"dec.blk.{i}.attn"))
        shapes.update(attn(f"dec.blk.{i}.cross_attn"))
        shapes.update(ffn(f"dec.blk.{i}"))
    if cfg.contrastive_dim:
        shapes.update({"contrastive.hidden.weight": (C // 4, C), "contrastive.hidden.bias": (C // 4,),
                       "contrastive.proj.weight": (cfg.contrastive_dim, C // 4),
                       "contrastive.log_temp": (1,)})
    return shapes


class Model:
    """cfg: Config; w: name -> float64 array (numpy shape = GGUF dims reversed)."""

    def __init__(self, cfg, w):
        self.cfg = cfg
        self.w = w
        self.vocab = w["token_embd.weight"].shape[0]
        # The GELU that geglu uses; check_parity.py swaps in gelu_erf on a copy to show that
        # the engine is closer to this one than to the other.
        self.gelu = gelu_tanh


def load_model(path):
    r = gguf_np.GGUFReader(path)
    cfg = Config(r.metadata)
    if "token_embd.weight" not in r.tensors:
        raise ModelError("missing tensor token_embd.weight")
    vocab = r.tensors["token_embd.weight"].shape[0]
    w = {}
    for name, shape in expected_tensors(cfg, vocab).items():
        if name not in r.tensors:
            raise ModelError(f"missing tensor {name}")
        got = r.tensors[name].shape
        if got != shape:
            raise ModelError(f"{name}: shape {got}, expected {shape}")
        w[name] = r.tensor(name)
    return Model(cfg, w)


# ---------------------------------------------------------------------------------------------
# Building blocks

def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def zcrmsnorm(x, g, eps):
    """Zero-centred RMSNorm over the last axis: x * (1 + g) / sqrt(mean(x^2) + eps).
    x (..., N), g (N,). Example: x=[3, 4], g=[0, 0], eps=0 -> [3, 4]/sqrt(12.5)."""
    return x * (1.0 + g) / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def rope(x, positions, theta):
    """Half-split rotary embedding. x (..., T, HS), positions (T,).
    With x1 = x[..., :HS/2], x2 = x[..., HS/2:], and angle t / theta^(2i/HS) for pair i:
    rope(x) = [x1*cos - x2*sin, x2*cos + x1*sin]."""
    hs = x.shape[-1]
    half = hs // 2
    i = np.arange(half, dtype=np.float64)
    angle = np.asarray(positions, dtype=np.float64)[:, None] / theta ** (2.0 * i / hs)  # (T, HS/2)
    cos, sin = np.cos(angle), np.sin(angle)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def softmax(s):
    s = s - np.max(s, axis=-1, keepdims=True)
    e = np.exp(s)
    return e / np.sum(e, axis=-1, keepdims=True)


def attention(q_in, kv_in, w, prefix, cfg, mask, use_rope):
    """Multi-head attention with GQA, QK-norm and optional RoPE.
    q_in (B, Tq, C), kv_in (B, Tk, C); mask (B, Tq, Tk) bool, True = may attend.
    Weights: {prefix}_q/k/v/output.weight, {prefix}_q_norm/k_norm.weight. Returns (B, Tq, C)."""
    B, Tq, C = q_in.shape
    Tk = kv_in.shape[1]
    NH, NKV, HS = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
    q = (q_in @ w[f"{prefix}_q.weight"].T).reshape(B, Tq, NH, HS).transpose(0, 2, 1, 3)   # (B, NH, Tq, HS)
    k = (kv_in @ w[f"{prefix}_k.weight"].T).reshape(B, Tk, NKV, HS).transpose(0, 2, 1, 3)  # (B, NKV, Tk, HS)
    v = (kv_in @ w[f"{prefix}_v.weight"].T).reshape(B, Tk, NKV, HS).transpose(0, 2, 1, 3)  # (B, NKV, Tk, HS)
    q = zcrmsnorm(q, w[f"{prefix}_q_norm.weight"], cfg.eps)
    k = zcrmsnorm(k, w[f"{prefix}_k_norm.weight"], cfg.eps)
    if use_rope:
        q = rope(q, np.arange(Tq), cfg.rope_theta)
        k = rope(k, np.arange(Tk), cfg.rope_theta)
    # Query head h uses kv head h // (NH/NKV): repeat each kv head NH/NKV times, consecutively.
    k = np.repeat(k, NH // NKV, axis=1)                                       # (B, NH, Tk, HS)
    v = np.repeat(v, NH // NKV, axis=1)
    scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(HS)                   # (B, NH, Tq, Tk)
    scores = np.where(mask[:, None, :, :], scores, MASKED_SCORE)
    out = softmax(scores) @ v                                                 # (B, NH, Tq, HS)
    out = out.transpose(0, 2, 1, 3).reshape(B, Tq, C)
    return out @ w[f"{prefix}_output.weight"].T


def gelu_tanh(x):
    """GELU, tanh approximation: 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3))).
    Needle is JAX/Flax and jax.nn.gelu defaults to approximate=True, i.e. this form; the
    engine uses the same one (agreed with its author)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    """Exact GELU, 0.5*x*(1 + erf(x/sqrt(2))): NOT what Needle uses; kept to tell the two apart."""
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def feed_forward(h, w, prefix, act, gelu=gelu_tanh):
    """FFN(h) = act(h Wg, h Wu) Wd, no biases. h (B, T, C) -> (B, T, C).
    drelu: relu(g)*relu(u); swiglu: silu(g)*u; geglu: gelu(g)*u."""
    g = h @ w[f"{prefix}.ffn_gate_proj.weight"].T                             # (B, T, d_ff)
    u = h @ w[f"{prefix}.ffn_up_proj.weight"].T                               # (B, T, d_ff)
    if act == "drelu":
        a = np.maximum(g, 0.0) * np.maximum(u, 0.0)
    elif act == "swiglu":
        a = g * sigmoid(g) * u
    elif act == "geglu":
        a = gelu(g) * u
    else:
        raise ModelError(f"unknown activation {act!r}")
    return a @ w[f"{prefix}.ffn_down_proj.weight"].T


def ffn_sublayer(x, model, prefix):
    """x + sigmoid(ffn_gate) * FFN(ZCRMSNorm(x)) when the model has a feed-forward block."""
    cfg, w = model.cfg, model.w
    if not cfg.d_ff:
        return x
    h = zcrmsnorm(x, w[f"{prefix}.ffn_norm.weight"], cfg.eps)
    return x + sigmoid(w[f"{prefix}.ffn_gate"][0]) * feed_forward(h, w, prefix, cfg.ffn_act, model.gelu)


def embed_tokens(model, ids):
    """ids (B, T) -> E[ids] * sqrt(C), (B, T, C)."""
    return model.w["token_embd.weight"][ids] * math.sqrt(model.cfg.d_model)


# ---------------------------------------------------------------------------------------------
# Encoder, decoder, heads

def encoder_mask(model, enc_ids):
    """(B, T) bool: True at real (non-pad) encoder positions."""
    return np.asarray(enc_ids) != model.cfg.pad_id


def encoder_forward(model, enc_ids, block_prefix=0):
    """enc_ids (B, T) int -> encoder output after the final norm, (B, T, C).
    block_prefix P > 0 (the catalog mask, docs/engine.md): positions i < P (the tool block)
    attend only to positions j < P; later positions attend to every position."""
    cfg, w = model.cfg, model.w
    enc_ids = np.asarray(enc_ids)
    T = enc_ids.shape[1]
    if block_prefix and cfg.encoder_mask != "catalog":
        raise ModelError("a block prefix needs the catalog encoder mask")
    keep = encoder_mask(model, enc_ids)                                        # (B, T)
    mask = np.broadcast_to(keep[:, None, :], (enc_ids.shape[0], T, T))        # bidirectional, keys masked
    if block_prefix:
        rows, cols = np.arange(T)[:, None], np.arange(T)[None, :]
        mask = mask & ~((rows < block_prefix) & (cols >= block_prefix))[None]
    x = embed_tokens(model, enc_ids)
    for i in range(cfg.n_enc_layers):
        p = f"enc.blk.{i}"
        h = zcrmsnorm(x, w[f"{p}.attn_norm.weight"], cfg.eps)
        x = x + sigmoid(w[f"{p}.attn_gate"][0]) * attention(h, h, w, f"{p}.attn", cfg, mask, True)
        x = ffn_sublayer(x, model, p)
    return zcrmsnorm(x, w["enc.output_norm.weight"], cfg.eps)


def decoder_forward(model, dec_ids, enc_out, enc_keep):
    """Full-sequence decoder, causal self-attention, no cache.
    dec_ids (B, S), enc_out (B, T, C), enc_keep (B, T) bool -> final-normed hidden (B, S, C)."""
    cfg, w = model.cfg, model.w
    dec_ids = np.asarray(dec_ids)
    B, S = dec_ids.shape
    T = enc_out.shape[1]
    causal = np.broadcast_to(np.tril(np.ones((S, S), dtype=bool))[None], (B, S, S))
    cross = np.broadcast_to(enc_keep[:, None, :], (B, S, T))
    y = embed_tokens(model, dec_ids)
    for i in range(cfg.n_dec_layers):
        p = f"dec.blk.{i}"
        h = zcrmsnorm(y, w[f"{p}.attn_norm.weight"], cfg.eps)
        y = y + sigmoid(w[f"{p}.attn_gate"][0]) * attention(h, h, w, f"{p}.attn", cfg, causal, True)
        h = zcrmsnorm(y, w[f"{p}.cross_attn_norm.weight"], cfg.eps)
        y = y + sigmoid(w[f"{p}.cross_attn_gate"][0]) * attention(
            h, enc_out, w, f"{p}.cross_attn", cfg, cross, False)
        y = ffn_sublayer(y, model, p)
    return zcrmsnorm(y, w["dec.output_norm.weight"], cfg.eps)


def logits(model, enc_ids, dec_ids, block_prefix=0):
    """Tied logits at every decoder position: (B, S, V) = h @ E^T."""
    enc_ids = np.asarray(enc_ids)
    enc_out = encoder_forward(model, enc_ids, block_prefix)
    h = decoder_forward(model, dec_ids, enc_out, encoder_mask(model, enc_ids))
    return h @ model.w["token_embd.weight"].T


def retrieval_embedding(model, enc_ids):
    """Contrastive tool-retrieval head: (B, contrastive_dim), unit norm.
    pooled = mean of encoder outputs over non-pad positions; h = relu(pooled W1^T + b1);
    e = h W2^T; e / sqrt(sum(e^2) + 1e-12)."""
    cfg, w = model.cfg, model.w
    if not cfg.contrastive_dim:
        raise ModelError("model has no retrieval head (needle.contrastive.dim absent)")
    enc_ids = np.asarray(enc_ids)
    enc_out = encoder_forward(model, enc_ids)
    keep = encoder_mask(model, enc_ids).astype(np.float64)                    # (B, T)
    pooled = (enc_out * keep[:, :, None]).sum(axis=1) / keep.sum(axis=1, keepdims=True)
    h = np.maximum(pooled @ w["contrastive.hidden.weight"].T + w["contrastive.hidden.bias"], 0.0)
    e = h @ w["contrastive.proj.weight"].T
    return e / np.sqrt(np.sum(e * e, axis=-1, keepdims=True) + 1e-12)


# ---------------------------------------------------------------------------------------------
# CLI

def parse_ids(s):
    """'1,2,3' -> [1, 2, 3]."""
    try:
        ids = [int(t) for t in s.split(",") if t.strip() != ""]
    except ValueError:
        raise ModelError(f"bad id list {s!r}")
    if not ids:
        raise ModelError("empty id list")
    return ids


def check_ids(model, ids, what):
    for t in ids:
        if not 0 <= t < model.vocab:
            raise ModelError(f"{what}: id {t} outside the vocabulary (0..{model.vocab - 1})")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Needle v1 numpy reference (float64)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("logits", help="logits at the last decoder position (--all: every position)")
    pl.add_argument("--model", required=True)
    pl.add_argument("--enc-ids", required=True)
    pl.add_argument("--dec-ids", required=True)
    pl.add_argument("--all", action="store_true")
    pe = sub.add_parser("embed", help="retrieval-head embedding")
    pe.add_argument("--model", required=True)
    pe.add_argument("--enc-ids", required=True)
    a = ap.parse_args(argv)
    try:
        model = load_model(a.model)
        enc = parse_ids(a.enc_ids)
        check_ids(model, enc, "--enc-ids")
        if a.cmd == "logits":
            dec = parse_ids(a.dec_ids)
            check_ids(model, dec, "--dec-ids")
            lg = logits(model, [enc], [dec])[0]                               # (S, V)
            out = lg.tolist() if a.all else lg[-1].tolist()
        else:
            out = retrieval_embedding(model, [enc])[0].tolist()
    except (ModelError, gguf_np.GGUFError, OSError) as e:
        print(f"error: BAD_INPUT: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
