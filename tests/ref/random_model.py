#!/usr/bin/python3
"""random_model.py — writes a random-weight Needle GGUF with the python writer (gguf_np.py).

Used by check_parity.py so that the engine is also checked on a file it did not write itself
(a third-party writer), and by test_ref.py. Every norm g, gate, bias and log_temp is random and
non-zero so that each is exercised. Not the engine's `make-model`: configs and random streams
differ on purpose.

  random_model.py --out F.gguf [--config pysmall] [--type f32|f16|bf16|q8_0|q4_0] [--seed N]
                  [--d-ff N --ffn drelu|swiglu|geglu] [--alignment 32] [--shuffle]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_np  # noqa: E402
from gguf_np import T_ARRAY, T_BOOL, T_F32, T_I32, T_STRING, T_U32  # noqa: E402
import needle_ref  # noqa: E402

# Every dimension a projection is blocked along (C, C/4, d_ff) is a multiple of 32, so every
# projection can take every type.
CONFIGS = {
    # tiny: fast self-tests
    "pytiny": dict(vocab=288, d_model=128, n_heads=4, n_kv_heads=2, n_enc=2, n_dec=2,
                   contrastive_dim=32, rope_theta=10000.0),
    # pysmall: the parity suite's third-party-written model
    "pysmall": dict(vocab=512, d_model=128, n_heads=4, n_kv_heads=2, n_enc=3, n_dec=2,
                    contrastive_dim=64, rope_theta=10000.0),
    # pyneedle: the published Needle v1 shape (timing the reference at full size)
    "pyneedle": dict(vocab=8192, d_model=512, n_heads=8, n_kv_heads=4, n_enc=12, n_dec=8,
                     contrastive_dim=128, rope_theta=10000.0),
}

SPECIAL_PIECES = ["<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>"]
SPECIAL_TYPES = [3, 3, 3, 2, 4, 4]   # control, control, control, unknown, user-defined x2


def tokenizer_vocab(vocab):
    """A well-formed SentencePiece-style vocabulary: specials, 256 byte pieces, then words."""
    pieces = list(SPECIAL_PIECES)
    types = list(SPECIAL_TYPES)
    for b in range(256):
        pieces.append(f"<0x{b:02X}>")
        types.append(6)
    n_words = vocab - len(pieces)
    assert n_words >= 0, "vocab too small for the specials and byte pieces"
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i in range(n_words):
        w = letters[i % 26] + (letters[(i // 26) % 26] if i >= 26 else "")
        w += str(i // 676) if i >= 676 else ""
        pieces.append(("\u2581" + w) if i % 2 == 0 else w)
        types.append(1)
    scores = [0.0] * len(SPECIAL_PIECES) + [0.0] * 256 + [-float(i + 1) for i in range(n_words)]
    return pieces, scores, types


def make_writer(cfg, type_name, seed, d_ff=0, ffn="drelu", alignment=32, shuffle=False):
    """Returns a GGUFWriter holding a random-weight model. shuffle: tensors in a random order
    (a reader must go by name and offset, not by position)."""
    qtype = gguf_np.TYPE_BY_NAME[type_name]
    rng = np.random.default_rng(seed)
    C, NH, NKV = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    HS = C // NH
    V = cfg["vocab"]
    w = gguf_np.GGUFWriter(alignment=alignment)
    w.add("general.architecture", "needle")
    w.add("general.name", f"random needle ({type_name}, seed {seed}, python writer)")
    w.add("needle.format_version", 1, T_U32)
    w.add("needle.context_length", 1024, T_U32)
    w.add("needle.decoder_context_length", 512, T_U32)
    w.add("needle.embedding_length", C, T_U32)
    w.add("needle.encoder.block_count", cfg["n_enc"], T_U32)
    w.add("needle.decoder.block_count", cfg["n_dec"], T_U32)
    w.add("needle.attention.head_count", NH, T_U32)
    w.add("needle.attention.head_count_kv", NKV, T_U32)
    w.add("needle.attention.layer_norm_rms_epsilon", 1e-6, T_F32)
    w.add("needle.rope.freq_base", cfg["rope_theta"], T_F32)
    w.add("needle.encoder.mask", "bidirectional", T_STRING)
    w.add("needle.tool_call_token_id", 4, T_U32)
    w.add("needle.tools_token_id", 5, T_U32)
    w.add("needle.contrastive.dim", cfg["contrastive_dim"], T_U32)
    if d_ff:
        w.add("needle.feed_forward_length", d_ff, T_U32)
        w.add("needle.feed_forward_activation", ffn, T_STRING)
    if qtype != gguf_np.F32:
        w.add("general.quantization_version", 2, T_U32)
        w.add("general.file_type", {gguf_np.F16: 1, gguf_np.Q8_0: 7, gguf_np.Q4_0: 2,
                                    gguf_np.BF16: 32}[qtype], T_U32)
    pieces, scores, types = tokenizer_vocab(V)
    w.add("tokenizer.ggml.model", "llama", T_STRING)
    w.add("tokenizer.ggml.tokens", pieces, (T_ARRAY, T_STRING))
    w.add("tokenizer.ggml.scores", scores, (T_ARRAY, T_F32))
    w.add("tokenizer.ggml.token_type", types, (T_ARRAY, T_I32))
    for key, v in (("padding", 0), ("eos", 1), ("bos", 2), ("unknown", 3)):
        w.add(f"tokenizer.ggml.{key}_token_id", v, T_U32)
    w.add("tokenizer.ggml.add_space_prefix", True, T_BOOL)
    w.add("tokenizer.ggml.remove_extra_whitespaces", True, T_BOOL)
    w.add("tokenizer.ggml.byte_fallback", True, T_BOOL)

    def proj(name, rows, cols):       # [out][in], numpy (rows, cols)
        w.add_tensor(name, rng.normal(0.0, 1.0 / np.sqrt(cols), (rows, cols)), qtype)

    def norm(name, n):
        w.add_tensor(name, rng.uniform(-0.5, 0.5, n), gguf_np.F32)

    def scalar(name):
        w.add_tensor(name, rng.normal(0.0, 1.0, 1), gguf_np.F32)

    def attn(p):
        norm(f"{p}_norm.weight", C)
        proj(f"{p}_q.weight", C, C)
        proj(f"{p}_k.weight", NKV * HS, C)
        proj(f"{p}_v.weight", NKV * HS, C)
        proj(f"{p}_output.weight", C, C)
        norm(f"{p}_q_norm.weight", HS)
        norm(f"{p}_k_norm.weight", HS)
        scalar(f"{p}_gate")

    def ffn_block(p):
        if not d_ff:
            return
        norm(f"{p}.ffn_norm.weight", C)
        scalar(f"{p}.ffn_gate")
        proj(f"{p}.ffn_gate_proj.weight", d_ff, C)
        proj(f"{p}.ffn_up_proj.weight", d_ff, C)
        proj(f"{p}.ffn_down_proj.weight", C, d_ff)

    w.add_tensor("token_embd.weight", rng.normal(0.0, 1.0 / np.sqrt(C), (V, C)), qtype)
    for i in range(cfg["n_enc"]):
        attn(f"enc.blk.{i}.attn")
        ffn_block(f"enc.blk.{i}")
    norm("enc.output_norm.weight", C)
    for i in range(cfg["n_dec"]):
        attn(f"dec.blk.{i}.attn")
        attn(f"dec.blk.{i}.cross_attn")
        ffn_block(f"dec.blk.{i}")
    norm("dec.output_norm.weight", C)
    proj("contrastive.hidden.weight", C // 4, C)
    w.add_tensor("contrastive.hidden.bias", rng.normal(0.0, 0.1, C // 4), gguf_np.F32)
    proj("contrastive.proj.weight", cfg["contrastive_dim"], C // 4)
    w.add_tensor("contrastive.log_temp", np.array([np.log(1 / 0.07) + rng.normal(0, 0.1)]), gguf_np.F32)
    if shuffle:
        perm = np.random.default_rng(seed + 1).permutation(len(w.tensors))
        w.tensors = [w.tensors[i] for i in perm]
    return w


def write_random_model(path, config="pysmall", type_name="f32", seed=0, d_ff=0, ffn="drelu",
                       alignment=32, shuffle=False):
    make_writer(CONFIGS[config], type_name, seed, d_ff, ffn, alignment, shuffle).write(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="pysmall", choices=sorted(CONFIGS))
    ap.add_argument("--type", default="f32", choices=["f32", "f16", "bf16", "q8_0", "q4_0"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--d-ff", type=int, default=0)
    ap.add_argument("--ffn", default="drelu", choices=list(needle_ref.FFN_ACTIVATIONS))
    ap.add_argument("--alignment", type=int, default=32)
    ap.add_argument("--shuffle", action="store_true", help="write the tensors in a random order")
    a = ap.parse_args(argv)
    write_random_model(a.out, a.config, a.type, a.seed, a.d_ff, a.ffn, a.alignment, a.shuffle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
