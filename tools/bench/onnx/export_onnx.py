#!/usr/bin/python3
"""export_onnx.py — our model (a GGUF file) as two ONNX graphs, for the onnxruntime-web peer
benchmark (docs/benchmarks.md, "Against onnxruntime-web and PyTorch"). Run with Debian's
/usr/bin/python3 (torch 1.13, numpy):

  export_onnx.py --model M.gguf --out DIR [--opset 17]

The weights come from tests/ref/needle_torch.py's loader (the GGUF reader dequantizes Q8_0 /
Q4_0 / F16 to float; the graphs are fp32 throughout, which is the math our engine does after
it dequantizes at load). Two thin wrapper modules reuse that module's parameters (by GGUF
name) and its ZCRMSNorm and FFN, and add what the batched training module does not have: a
single-sequence encoder that also returns each decoder layer's cross-attention K/V, and one
cached decoder step.

  DIR/encoder.onnx       ids (1, T) int64
                         -> enc_out (1, T, C), cross_k_i / cross_v_i (1, NKV, T, HS) for i
                            in 0..n_dec_layers-1 (K after its QK-norm; no RoPE in cross-attn)
  DIR/decoder_step.onnx  token (1, 1) int64, pos (1,) int64 (= P), past_k_i / past_v_i
                         (1, NKV, P, HS) (K after QK-norm and RoPE), cross_k_i / cross_v_i
                         -> logits (1, V), present_k_i / present_v_i (1, NKV, P+1, HS)
  T and P are dynamic (P may be 0: the first step gets empty caches).
  DIR/ref.json + DIR/ref_*.f32: a fixed check input (ids, decoder tokens), the fp32 wrapper's
  encoder output and the logits of every checked decoder step, for verify in bench_ort.mjs
  (onnxruntime for Python is not installed here), which fails when ONNX and PyTorch differ
  by more than 1e-3 of the reference's largest magnitude.

Before it exports, the script checks the wrappers against needle_torch.Needle's own batched
forward in float64 (teacher-forced decoder, no cache), so a cache bug cannot hide.
No attention masks: one sequence, no padding (every id is a real token).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "ref"))
import needle_torch  # noqa: E402


class Parts(torch.nn.Module):
    """Shared pieces over a needle_torch.Needle (its parameters, not copies)."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        cfg = m.cfg
        if getattr(cfg, "encoder_mask", "bidirectional") != "bidirectional":
            raise SystemExit("export_onnx.py: only needle.encoder.mask = bidirectional is exported")
        self.C, self.NH, self.NKV, self.HS = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.G = self.NH // self.NKV
        self.register_buffer("inv_freq32", m.inv_freq.to(torch.float32).clone())

    def p(self, name):
        return self.m.p(name)

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.p(name))

    def heads(self, x, n):  # (1, T, n*HS) -> (1, n, T, HS)
        return x.reshape(1, -1, n, self.HS).transpose(1, 2)

    def rope(self, x, cos, sin):  # x (1, H, T, HS); cos/sin (T, HS/2)
        half = self.HS // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def rope_tables(self, pos):  # pos (T,) int64
        ang = pos.to(torch.float32)[:, None] * self.inv_freq32[None, :]
        return ang.cos(), ang.sin()

    def sdpa(self, q, k, v):
        """q (1, NH, Tq, HS), k/v (1, NKV, Tk, HS): grouped-query attention, query head h on
        kv head h // G, done as a broadcast over the group (no repeat of K/V)."""
        qg = q.reshape(1, self.NKV, self.G, -1, self.HS)
        s = torch.matmul(qg, k.unsqueeze(2).transpose(-1, -2)) * (1.0 / math.sqrt(self.HS))
        o = torch.matmul(torch.softmax(s, dim=-1), v.unsqueeze(2))  # (1, NKV, G, Tq, HS)
        return o.reshape(1, self.NH, -1, self.HS).transpose(1, 2).reshape(1, -1, self.C)

    def self_qkv(self, h, p, cos, sin):  # a self-attention sublayer's q, k (QK-normed, RoPE'd), v
        m = self.m
        q = m.norm(self.heads(self.lin(h, p + ".attn_q.weight"), self.NH), self.p(p + ".attn_q_norm.weight"))
        k = m.norm(self.heads(self.lin(h, p + ".attn_k.weight"), self.NKV), self.p(p + ".attn_k_norm.weight"))
        v = self.heads(self.lin(h, p + ".attn_v.weight"), self.NKV)
        return self.rope(q, cos, sin), self.rope(k, cos, sin), v

    def gate(self, name):
        return torch.sigmoid(self.p(name)[0])


