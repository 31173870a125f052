#!/usr/bin/python3
"""check_train_parity.py — the C++ training forward/backward against PyTorch autograd.

For random-weight models written by the engine (every norm, gate and bias random, so all of
them get exercised) and a padded batch with per-token weights and z-loss, compares the loss
and every parameter's gradient from `needlepoint train-grads` with tests/ref/needle_torch.py
(float64). The "clip" cases add the retrieval head's contrastive loss (N right-padded
queries and tool texts): alone (every decoder gradient must then be exactly zero), and
added to the token loss with weight 0.1 (the spec's weighting), with and without an FFN, at
a large scale (log_temp 4.0, scale 54.6) and with log_temp above the clamp (5.0: the scale
is capped at 100 and log_temp gets no gradient in either implementation). Error per tensor: max|engine - torch| / max|torch| (tensors whose reference
gradient is all zero must be all zero). Bound: 1e-4 (f32 engine vs f64 reference).
Usage: check_train_parity.py --cli PATH. Exits non-zero on any failure.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_np  # noqa: E402

BOUND = 1e-4


def make_batch(rng, vocab, B, max_te, max_td, pad=0):
    enc, dec_in, targets, weights = [], [], [], []
    te_list = [rng.randint(max_te // 2, max_te) for _ in range(B)]
    td_list = [rng.randint(max_td // 2, max_td) for _ in range(B)]
    Te, Td = max(te_list), max(td_list)
    for te, td in zip(te_list, td_list):
        e = [rng.randint(6, vocab - 1) for _ in range(te)]
        e[rng.randint(0, te - 1)] = 5
        enc.append(e + [pad] * (Te - te))
        seq = [4] + [rng.randint(6, vocab - 1) for _ in range(td - 1)]
        dec_in.append([1] + seq[:-1] + [pad] * (Td - td))
        targets.append(seq[:-1] + [1] + [-1] * (Td - td))
        weights.append([rng.choice([1.0, 1.5, 2.0, 3.0]) for _ in range(td)] + [0.0] * (Td - td))
    return {"enc": enc, "dec_in": dec_in, "targets": targets, "weights": weights, "z_coef": 1e-4}


def make_contrastive(rng, vocab, N, max_tq, max_tt, weight, pad=0):
    def rows(max_t):
        lens = [rng.randint(2, max_t) for _ in range(N)]
        T = max(lens)
        return [[rng.randint(6, vocab - 1) for _ in range(n)] + [pad] * (T - n) for n in lens]
    return {"query": rows(max_tq), "tool": rows(max_tt), "weight": weight}


def set_log_temp(path, value):
    """Overwrites the F32 scalar contrastive.log_temp of a GGUF file in place."""
    r = gguf_np.GGUFReader(path)
    t = r.tensors["contrastive.log_temp"]
    assert t.type == gguf_np.F32
    at = r.data_offset + t.offset
    data = bytearray(r.buf)
    data[at:at + 4] = np.float32(value).tobytes()
    with open(path, "wb") as f:
        f.write(bytes(data))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd[:2]), p.returncode, p.stderr.strip()))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="np-train-parity-")
    # (name, make-model flags, token loss?, contrastive weight or None, log_temp or None)
    cases = [("small", [], True, None, None), ("small drelu", ["--d-ff", "96", "--ffn", "drelu"], True, None, None),
             ("small swiglu", ["--d-ff", "80", "--ffn", "swiglu"], True, None, None),
             ("small geglu", ["--d-ff", "64", "--ffn", "geglu"], True, None, None),
             ("clip alone", [], False, 1.0, None), ("clip + token", [], True, 0.1, None),
             ("clip+tok geglu", ["--d-ff", "64", "--ffn", "geglu"], True, 0.1, None),
             ("clip scale 55", [], False, 1.0, 4.0), ("clip clamped", [], True, 0.1, 5.0)]
    failures = 0
    print("%-14s %12s %12s %-36s" % ("case", "loss err", "max grad err", "worst tensor"))
    for i, (name, extra, token, cweight, log_temp) in enumerate(cases):
        model = os.path.join(tmp, "m%d.gguf" % i)
        run([args.cli, "make-model", "--out", model, "--config", "small", "--seed", str(100 + i)] + extra)
        if log_temp is not None:
            set_log_temp(model, log_temp)
        batch = make_batch(rng, 512, 3, 40, 12) if token else {}
        if cweight is not None:
            batch["contrastive"] = make_contrastive(rng, 512, 5, 14, 30, cweight)
        bpath = os.path.join(tmp, "b%d.json" % i)
        with open(bpath, "w") as f:
            json.dump(batch, f)
        ours, ref = os.path.join(tmp, "ours%d.gguf" % i), os.path.join(tmp, "ref%d.gguf" % i)
        try:
            run([args.cli, "train-grads", "--model", model, "--batch", bpath, "--out", ours])
            run([sys.executable, os.path.join(HERE, "needle_torch.py"), "grads", "--model", model, "--batch", bpath,
                 "--out", ref])
        except RuntimeError as e:
            print("%-14s ERROR %s" % (name, e))
            failures += 1
            continue
        a, b = gguf_np.GGUFReader(ours), gguf_np.GGUFReader(ref)
        la, lb = a.metadata["train.loss"], b.metadata["train.loss"]
        loss_err = abs(la - lb) / abs(lb)
        if cweight is not None:
            ca, cb = a.metadata.get("train.contrastive_loss"), b.metadata["train.contrastive_loss"]
            loss_err = max(loss_err, abs(ca - cb) / abs(cb) if ca is not None else float("inf"))
        worst, worst_name = 0.0, ""
        ok = loss_err <= BOUND and set(a.tensors) == set(b.tensors)
        for n in b.tensors:
            if n not in a.tensors:
                ok = False
                worst_name = "missing " + n
                continue
            ga, gb = a.tensor(n), b.tensor(n)
            scale = np.abs(gb).max()
            err = np.abs(ga - gb).max() / scale if scale > 0 else np.abs(ga).max()
            if err > worst:
                worst, worst_name = err, n
        ok = ok and worst <= BOUND
        print("%-14s %12.3e %12.3e %-36s %s" % (name, loss_err, worst, worst_name, "ok" if ok else "FAIL"))
        failures += 0 if ok else 1
    # Bad contrastive batches are refused (non-zero exit, INVALID_INPUT), never crash.
    bad = [("one pair", {"query": [[7, 8]], "tool": [[9]], "weight": 0.1}),
           ("all-pad query", {"query": [[7, 8], [0, 0]], "tool": [[9], [10]], "weight": 0.1}),
           ("id past vocab", {"query": [[7, 8], [9, 10]], "tool": [[9], [512]], "weight": 0.1})]
    for name, c in bad:
        bpath = os.path.join(tmp, "bad.json")
        with open(bpath, "w") as f:
            json.dump({"contrastive": c}, f)
        p = subprocess.run([args.cli, "train-grads", "--model", os.path.join(tmp, "m0.gguf"), "--batch", bpath,
                            "--out", os.path.join(tmp, "bad.gguf")], capture_output=True, text=True)
        ok = p.returncode == 1 and "INVALID_INPUT" in p.stderr
        print("%-14s %s (exit %d)" % ("bad: " + name, "ok" if ok else "FAIL", p.returncode))
        failures += 0 if ok else 1
    total = len(cases) + len(bad)
    print("train parity: %d passed, %d failed" % (total - failures, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
