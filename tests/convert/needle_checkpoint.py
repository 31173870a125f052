"""needle_checkpoint.py — builds random-valued checkpoints with the layout of Cactus's
published `needle.pkl` (/work/shared/spec/needle-v1.md, "Checkpoint layout") for the
converter tests, and writes them as the real release would pickle them.

`make_checkpoint(spec, seed)` returns (params, config, values):
  params  the Flax tree as it goes into the pickle: nested dicts with Flax auto-names
          (`EncoderBlock_0`, `ZCRMSNorm_k`, `FeedForward_0`), layers stacked on a leading
          axis (nn.scan), kernels [in, out]; leaves are float32 arrays or Bf16Array;
  config  the config dict (the spec's field names);
  values  the same tree holding the float32 values a reader must recover (bfloat16 leaves
          decoded exactly): what the numpy reference (flax_ref.py) computes with.
`our_tensors(values, spec)` gives our tensor names -> arrays, written out by hand from the
spec tables (not by the converter's suffix rules), for byte-level checks of the GGUF.

bfloat16 without ml_dtypes. A real checkpoint pickles numpy arrays whose dtype is
ml_dtypes.bfloat16. What that byte stream holds follows from numpy's reducers:
  - ndarray.__reduce_ex__(protocol) -> numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')
    then BUILD (1, shape, dtype, False, raw bytes), for every protocol. Protocol 5 would
    use numpy.core.numeric._frombuffer with an out-of-band-capable PickleBuffer, but only
    for arrays that export a buffer, and numpy cannot describe a user-registered dtype in
    a buffer ("cannot include dtype 'E' in a buffer", which ml_dtypes arrays raise), so
    it falls back to the regular reduction. float32 arrays in the same pickle do take the
    _frombuffer path at protocol 5 (their buffer is written in-band as BYTEARRAY8).
  - a dtype of a user-registered type (ml_dtypes registers bfloat16 with
    PyArray_RegisterDataType) reduces to numpy.dtype(<its scalar type>, False, True) with the
    version-3 state ('<', None, None, None, elsize, alignment, flags) (elsize 2, alignment
    2), where the scalar type is named by its __module__/__qualname__: ml_dtypes builds it
    from the type spec name "ml_dtypes.bfloat16", so the pickle says GLOBAL 'ml_dtypes
    bfloat16';
  - the raw bytes are the 16-bit patterns, little-endian.
UserDtypeArray reproduces exactly this for any user-registered dtype: it asks numpy for the
reduction of an unsigned-integer array holding the same bytes (so framing, bytes and shape
are numpy's own) and swaps the dtype for a UserDescr that reduces like the registered
descriptor. This machinery is checked byte for byte against numpy itself on numpy's own
user-registered test dtype (numpy.core._rational_tests.rational: elsize 8, alignment 4),
whose arrays pickle through the same code paths as bfloat16's. Bf16Array is the bfloat16
instance; its scalar type is pickled by reference as `ml_dtypes.bfloat16` through a
placeholder module object registered in sys.modules only while `dumps` runs (pickle checks
that the name resolves to the object). Only the bfloat16 constants (name, elsize,
alignment, flags) come from reading ml_dtypes' source; readers do not depend on the flags.
With ml_dtypes installed, `dumps(..., real_bf16=True)` pickles genuine ml_dtypes arrays, and
the tests compare both streams. `dumps(..., numpy2=True)` writes the names numpy 2.x uses
for the same reducers (numpy._core.multiarray._reconstruct, numpy._core.numeric._frombuffer).
"""

import io
import pickle
import sys
import types

import numpy as np

# Descriptor flags of ml_dtypes' bfloat16 (NPY_USE_SETITEM in current releases; older ones
# also set NPY_NEEDS_PYAPI | NPY_USE_GETITEM). Readers do not depend on them.
BF16_DESCR_FLAGS = 0x40