class Encoder(Parts):
    def forward(self, ids):
        m, cfg = self.m, self.m.cfg
        E = self.p("token_embd.weight")
        x = torch.nn.functional.embedding(ids, E) * math.sqrt(cfg.d_model)
        cos, sin = self.rope_tables(torch.arange(ids.shape[1]))
        for i in range(cfg.n_enc_layers):
            p = "enc.blk.%d" % i
            h = m.norm(x, self.p(p + ".attn_norm.weight"))
            q, k, v = self.self_qkv(h, p, cos, sin)
            x = x + self.gate(p + ".attn_gate") * self.lin(self.sdpa(q, k, v), p + ".attn_output.weight")
            x = m.ffn(x, p)
        out = m.norm(x, self.p("enc.output_norm.weight"))
        ks, vs = [], []
        for i in range(cfg.n_dec_layers):
            p = "dec.blk.%d.cross_attn" % i
            ks.append(m.norm(self.heads(self.lin(out, p + "_k.weight"), self.NKV), self.p(p + "_k_norm.weight")))
            vs.append(self.heads(self.lin(out, p + "_v.weight"), self.NKV))
        return tuple([out] + ks + vs)


class DecoderStep(Parts):
    def forward(self, token, pos, *caches):
        m, cfg = self.m, self.m.cfg
        L = cfg.n_dec_layers
        past_k, past_v = caches[0:L], caches[L:2 * L]
        cross_k, cross_v = caches[2 * L:3 * L], caches[3 * L:4 * L]
        E = self.p("token_embd.weight")
        y = torch.nn.functional.embedding(token, E) * math.sqrt(cfg.d_model)
        cos, sin = self.rope_tables(pos)
        new_k, new_v = [], []
        for i in range(L):
            p = "dec.blk.%d" % i
            h = m.norm(y, self.p(p + ".attn_norm.weight"))
            q, k, v = self.self_qkv(h, p, cos, sin)
            K = torch.cat([past_k[i], k], dim=2)
            V = torch.cat([past_v[i], v], dim=2)
            new_k.append(K)
            new_v.append(V)
            y = y + self.gate(p + ".attn_gate") * self.lin(self.sdpa(q, K, V), p + ".attn_output.weight")
            h = m.norm(y, self.p(p + ".cross_attn_norm.weight"))
            q = m.norm(self.heads(self.lin(h, p + ".cross_attn_q.weight"), self.NH), self.p(p + ".cross_attn_q_norm.weight"))
            y = y + self.gate(p + ".cross_attn_gate") * self.lin(self.sdpa(q, cross_k[i], cross_v[i]), p + ".cross_attn_output.weight")
            y = m.ffn(y, p)
        h = m.norm(y, self.p("dec.output_norm.weight"))
        logits = torch.nn.functional.linear(h, E).reshape(1, -1)
        return tuple([logits] + new_k + new_v)


def load(path, dtype=torch.float32):
    m = needle_torch.load(path, dtype)
    m.eval()
    for prm in m.parameters():
        prm.requires_grad_(False)
    return m


def empty_cache(m):
    cfg = m.cfg
    z = torch.zeros(1, cfg.n_kv_heads, 0, cfg.head_dim, dtype=torch.float32)
    return [z] * (2 * cfg.n_dec_layers)


def greedy(enc, dec, ids, steps, eos=1, stop_at_eos=True):
    """ids: list of ints. Returns (enc outputs, [logits per step], generated tokens)."""
    L = enc.m.cfg.n_dec_layers
    with torch.no_grad():
        eo = enc(torch.tensor([ids], dtype=torch.long))
        cross = list(eo[1:])
        past = empty_cache(enc.m)
        tok, toks, all_logits = eos, [], []
        for t in range(steps):
            r = dec(torch.tensor([[tok]], dtype=torch.long), torch.tensor([t], dtype=torch.long), *past, *cross)
            all_logits.append(r[0])
            past = list(r[1:1 + 2 * L])
            tok = int(torch.argmax(r[0][0]))
            toks.append(tok)
            if stop_at_eos and tok == eos:
                break
    return eo, all_logits, toks


