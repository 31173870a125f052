"""flax_ref.py — a float64 numpy forward pass of Needle that reads the Flax parameter tree
directly (stacked layers, kernels [in, out], `x @ kernel`), written from
/work/shared/spec/needle-v1.md for the converter tests. It never sees our tensor names or a
GGUF file, so comparing the engine (running the converted file) with it checks the
converter's placement, transposes and layer split end to end.

Entry points: `logits(params, cfg, enc_ids, dec_ids)` -> (S, V) at every decoder position,
`embedding(params, cfg, enc_ids)` -> the retrieval head's unit vector. `params` is the
values tree of needle_checkpoint.make_checkpoint; `cfg` the config dict (spec names).
Not here: batching, KV caches, anything about files.
"""

import math

import numpy as np

EPS = 1e-6
PAD_ID = 0


def _f(a):
    return np.asarray(a, dtype=np.float64)


def zcrmsnorm(x, g):
    """x * (1 + g) / sqrt(mean(x^2) + eps) over the last axis."""
    return x * (1.0 + _f(g)) / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS)


def rope(x, theta):
    """x (H, T, hs), positions 0..T-1; half-split pairs (x1 = first half, x2 = second)."""
    T, hs = x.shape[1], x.shape[2]
    half = hs // 2
    inv = theta ** (-2.0 * np.arange(half) / hs)
    ang = np.arange(T)[:, None] * inv[None, :]
    c, s = np.cos(ang), np.sin(ang)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def attention(mod, i, q_in, kv_in, cfg, allowed, use_rope):
    """mod: the self_attn/cross_attn subtree; i: layer; allowed (Tq, Tk) bool."""
    H, KV = cfg["num_heads"], cfg["num_kv_heads"]
    d = q_in.shape[-1]
    hs = d // H
    q = (q_in @ _f(mod["q_proj"]["kernel"][i])).reshape(-1, H, hs).transpose(1, 0, 2)
    k = (kv_in @ _f(mod["k_proj"]["kernel"][i])).reshape(-1, KV, hs).transpose(1, 0, 2)
    v = (kv_in @ _f(mod["v_proj"]["kernel"][i])).reshape(-1, KV, hs).transpose(1, 0, 2)
    q = zcrmsnorm(q, mod["q_norm"]["scale"][i])
    k = zcrmsnorm(k, mod["k_norm"]["scale"][i])
    if use_rope:
        q, k = rope(q, cfg["rope_theta"]), rope(k, cfg["rope_theta"])
    out = np.empty_like(q)
    group = H // KV
    for h in range(H):
        s = q[h] @ k[h // group].T / math.sqrt(hs)
        s = np.where(allowed, s, np.finfo(np.float64).min)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        out[h] = (s / s.sum(axis=-1, keepdims=True)) @ v[h // group]
    return out.transpose(1, 0, 2).reshape(-1, d) @ _f(mod["out_proj"]["kernel"][i])


def sigmoid(a):
    return 1.0 / (1.0 + math.exp(-float(a)))


def feed_forward(blk, i, x, act):
    ff = blk["FeedForward_0"]
    g = x @ _f(ff["gate_proj"]["kernel"][i])
    u = x @ _f(ff["up_proj"]["kernel"][i])
    if act == "drelu":
        a = np.maximum(g, 0) * np.maximum(u, 0)
    elif act == "swiglu":
        a = g / (1 + np.exp(-g)) * u
    elif act == "geglu":  # tanh GELU, jax.nn.gelu's default
        a = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3))) * u
    else:
        raise ValueError(act)
    return a @ _f(ff["down_proj"]["kernel"][i])


def has_ffn(cfg):
    return not cfg.get("no_feedforward", False) and cfg.get("d_ff", 0) > 0


def encoder(params, cfg, ids):
    ids = np.asarray(ids)
    E = _f(params["embedding"]["embedding"])
    x = E[ids] * math.sqrt(cfg["d_model"])
    keep = ids != PAD_ID
    allowed = np.broadcast_to(keep[None, :], (len(ids), len(ids)))
    blk = params["encoder"]["layers"]["EncoderBlock_0"]
    for i in range(cfg["num_encoder_layers"]):
        h = zcrmsnorm(x, blk["ZCRMSNorm_0"]["scale"][i])
        x = x + sigmoid(blk["attn_gate"][i]) * attention(blk["self_attn"], i, h, h, cfg, allowed, True)
        if has_ffn(cfg):
            h = zcrmsnorm(x, blk["ZCRMSNorm_1"]["scale"][i])
            x = x + sigmoid(blk["ffn_gate"][i]) * feed_forward(blk, i, h, cfg["activation"])
    return zcrmsnorm(x, params["encoder"]["final_norm"]["scale"]), keep


def logits(params, cfg, enc_ids, dec_ids):
    enc, keep = encoder(params, cfg, enc_ids)
    E = _f(params["embedding"]["embedding"])
    S = len(dec_ids)
    y = E[np.asarray(dec_ids)] * math.sqrt(cfg["d_model"])
    causal = np.tril(np.ones((S, S), dtype=bool))
    cross = np.broadcast_to(keep[None, :], (S, len(keep)))
    blk = params["decoder"]["layers"]["DecoderBlock_0"]
    for i in range(cfg["num_decoder_layers"]):
        h = zcrmsnorm(y, blk["ZCRMSNorm_0"]["scale"][i])
        y = y + sigmoid(blk["self_attn_gate"][i]) * attention(blk["self_attn"], i, h, h, cfg, causal, True)
        h = zcrmsnorm(y, blk["ZCRMSNorm_1"]["scale"][i])
        y = y + sigmoid(blk["cross_attn_gate"][i]) * attention(blk["cross_attn"], i, h, enc, cfg, cross, False)
        if has_ffn(cfg):
            h = zcrmsnorm(y, blk["ZCRMSNorm_2"]["scale"][i])
            y = y + sigmoid(blk["ffn_gate"][i]) * feed_forward(blk, i, h, cfg["activation"])
    y = zcrmsnorm(y, params["decoder"]["ZCRMSNorm_0"]["scale"])
    return y @ E.T


def embedding(params, cfg, enc_ids):
    enc, keep = encoder(params, cfg, enc_ids)
    pooled = enc[keep].mean(axis=0)
    h = np.maximum(pooled @ _f(params["contrastive_hidden"]["kernel"]) + _f(params["contrastive_hidden"]["bias"]), 0)
    e = h @ _f(params["contrastive_proj"]["kernel"])
    return e / math.sqrt(float(e @ e) + 1e-12)