def bf16_bits(x):
    """float32 values -> bfloat16 bit patterns (uint16), rounded to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_values(bits):
    """bfloat16 bit patterns -> float32 values (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


class _Bf16ScalarType:
    """Stand-in for the ml_dtypes.bfloat16 scalar type (pickled by reference only)."""


_Bf16ScalarType.__module__ = "ml_dtypes"
_Bf16ScalarType.__qualname__ = "bfloat16"
_Bf16ScalarType.__name__ = "bfloat16"


class UserDescr:
    """Reduces like numpy's descriptor of a user-registered type (arraydescr_reduce)."""

    def __init__(self, scalar_type, elsize, alignment, flags):
        self.scalar_type, self.elsize, self.alignment, self.flags = scalar_type, elsize, alignment, flags

    def __reduce__(self):
        return (np.dtype, (self.scalar_type, False, True),
                (3, "<", None, None, None, self.elsize, self.alignment, self.flags))


class UserDtypeArray:
    """An array of a user-registered dtype in a pickle. storage: an unsigned-integer array of
    the same shape holding the items' bytes; descr: its UserDescr (shared by all arrays of
    the type, as numpy shares one descriptor object)."""

    def __init__(self, storage, descr):
        self.storage = np.asarray(storage)
        self.descr = descr
        self.shape = self.storage.shape

    def __reduce_ex__(self, protocol):
        fn, args, (version, shape, dtype, fortran, raw) = self.storage.__reduce__()
        return fn, args, (version, shape, self.descr, fortran, raw)


BF16_DESCR = UserDescr(_Bf16ScalarType, 2, 2, BF16_DESCR_FLAGS)


class Bf16Array(UserDtypeArray):
    """A bfloat16 array in a pickle: .bits (uint16 patterns), .shape."""

    def __init__(self, bits):
        super().__init__(np.asarray(bits, dtype=np.uint16), BF16_DESCR)
        self.bits = self.storage


def _numpy2_function(module, name):
    def f(*args):
        raise AssertionError("a stand-in, never called")
    f.__module__, f.__qualname__, f.__name__ = module, name, name
    return f


_NUMPY2 = {"_reconstruct": _numpy2_function("numpy._core.multiarray", "_reconstruct"),
           "_frombuffer": _numpy2_function("numpy._core.numeric", "_frombuffer")}


class _Numpy2Pickler(pickle.Pickler):
    """Writes arrays as numpy 2.x does: its reducers live in numpy._core, not numpy.core."""

    def __init__(self, f, protocol):
        super().__init__(f, protocol=protocol)
        self.protocol = protocol

    def reducer_override(self, obj):
        if not isinstance(obj, (np.ndarray, Bf16Array)):
            return NotImplemented
        red = obj.__reduce_ex__(self.protocol)
        return (_NUMPY2[red[0].__name__],) + tuple(red[1:])


def dumps(obj, protocol, real_bf16=False, numpy2=False):
    """Pickles `obj` as the real checkpoint would be pickled (see the module docstring).
    real_bf16: turn Bf16Array leaves into genuine ml_dtypes arrays first (needs ml_dtypes).
    numpy2: name numpy's reducers as numpy 2.x writes them (numpy._core.*)."""
    if real_bf16:
        import ml_dtypes  # noqa: F401 (only where installed)

        def conv(o):
            if isinstance(o, dict):
                return {k: conv(v) for k, v in o.items()}
            if isinstance(o, Bf16Array):
                return o.bits.view(ml_dtypes.bfloat16)
            return o
        return pickle.dumps(conv(obj), protocol=protocol)
    # Placeholder modules make pickle's by-reference names resolve while dumping only.
    placeholders = {"ml_dtypes": types.ModuleType("ml_dtypes")}
    placeholders["ml_dtypes"].bfloat16 = _Bf16ScalarType
    if numpy2:
        for name in ("numpy._core", "numpy._core.multiarray", "numpy._core.numeric"):
            placeholders[name] = types.ModuleType(name)
        placeholders["numpy._core.multiarray"]._reconstruct = _NUMPY2["_reconstruct"]
        placeholders["numpy._core.numeric"]._frombuffer = _NUMPY2["_frombuffer"]
    saved = {k: sys.modules.get(k) for k in placeholders}
    sys.modules.update(placeholders)
    try:
        if not numpy2:
            return pickle.dumps(obj, protocol=protocol)
        buf = io.BytesIO()
        _Numpy2Pickler(buf, protocol).dump(obj)
        return buf.getvalue()
    finally:
        for k, v in saved.items():
            if v is None:
                del sys.modules[k]
            else:
                sys.modules[k] = v


class Spec:
    """A model shape: vocab, d, heads, kv_heads, n_enc, n_dec, d_ff (0: none), act,
    contrastive_dim (0: no head), rope_theta, max_enc_len, max_dec_len."""

    def __init__(self, vocab=512, d=64, heads=4, kv_heads=2, n_enc=2, n_dec=2, d_ff=0, act="drelu",
                 contrastive_dim=32, rope_theta=10000.0, max_enc_len=256, max_dec_len=128):
        self.vocab, self.d, self.heads, self.kv_heads = vocab, d, heads, kv_heads
        self.n_enc, self.n_dec, self.d_ff, self.act = n_enc, n_dec, d_ff, act
        self.contrastive_dim, self.rope_theta = contrastive_dim, rope_theta
        self.max_enc_len, self.max_dec_len = max_enc_len, max_dec_len

    @property
    def head_dim(self):
        return self.d // self.heads

    def config(self):
        """The config dict as Needle's config class names its fields."""
        c = {"vocab_size": self.vocab, "d_model": self.d, "num_heads": self.heads,
             "num_kv_heads": self.kv_heads, "num_encoder_layers": self.n_enc,
             "num_decoder_layers": self.n_dec, "rope_theta": self.rope_theta,
             "max_enc_len": self.max_enc_len, "max_dec_len": self.max_dec_len,
             "pad_id": 0, "eos_id": 1, "bos_id": 2, "unk_id": 3,
             "d_ff": self.d_ff or 2048, "activation": self.act, "no_feedforward": not self.d_ff,
             "dropout": 0.0}
        if self.contrastive_dim:
            c["contrastive_dim"] = self.contrastive_dim
        return c


def make_checkpoint(spec, seed, dtype="f32"):
    """dtype: 'f32' (all float32), 'bf16' (all bfloat16), or 'mixed' (kernels and the
    embedding bfloat16, norms/gates/biases float32)."""
    rng = np.random.default_rng(seed)
    d, hs, kv, L_e, L_d = spec.d, spec.head_dim, spec.kv_heads * spec.head_dim, spec.n_enc, spec.n_dec

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def kernel(L, n_in, n_out):
        return normal((L, n_in, n_out), 1.0 / np.sqrt(n_in))

    def attention(L):
        return {"q_proj": {"kernel": kernel(L, d, d)}, "k_proj": {"kernel": kernel(L, d, kv)},
                "v_proj": {"kernel": kernel(L, d, kv)}, "out_proj": {"kernel": kernel(L, d, d)},
                "q_norm": {"scale": normal((L, hs), 0.2)}, "k_norm": {"scale": normal((L, hs), 0.2)}}

    def ffn(L):
        return {"gate_proj": {"kernel": kernel(L, d, spec.d_ff)}, "up_proj": {"kernel": kernel(L, d, spec.d_ff)},
                "down_proj": {"kernel": kernel(L, spec.d_ff, d)}}

    enc = {"attn_gate": normal((L_e,), 1.0), "ZCRMSNorm_0": {"scale": normal((L_e, d), 0.2)},
           "self_attn": attention(L_e)}
    dec = {"self_attn_gate": normal((L_d,), 1.0), "cross_attn_gate": normal((L_d,), 1.0),
           "ZCRMSNorm_0": {"scale": normal((L_d, d), 0.2)}, "ZCRMSNorm_1": {"scale": normal((L_d, d), 0.2)},
           "self_attn": attention(L_d), "cross_attn": attention(L_d)}
    if spec.d_ff:
        enc.update({"ZCRMSNorm_1": {"scale": normal((L_e, d), 0.2)}, "ffn_gate": normal((L_e,), 1.0),
                    "FeedForward_0": ffn(L_e)})
        dec.update({"ZCRMSNorm_2": {"scale": normal((L_d, d), 0.2)}, "ffn_gate": normal((L_d,), 1.0),
                    "FeedForward_0": ffn(L_d)})
    values = {"embedding": {"embedding": normal((spec.vocab, d), 1.0)},
              "encoder": {"layers": {"EncoderBlock_0": enc}, "final_norm": {"scale": normal((d,), 0.2)}},
              "decoder": {"layers": {"DecoderBlock_0": dec}, "ZCRMSNorm_0": {"scale": normal((d,), 0.2)}}}
    if spec.contrastive_dim:
        h = d // 4
        values["contrastive_hidden"] = {"kernel": kernel(1, d, h)[0], "bias": normal((h,), 0.1)}
        values["contrastive_proj"] = {"kernel": kernel(1, h, spec.contrastive_dim)[0]}
        values["log_temp"] = np.array(rng.standard_normal(), dtype=np.float32).reshape(())

    def store(tree, path=()):
        """-> (pickled tree, values tree) with the dtype policy applied."""
        if isinstance(tree, dict):
            pairs = {k: store(v, path + (k,)) for k, v in tree.items()}
            return {k: p for k, (p, _) in pairs.items()}, {k: v for k, (_, v) in pairs.items()}
        is_matrix = path[-1] in ("kernel", "embedding")
        if dtype == "bf16" or (dtype == "mixed" and is_matrix):
            bits = bf16_bits(tree)
            return Bf16Array(bits), bf16_values(bits).reshape(tree.shape)
        return tree, tree

    params, values = store(values)
    return params, spec.config(), values


def our_tensors(values, spec):
    """Our tensor name -> float32 array in our layout ([out][in], gates as (1,)), from the
    values tree, following the spec's tables one name at a time."""
    v = values
    enc = v["encoder"]["layers"]["EncoderBlock_0"]
    dec = v["decoder"]["layers"]["DecoderBlock_0"]
    out = {"token_embd.weight": v["embedding"]["embedding"]}

    def attn(prefix, mod, norm, gate, i):
        out[f"{prefix}_norm.weight"] = norm[i]
        for ours, flax in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("output", "out_proj")):
            out[f"{prefix}_{ours}.weight"] = mod[flax]["kernel"][i].T
        out[f"{prefix}_q_norm.weight"] = mod["q_norm"]["scale"][i]
        out[f"{prefix}_k_norm.weight"] = mod["k_norm"]["scale"][i]
        out[f"{prefix}_gate"] = gate[i:i + 1]

    def ffn(prefix, blk, norm_name, i):
        if spec.d_ff:
            out[f"{prefix}.ffn_norm.weight"] = blk[norm_name]["scale"][i]
            out[f"{prefix}.ffn_gate"] = blk["ffn_gate"][i:i + 1]
            for name in ("gate_proj", "up_proj", "down_proj"):
                out[f"{prefix}.ffn_{name}.weight"] = blk["FeedForward_0"][name]["kernel"][i].T

    for i in range(spec.n_enc):
        attn(f"enc.blk.{i}.attn", enc["self_attn"], enc["ZCRMSNorm_0"]["scale"], enc["attn_gate"], i)
        ffn(f"enc.blk.{i}", enc, "ZCRMSNorm_1", i)
    out["enc.output_norm.weight"] = v["encoder"]["final_norm"]["scale"]
    for i in range(spec.n_dec):
        attn(f"dec.blk.{i}.attn", dec["self_attn"], dec["ZCRMSNorm_0"]["scale"], dec["self_attn_gate"], i)
        attn(f"dec.blk.{i}.cross_attn", dec["cross_attn"], dec["ZCRMSNorm_1"]["scale"], dec["cross_attn_gate"], i)
        ffn(f"dec.blk.{i}", dec, "ZCRMSNorm_2", i)
    out["dec.output_norm.weight"] = v["decoder"]["ZCRMSNorm_0"]["scale"]
    if spec.contrastive_dim:
        out["contrastive.hidden.weight"] = v["contrastive_hidden"]["kernel"].T
        out["contrastive.hidden.bias"] = v["contrastive_hidden"]["bias"]
        out["contrastive.proj.weight"] = v["contrastive_proj"]["kernel"].T
        out["contrastive.log_temp"] = np.asarray(v["log_temp"]).reshape(1)
    return {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in out.items()}
