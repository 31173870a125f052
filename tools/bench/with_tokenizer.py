#!/usr/bin/env python3
"""with_tokenizer.py — a copy of a GGUF model with another model's tokenizer (every
`tokenizer.*` key) and, optionally, another encoder mask: for benchmarks that need the 26M
Needle shape (`needlepoint make-model --config needle`) with the default model's real
tokenizer, so prompts have their real token counts, on a clone without the training build.

  /usr/bin/python3 tools/bench/with_tokenizer.py --model needle.gguf \
      --tokenizer models/needlepoint-default.gguf --mask catalog --out needle-cat.gguf

The vocabularies must be the same size (the model's embedding rows are kept). Tensors are
copied byte for byte. Needs numpy (Debian's python3-numpy: run it with /usr/bin/python3).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "ref"))
import gguf_np as g  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", required=True, help="GGUF model whose tokenizer to use")
    ap.add_argument("--mask", choices=["bidirectional", "catalog"], help="needle.encoder.mask to write")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    src, tok = g.GGUFReader(a.model), g.GGUFReader(a.tokenizer)
    n_src = len(src.metadata.get("tokenizer.ggml.tokens", []))
    n_tok = len(tok.metadata.get("tokenizer.ggml.tokens", []))
    if n_src != n_tok:
        sys.exit(f"error: vocabularies differ ({n_src} tokens in {a.model}, {n_tok} in {a.tokenizer})")
    w = g.GGUFWriter(src.alignment)
    for k, v in src.metadata.items():
        if not k.startswith("tokenizer."):
            w.kvs[k] = (src.kv_types[k], v)
    for k, v in tok.metadata.items():
        if k.startswith("tokenizer."):
            w.kvs[k] = (tok.kv_types[k], v)
    if a.mask:
        w.kvs["needle.encoder.mask"] = (g.T_STRING, a.mask)
    for name, ti in src.tensors.items():
        w.tensors.append((name, ti.dims, ti.type, bytes(src.raw(name))))
    w.write(a.out)
    print(f"{a.out}: {len(w.tensors)} tensors, tokenizer from {a.tokenizer}" + (f", mask {a.mask}" if a.mask else ""))


if __name__ == "__main__":
    main()
