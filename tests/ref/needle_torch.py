#!/usr/bin/python3
"""needle_torch.py — the Needle v1 model in PyTorch (Debian's python3-torch 1.13), for the
training engine: the loss and every gradient by autograd, on the same weights (read from a
GGUF file) and the same batch, to check the C++ backward pass; and the baseline for the
training-speed benchmark.

What it is: an nn.Module written from spec/needle-v1.md, independent of the NumPy reference
(batched attention with repeat_interleave for GQA, masks as additive -inf-like scores),
holding its parameters under their GGUF names.

Loss (docs/training.md, "Loss"), for a batch of right-padded sequences:
  per target token t (target != -1): lse_t = logsumexp(logits_t),
  ce_t = lse_t - logits_t[target_t], loss_t = w_t * (ce_t + z_coef * lse_t^2);
  loss = sum_t loss_t / sum_t w_t.

Contrastive loss (docs/training.md, "Contrastive loss"), for N queries and their N positive
tool texts, each right-padded and encoded separately by the encoder:
  pooled = mean of the encoder output over non-pad positions,
  e = relu(pooled W1^T + b1) W2^T, u = e / sqrt(sum(e^2) + 1e-12) (queries q, tools t),
  logits = exp(clamp(log_temp, 0, ln 100)) * q t^T,
  closs = (CE(logits, diag) + CE(logits^T, diag)) / 2 (means over the N rows).

CLI:
  needle_torch.py grads --model M.gguf --batch B.json --out G.gguf [--dtype float64|float32]
      B.json: {"enc": [[ids]], "dec_in": [[ids]], "targets": [[ids or -1]],
               "weights": [[floats]], "z_coef": float,
               "contrastive": {"query": [[ids]], "tool": [[ids]], "weight": w}}
      (the token arrays or "contrastive" may be left out; the loss is token loss +
      w * closs) writes every gradient as an F32 tensor under the parameter's GGUF name, the
      loss as metadata "train.loss" (F64) and closs as "train.contrastive_loss".
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_np  # noqa: E402
import needle_ref  # noqa: E402  (Config and the expected-tensor table only)


class Needle(torch.nn.Module):
    def __init__(self, cfg, weights, dtype=torch.float64):
        super().__init__()
        self.cfg = cfg
        self.names = list(weights.keys())
        self.params = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(np.asarray(weights[n]), dtype=dtype)) for n in self.names])
        self.index = {n: i for i, n in enumerate(self.names)}
        hs = cfg.head_dim
        inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hs // 2, dtype=torch.float64) * 2.0 / hs))
        self.register_buffer("inv_freq", inv)

    def p(self, name):
        return self.params[self.index[name]]

    def norm(self, x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg.eps) * (1 + g)

    def rope(self, x):  # x (B, H, T, HS), positions 0..T-1
        T = x.shape[2]
        ang = torch.arange(T, dtype=torch.float64)[:, None] * self.inv_freq[None, :]
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def attn(self, xq, xkv, prefix, allowed, use_rope):
        cfg = self.cfg
        B, Tq, C = xq.shape
        Tk = xkv.shape[1]
        NH, NKV, HS = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        q = (xq @ self.p(prefix + "_q.weight").t()).view(B, Tq, NH, HS).transpose(1, 2)
        k = (xkv @ self.p(prefix + "_k.weight").t()).view(B, Tk, NKV, HS).transpose(1, 2)
        v = (xkv @ self.p(prefix + "_v.weight").t()).view(B, Tk, NKV, HS).transpose(1, 2)
        q = self.norm(q, self.p(prefix + "_q_norm.weight"))
        k = self.norm(k, self.p(prefix + "_k_norm.weight"))
        if use_rope:
            q, k = self.rope(q), self.rope(k)
        k = k.repeat_interleave(NH // NKV, dim=1)
        v = v.repeat_interleave(NH // NKV, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
        s = s.masked_fill(~allowed[:, None], torch.finfo(s.dtype).min)
        o = torch.softmax(s, dim=-1) @ v
        return o.transpose(1, 2).reshape(B, Tq, C) @ self.p(prefix + "_output.weight").t()

    def ffn(self, x, prefix):
        cfg = self.cfg
        if not cfg.d_ff:
            return x
        h = self.norm(x, self.p(prefix + ".ffn_norm.weight"))
        g = h @ self.p(prefix + ".ffn_gate_proj.weight").t()
        u = h @ self.p(prefix + ".ffn_up_proj.weight").t()
        if cfg.ffn_act == "drelu":
            a = torch.relu(g) * torch.relu(u)
        elif cfg.ffn_act == "swiglu":
            a = torch.nn.functional.silu(g) * u
        else:
            a = torch.nn.functional.gelu(g, approximate="tanh") * u
        y = a @ self.p(prefix + ".ffn_down_proj.weight").t()
        return x + torch.sigmoid(self.p(prefix + ".ffn_gate")[0]) * y

    def encode(self, enc):  # enc (B, T) ids -> (B, T, C) after the final norm, keep (B, T)
        cfg = self.cfg
        E = self.p("token_embd.weight")
        keep = enc != cfg.pad_id
        B, T = enc.shape
        x = E[enc] * math.sqrt(cfg.d_model)
        enc_allowed = keep[:, None, :].expand(B, T, T)
        for i in range(cfg.n_enc_layers):
            p = "enc.blk.%d" % i
            h = self.norm(x, self.p(p + ".attn_norm.weight"))
            x = x + torch.sigmoid(self.p(p + ".attn_gate")[0]) * self.attn(h, h, p + ".attn", enc_allowed, True)
            x = self.ffn(x, p)
        return self.norm(x, self.p("enc.output_norm.weight")), keep

    def retrieval(self, ids):  # ids (B, T) -> (B, contrastive_dim) unit vectors
        enc_out, keep = self.encode(ids)
        m = keep.to(enc_out.dtype)[..., None]
        pooled = (enc_out * m).sum(1) / m.sum(1).clamp(min=1.0)
        h = torch.relu(pooled @ self.p("contrastive.hidden.weight").t() + self.p("contrastive.hidden.bias"))
        e = h @ self.p("contrastive.proj.weight").t()
        return e / torch.sqrt((e * e).sum(-1, keepdim=True) + 1e-12)

    def contrastive_loss(self, query, tool):
        q, t = self.retrieval(query), self.retrieval(tool)
        scale = torch.exp(torch.clamp(self.p("contrastive.log_temp")[0], 0.0, math.log(100.0)))
        logits = scale * (q @ t.t())
        labels = torch.arange(q.shape[0])
        f = torch.nn.functional.cross_entropy
        return (f(logits, labels) + f(logits.t(), labels)) / 2

    def forward(self, enc, dec_in):
        cfg = self.cfg
        E = self.p("token_embd.weight")
        scale = math.sqrt(cfg.d_model)
        B, T = enc.shape
        S = dec_in.shape[1]
        enc_out, keep = self.encode(enc)
        causal = torch.tril(torch.ones(S, S, dtype=torch.bool))[None].expand(B, S, S)
        cross = keep[:, None, :].expand(B, S, T)
        y = E[dec_in] * scale
        for i in range(cfg.n_dec_layers):
            p = "dec.blk.%d" % i
            h = self.norm(y, self.p(p + ".attn_norm.weight"))
            y = y + torch.sigmoid(self.p(p + ".attn_gate")[0]) * self.attn(h, h, p + ".attn", causal, True)
            h = self.norm(y, self.p(p + ".cross_attn_norm.weight"))
            y = y + torch.sigmoid(self.p(p + ".cross_attn_gate")[0]) * self.attn(h, enc_out, p + ".cross_attn", cross, False)
            y = self.ffn(y, p)
        h = self.norm(y, self.p("dec.output_norm.weight"))
        return h @ E.t(), enc_out

    def loss(self, enc, dec_in, targets, weights, z_coef):
        logits, _ = self.forward(enc, dec_in)
        lse = torch.logsumexp(logits, dim=-1)                          # (B, S)
        valid = targets >= 0
        tgt = targets.clamp(min=0)
        picked = logits.gather(-1, tgt[..., None])[..., 0]
        per = weights * ((lse - picked) + z_coef * lse * lse)
        per = torch.where(valid, per, torch.zeros_like(per))
        wsum = torch.where(valid, weights, torch.zeros_like(weights)).sum()
        return per.sum() / wsum


def load(path, dtype):
    r = gguf_np.GGUFReader(path)
    cfg = needle_ref.Config(r.metadata)
    vocab = r.tensors["token_embd.weight"].shape[0]
    names = [n for n in needle_ref.expected_tensors(cfg, vocab)]
    return Needle(cfg, {n: r.tensor(n) for n in names}, dtype)


def cmd_grads(args):
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    model = load(args.model, dtype)
    with open(args.batch) as f:
        b = json.load(f)
    loss = torch.zeros((), dtype=dtype)
    if "enc" in b:
        enc = torch.tensor(b["enc"], dtype=torch.long)
        dec_in = torch.tensor(b["dec_in"], dtype=torch.long)
        targets = torch.tensor(b["targets"], dtype=torch.long)
        weights = torch.tensor(b["weights"], dtype=dtype)
        loss = loss + model.loss(enc, dec_in, targets, weights, float(b.get("z_coef", 0.0)))
    closs = None
    if "contrastive" in b:
        c = b["contrastive"]
        closs = model.contrastive_loss(torch.tensor(c["query"], dtype=torch.long),
                                       torch.tensor(c["tool"], dtype=torch.long))
        loss = loss + float(c["weight"]) * closs
    loss.backward()
    w = gguf_np.GGUFWriter()
    w.add("train.loss", float(loss.item()), gguf_np.T_F64)
    if closs is not None:
        w.add("train.contrastive_loss", float(closs.item()), gguf_np.T_F64)
    for n, p in zip(model.names, model.params):
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        w.add_tensor(n, g.detach().to(torch.float64).numpy(), gguf_np.F32)
    w.write(args.out)
    print(json.dumps({"loss": float(loss.item())}))


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grads")
    g.add_argument("--model", required=True)
    g.add_argument("--batch", required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args(argv)
    if args.cmd == "grads":
        cmd_grads(args)


if __name__ == "__main__":
    main()