def check_against_module(path, enc, dec, ids, steps):
    """The wrappers (fp32, cached steps) against needle_torch.Needle.forward in float64
    (batched, teacher-forced on the wrapper's greedy tokens)."""
    eo, logits, toks = greedy(enc, dec, ids, steps, stop_at_eos=False)
    m64 = needle_torch.load(path, torch.float64)
    with torch.no_grad():
        ref_logits, ref_enc = m64.forward(torch.tensor([ids]), torch.tensor([[1] + toks[:-1]]))
    def rel(a, b):
        a, b = a.to(torch.float64), b.to(torch.float64)
        return float((a - b).abs().max() / b.abs().max())
    e = rel(eo[0], ref_enc)
    lg = max(rel(logits[t][0], ref_logits[0, t]) for t in range(len(toks)))
    print(f"wrapper fp32 vs needle_torch float64: encoder {e:.2e}, logits over {len(toks)} steps {lg:.2e} (relative to max |ref|)")
    if e > 1e-3 or lg > 1e-3:
        raise SystemExit("export_onnx.py: FAIL: the wrapper modules disagree with needle_torch.Needle")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--check-steps", type=int, default=4)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    m = load(a.model)
    cfg = m.cfg
    enc, dec = Encoder(m).eval(), DecoderStep(m).eval()
    L = cfg.n_dec_layers
    vocab = m.p("token_embd.weight").shape[0]

    # A fixed check input: 37 ids from a seeded generator, none of them pad (0).
    rng = np.random.default_rng(1234)
    ids = [int(v) for v in rng.integers(6, vocab, size=37)]
    check_against_module(a.model, enc, dec, ids, a.check_steps)

    # Export. Example shapes T=37 (encoder), P=3 (decoder step); both dynamic.
    ex_ids = torch.tensor([ids], dtype=torch.long)
    enc_names = ["enc_out"] + ["cross_k_%d" % i for i in range(L)] + ["cross_v_%d" % i for i in range(L)]
    dyn = {"ids": {1: "T"}}
    dyn.update({n: {1: "T"} if n == "enc_out" else {2: "T"} for n in enc_names})
    torch.onnx.export(enc, (ex_ids,), os.path.join(a.out, "encoder.onnx"), input_names=["ids"],
                      output_names=enc_names, dynamic_axes=dyn, opset_version=a.opset,
                      do_constant_folding=True)
    with torch.no_grad():
        cross = list(enc(ex_ids)[1:])
    P = 3
    past = [torch.randn(1, cfg.n_kv_heads, P, cfg.head_dim) for _ in range(2 * L)]
    in_names = (["token", "pos"] + ["past_k_%d" % i for i in range(L)] + ["past_v_%d" % i for i in range(L)]
                + ["cross_k_%d" % i for i in range(L)] + ["cross_v_%d" % i for i in range(L)])
    out_names = ["logits"] + ["present_k_%d" % i for i in range(L)] + ["present_v_%d" % i for i in range(L)]
    dyn = {}
    for n in in_names[2:]:
        dyn[n] = {2: "P"} if n.startswith("past") else {2: "T"}
    for n in out_names[1:]:
        dyn[n] = {2: "P1"}
    torch.onnx.export(dec, (torch.tensor([[7]]), torch.tensor([P]), *past, *cross),
                      os.path.join(a.out, "decoder_step.onnx"), input_names=in_names,
                      output_names=out_names, dynamic_axes=dyn, opset_version=a.opset,
                      do_constant_folding=True)

    # Reference numbers for the ONNX check (in Node): fp32 wrapper, greedy from EOS.
    eo, logits, toks = greedy(enc, dec, ids, a.check_steps, stop_at_eos=False)
    eo[0].numpy().astype("<f4").tofile(os.path.join(a.out, "ref_enc_out.f32"))
    np.stack([l[0].numpy() for l in logits]).astype("<f4").tofile(os.path.join(a.out, "ref_logits.f32"))
    ref = {"model": os.path.abspath(a.model), "ids": ids, "dec_tokens": toks, "steps": len(toks),
           "d_model": cfg.d_model, "n_heads": cfg.n_heads, "n_kv_heads": cfg.n_kv_heads,
           "head_dim": cfg.head_dim, "n_enc_layers": cfg.n_enc_layers, "n_dec_layers": L,
           "vocab": int(vocab), "opset": a.opset, "torch": torch.__version__,
           "enc_out_shape": list(eo[0].shape)}
    with open(os.path.join(a.out, "ref.json"), "w") as f:
        json.dump(ref, f)
    sizes = {n: os.path.getsize(os.path.join(a.out, n)) for n in ("encoder.onnx", "decoder_step.onnx")}
    print(json.dumps({"out": a.out, "sizes": sizes, "check_tokens": toks}))


if __name__ == "__main__":
    main()
