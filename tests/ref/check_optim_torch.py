#!/usr/bin/python3
"""check_optim_torch.py — the engine's AdamW (core/src/train/optim.cpp, driven by
np_optim_trace) against torch.optim.AdamW, step by step.

Each case builds a parameter arena (names, groups, frozen and no-decay tensors), initial
values and a fixed sequence of gradients (not a function of the parameters, so the optimiser
alone is compared), runs both, and compares the values after every step:
  err = max over steps of max|engine - torch| / max|torch|
and checks the run actually moved the values (max|final - initial| / max|initial| must be
at least 100 x TOLERANCE, so agreement is not vacuous).
torch side: one param group with weight_decay for the decay tensors, one with 0 for the rest,
frozen tensors left out; torch.nn.utils.clip_grad_norm_ over the trainable gradients; the
lr multiplier from LambdaLR with the schedule written out below from docs/training.md.
Cases cover: constant lr, cosine with warmup and a floor, WSD, clipping on some steps,
betas/eps/wd away from the defaults, the fine-tuning lr, and a resume from serialized state
in the middle of a run (the engine's trajectory must not notice).
The engine's reported pre-clip norm is compared with torch's total_norm too.

torch missing is a failure (tools/install-deps.sh installs python3-torch): a skipped oracle
must not pass for agreement. Exit 0 when every case is within tolerance, 1 otherwise.

  check_optim_torch.py --trace build/np_optim_trace [--keep DIR]
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

# float32 arithmetic on both sides in the same formula order; what differs is torch's float32
# clip norm (engine: double) and where each side's compiler fused a multiply-add. Measured:
# at most 1 ulp of the largest value (about 8e-8), with 79-100% of values bit-identical; 1e-6
# leaves room without letting a formula error through (a wrong bias correction, decay or
# schedule moves values by >= 1e-4 relative within a few steps).
TOLERANCE = 1e-6
NORM_TOLERANCE = 1e-5  # relative, float32 vs float64 sum of squares

GROUPS = {"matrix": 0, "embedding": 1, "vector": 2, "scalar": 3}


def lr_factor(kind, T, warmup_ratio, decay_ratio, floor, s):
    """docs/training.md, "Optimisers and schedules"."""
    W = int(math.floor(warmup_ratio * T + 0.5))
    if s < W:
        return (s + 1) / W
    if kind == "constant":
        return 1.0
    if s >= T:
        return floor
    if kind == "cosine":
        p = (s - W) / (T - W)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))
    D = int(math.floor(decay_ratio * T + 0.5))
    if s < T - D:
        return 1.0
    p = (s - (T - D)) / D
    return floor + (1 - floor) * (1 - p)


def make_case(name, seed, tensors, steps, lr=3e-4, betas=(0.9, 0.999), eps=1e-8, wd=0.01,
              clip=0.0, sched=("constant", 0, 0.0, 0.0, 0.0), resume_at=-1, grad_scales=None):
    """tensors: list of (name, group, shape, trainable, decay)."""
    rng = np.random.default_rng(seed)
    sizes = [int(np.prod(shape)) if shape else 1 for _, _, shape, _, _ in tensors]
    total = sum(sizes)
    init = (rng.standard_normal(total) * 0.5).astype(np.float32)
    grads = []
    for t in range(steps):
        scale = grad_scales[t % len(grad_scales)] if grad_scales else 0.1
        grads.append((rng.standard_normal(total) * scale).astype(np.float32))
    return dict(name=name, tensors=tensors, sizes=sizes, total=total, init=init, grads=grads,
                steps=steps, lr=lr, betas=betas, eps=eps, wd=wd, clip=clip, sched=sched,
                resume_at=resume_at)


def run_engine(trace, case, work):
    kinds = {"constant": 0, "cosine": 1, "wsd": 2}
    kind, T, wr, dr, floor = case["sched"]
    lines = [f"{case['lr']!r} {case['betas'][0]!r} {case['betas'][1]!r} {case['eps']!r} {case['wd']!r} {case['clip']!r}",
             f"{kinds[kind]} {T} {wr!r} {dr!r} {floor!r}",
             f"{case['steps']} {case['resume_at']} {len(case['tensors'])}"]
    for (name, group, shape, trainable, decay) in case["tensors"]:
        lines.append(f"{name} {GROUPS[group]} {int(trainable)} {int(decay)} {len(shape)} " +
                     " ".join(str(d) for d in shape))
    case_path = os.path.join(work, case["name"] + ".txt")
    data_path = os.path.join(work, case["name"] + ".bin")
    out_path = os.path.join(work, case["name"] + ".out")
    with open(case_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(data_path, "wb") as f:
        f.write(case["init"].astype("<f4").tobytes())
        for g in case["grads"]:
            f.write(g.astype("<f4").tobytes())
    r = subprocess.run([trace, case_path, data_path, out_path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"np_optim_trace failed ({r.returncode}): {r.stderr.strip()}")
    raw = open(out_path, "rb").read()
    rec = case["total"] * 4 + 8
    if len(raw) != rec * case["steps"]:
        raise RuntimeError(f"np_optim_trace wrote {len(raw)} bytes, expected {rec * case['steps']}")
    values, norms = [], []
    for t in range(case["steps"]):
        chunk = raw[t * rec:(t + 1) * rec]
        values.append(np.frombuffer(chunk[:-8], dtype="<f4").copy())
        norms.append(float(np.frombuffer(chunk[-8:], dtype="<f8")[0]))
    return values, norms


def run_torch(case):
    import torch
    params, offsets = [], []
    off = 0
    for (name, group, shape, trainable, decay), n in zip(case["tensors"], case["sizes"]):
        p = torch.tensor(case["init"][off:off + n].reshape(shape) if shape else case["init"][off:off + n].reshape(()),
                         dtype=torch.float32, requires_grad=bool(trainable))
        params.append(p)
        offsets.append((off, n))
        off += n
    decay_group = [p for p, t in zip(params, case["tensors"]) if t[3] and t[4]]
    plain_group = [p for p, t in zip(params, case["tensors"]) if t[3] and not t[4]]
    trainable = [p for p, t in zip(params, case["tensors"]) if t[3]]
    groups = []
    if decay_group:
        groups.append({"params": decay_group, "weight_decay": case["wd"]})
    if plain_group:
        groups.append({"params": plain_group, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=case["lr"], betas=case["betas"], eps=case["eps"], foreach=False)
    kind, T, wr, dr, floor = case["sched"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(kind, T, wr, dr, floor, s))
    values, norms = [], []
    for t in range(case["steps"]):
        g = case["grads"][t]
        for p, (o, n), spec in zip(params, offsets, case["tensors"]):
            if spec[3]:
                p.grad = torch.tensor(g[o:o + n].reshape(p.shape), dtype=torch.float32)
        if case["clip"] > 0:
            total_norm = torch.nn.utils.clip_grad_norm_(trainable, case["clip"])
        else:
            total_norm = torch.norm(torch.stack([torch.norm(p.grad, 2.0) for p in trainable]), 2.0)
        norms.append(float(total_norm))
        opt.step()
        sched.step()
        values.append(np.concatenate([p.detach().numpy().reshape(-1) for p in params]).astype(np.float32))
    return values, norms


def model_tensors(frozen=()):
    spec = [("tok_embd", "embedding", [32, 16], True),
            ("enc.blk.0.attn_q", "matrix", [16, 16], True),
            ("enc.blk.0.attn_k", "matrix", [8, 16], True),
            ("enc.blk.0.attn_norm", "vector", [16], False),
            ("enc.blk.0.attn_gate", "scalar", [], False),
            ("head.w1", "matrix", [4, 16], True),
            ("head.b1", "vector", [4], False),
            ("log_temp", "scalar", [1], False)]
    return [(n, g, s, n not in frozen, d) for (n, g, s, d) in spec]


def cases():
    return [
        make_case("constant", 1, model_tensors(), 20),
        make_case("cosine_floor_clip", 2, model_tensors(), 40, lr=1e-2, wd=0.1, clip=1.0,
                  sched=("cosine", 40, 0.1, 0.0, 0.1), grad_scales=[0.05, 0.05, 2.0]),
        make_case("wsd_frozen_resume", 3, model_tensors(frozen=("tok_embd", "enc.blk.0.attn_norm")), 30,
                  lr=3e-3, wd=0.05, clip=0.5, sched=("wsd", 30, 0.1, 0.2, 0.0), resume_at=11,
                  grad_scales=[0.01, 1.0]),
        make_case("betas_eps", 4, model_tensors(), 25, lr=1e-3, betas=(0.8, 0.95), eps=1e-6, wd=0.2,
                  sched=("wsd", 25, 0.05, 0.05, 0.0)),
        make_case("finetune_lr", 5, model_tensors(), 100, lr=3e-5, wd=0.01, clip=1.0,
                  sched=("wsd", 100, 0.05, 0.05, 0.0), grad_scales=[1e-4, 1e-2, 0.3]),
        make_case("tiny_grads", 6, model_tensors(), 15, lr=1e-3, grad_scales=[1e-9, 1e-6]),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", required=True, help="path to the np_optim_trace executable")
    ap.add_argument("--keep", help="write case files here and keep them")
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("FAIL: torch not importable by", sys.executable, "(apt install python3-torch)")
        return 1
    torch.set_num_threads(1)
    work_ctx = None
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        work = args.keep
    else:
        work_ctx = tempfile.TemporaryDirectory(prefix="np_optim_torch_")
        work = work_ctx.name
    failures = 0
    print(f"{'case':<22} {'steps':>5} {'err':>12} {'identical':>10} {'norm err':>10} {'moved':>9}  result")
    for case in cases():
        try:
            eng_v, eng_n = run_engine(args.trace, case, work)
        except RuntimeError as e:
            print(f"{case['name']:<22} ERROR {e}")
            failures += 1
            continue
        ref_v, ref_n = run_torch(case)
        err = 0.0
        same = 0
        for a, b in zip(eng_v, ref_v):
            err = max(err, float(np.max(np.abs(a.astype(np.float64) - b)) / np.max(np.abs(b))))
            same += int(np.sum(a.view(np.uint32) == b.view(np.uint32)))
        nerr = max(abs(a - b) / max(1e-30, abs(b)) for a, b in zip(eng_n, ref_n))
        moved = float(np.max(np.abs(ref_v[-1].astype(np.float64) - case["init"])) / np.max(np.abs(case["init"])))
        ok = err <= TOLERANCE and nerr <= NORM_TOLERANCE and moved >= 100 * TOLERANCE
        failures += 0 if ok else 1
        share = same / (case["total"] * case["steps"])
        print(f"{case['name']:<22} {case['steps']:>5} {err:>12.3e} {share:>9.1%} {nerr:>10.1e} {moved:>9.1e}  "
              f"{'ok' if ok else 'FAIL'}")
    if work_ctx:
        work_ctx.cleanup()
    print("optim torch check:", "PASS" if failures == 0 else f"FAIL ({failures} cases)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
