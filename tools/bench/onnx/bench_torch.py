#!/usr/bin/python3
"""bench_torch.py — PyTorch on the CPU, fp32, on the graphs export_onnx.py exports (the same
wrapper modules: encoder + cached greedy decoder steps), for bench_ort.mjs. Prints one JSON
line. Set OMP_WAIT_POLICY / OMP_NUM_THREADS in the environment before it starts (bench_ort.mjs
does: PASSIVE, and the thread count).

  bench_torch.py --model M.gguf --ids ids.json --threads 1 [--max-tokens 20] [--n 9] [--warm 2]
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_onnx  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=20)
    ap.add_argument("--n", type=int, default=9)
    ap.add_argument("--warm", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.ids) as f:
        ids = json.load(f)
    m = export_onnx.load(a.model)
    enc, dec = export_onnx.Encoder(m).eval(), export_onnx.DecoderStep(m).eval()
    L = m.cfg.n_dec_layers
    ids_t = torch.tensor([ids], dtype=torch.long)
    samples, toks = [], []
    with torch.inference_mode():
        for it in range(a.warm + a.n):
            t0 = time.perf_counter()
            eo = enc(ids_t)
            t1 = time.perf_counter()
            cross = list(eo[1:])
            past = export_onnx.empty_cache(m)
            tok, out, steps = 1, [], 0
            while len(out) < a.max_tokens:
                r = dec(torch.tensor([[tok]], dtype=torch.long), torch.tensor([steps], dtype=torch.long), *past, *cross)
                steps += 1
                past = list(r[1:1 + 2 * L])
                tok = int(torch.argmax(r[0][0]))
                if tok == 1:
                    break
                out.append(tok)
            t2 = time.perf_counter()
            toks = out
            if it >= a.warm:
                samples.append({"total": (t2 - t0) * 1e3, "encode": (t1 - t0) * 1e3, "decode": (t2 - t1) * 1e3, "steps": steps})
    print(json.dumps({"engine": "torch", "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "tokens": toks,
                      "samples": samples}))


if __name__ == "__main__":
    main()
