"""needlepoint_gguf.py — the GGUF v3 writer and the weight encoders the converters in tools/
use (Python + numpy only; see /work/shared/spec/model-format.md and docs/gguf.md).

What it holds: tensor-type ids, `matrix_storage_type` (the engine's rule for which type a
matrix is stored in), encoders from float32 to F32/F16/Q8_0/Q4_0 bytes that follow the
engine's `_ref` quantizers (core/src/quant/quant.cpp: float32 arithmetic, roundf halves away
from zero, no fused multiply-add), and `GgufWriter`, which writes metadata and tensors the
way ggml readers expect (tensors back to back in info order, each padded to the alignment).
What it is not: a reader, or anything that knows the Needle model (needle_flax.py does).

Byte layout written (little-endian):
  1. magic "GGUF", u32 version 3, u64 tensor count, u64 metadata count
  2. metadata: string key, u32 value type, value (strings: u64 length + UTF-8 bytes;
     arrays: u32 element type, u64 count, elements)
  3. tensor infos: string name, u32 n_dims, u64 dims (fastest first), u32 type, u64 offset
  4. zero padding to general.alignment, then the data of each tensor, padded likewise
"""

import os
import struct
import tempfile

import numpy as np

# Tensor types (ggml ids; on disk).
F32, F16, Q4_0, Q8_0 = 0, 1, 2, 8
TYPE_BY_NAME = {"f32": F32, "f16": F16, "q8_0": Q8_0, "q4_0": Q4_0}
# general.file_type for a file whose matrices are mostly of this type (ggml's llama_ftype).
FILE_TYPE = {F32: 0, F16: 1, Q4_0: 2, Q8_0: 7}
QK = 32  # values per Q8_0/Q4_0 block

# Metadata value types (on disk).
U8, I8, U16, I16, U32, I32, F32V, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32V: "<f",
           BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}

_Q8_0 = np.dtype([("d", "<f2"), ("qs", "i1", (QK,))])          # 34 bytes
_Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])     # 18 bytes
assert _Q8_0.itemsize == 34 and _Q4_0.itemsize == 18


def matrix_storage_type(type_id, ne0):
    """The type a matrix with rows of `ne0` values is stored in when `type_id` is asked for:
    Q8_0/Q4_0 need whole blocks, so other row lengths stay F32 (as core's
    matrix_storage_type). Examples: (Q8_0, 64) -> Q8_0; (Q4_0, 16) -> F32; (F16, 16) -> F16."""
    if type_id in (Q8_0, Q4_0) and ne0 % QK:
        return F32
    return type_id


def _roundf(x):
    """C roundf on float32 values: halves away from zero. [0.5, -1.5, 2.4] -> [1, -2, 2]."""
    return np.sign(x) * np.floor(np.abs(x) + np.float32(0.5))


def _f16_scales(d):
    h = d.astype(np.float16)
    if not np.all(np.isfinite(h)):
        raise ValueError("a block scale beyond the f16 range (weights above about 8e6 in magnitude)")
    return h


def encode_q8_0(values):
    """float32 values (count a multiple of 32) -> Q8_0 blocks: d = max|x|/127 (stored f16),
    q = roundf(x / d) computed with the unrounded d, clamped to [-127, 127]."""
    x = np.asarray(values, dtype=np.float32).reshape(-1, QK)
    d = (np.max(np.abs(x), axis=1) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = _roundf((x * inv[:, None]).astype(np.float32))
    out = np.empty(len(x), dtype=_Q8_0)
    out["d"] = _f16_scales(d)
    out["qs"] = np.clip(np.nan_to_num(q), -127, 127).astype(np.int8)
    return out.tobytes()


def encode_q4_0(values):
    """float32 values (count a multiple of 32) -> Q4_0 blocks: m = the element of largest
    magnitude (sign kept, first on ties), d = m / -8 (stored f16), q = floor(x/d + 8.5)
    clamped to [0, 15]; byte j = q[j] | q[j+16] << 4."""
    x = np.asarray(values, dtype=np.float32).reshape(-1, QK)
    m = x[np.arange(len(x)), np.argmax(np.abs(x), axis=1)]
    d = (m / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    scaled = (x * inv[:, None]).astype(np.float32)
    q = np.clip(np.floor((scaled + np.float32(8.5)).astype(np.float32)), 0, 15)
    q = np.where(np.isnan(scaled), 8, q).astype(np.uint8)
    out = np.empty(len(x), dtype=_Q4_0)
    out["d"] = _f16_scales(d)
    out["qs"] = q[:, :QK // 2] | (q[:, QK // 2:] << 4)
    return out.tobytes()


def encode_tensor(type_id, values):
    """float32 array -> the bytes of `type_id`, row-major (the last numpy axis fastest).
    Values an f16 (or a block's f16 scale) cannot hold raise ValueError."""
    v = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    if type_id == F32:
        return v.astype("<f4").tobytes()
    if type_id == F16:
        h = v.astype("<f2")
        if not np.all(np.isfinite(h)):
            raise ValueError(f"values beyond the f16 range (max |x| = {float(np.max(np.abs(v))):g} > 65504)")
        return h.tobytes()
    if type_id == Q8_0:
        return encode_q8_0(v)
    if type_id == Q4_0:
        return encode_q4_0(v)
    raise ValueError(f"unknown tensor type {type_id}")


class GgufWriter:
    """Collects metadata and tensors, then writes one GGUF v3 file.

    w = GgufWriter()
    w.add("general.architecture", STRING, "needle")
    w.add("tokenizer.ggml.scores", (ARRAY, F32V), [0.0, -1.5])
    w.add_tensor("token_embd.weight", E, Q8_0)        # E: numpy (vocab, d) -> dims [d, vocab]
    w.write("model.gguf")                              # atomically: temp file, then rename
    """

    def __init__(self, alignment=32):
        assert alignment > 0 and alignment & (alignment - 1) == 0
        self.alignment = alignment
        self.kvs = []        # (key, type, value)
        self.tensors = []    # (name, dims, type, bytes)
        self.add("general.alignment", U32, alignment)

    def add(self, key, vtype, value):
        self.kvs.append((key, vtype, value))

    def add_tensor(self, name, array, type_id):
        a = np.asarray(array, dtype=np.float32)
        dims = list(reversed(a.shape)) or [1]
        if type_id in (Q8_0, Q4_0) and dims[0] % QK:
            raise ValueError(f"{name}: rows of {dims[0]} values cannot be stored as blocks of {QK}")
        self.tensors.append((name, dims, type_id, encode_tensor(type_id, a)))

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _value(self, vtype, value):
        if isinstance(vtype, tuple):
            etype = vtype[1]
            if etype in _SCALAR and etype != BOOL:
                body = np.asarray(value, dtype=_SCALAR[etype]).tobytes()
            else:
                body = b"".join(self._value(etype, v) for v in value)
            return struct.pack("<IQ", etype, len(value)) + body
        if vtype == STRING:
            return self._str(value)
        return struct.pack(_SCALAR[vtype], value)

    def _pad(self, n):
        return bytes(-n % self.alignment)

    def write(self, path):
        """Writes the file next to `path` under a temporary name and renames it into place,
        so a failure never leaves a partial file at `path`."""
        head = bytearray(b"GGUF")
        head += struct.pack("<IQQ", 3, len(self.tensors), len(self.kvs))
        for key, vtype, value in self.kvs:
            head += self._str(key)
            head += struct.pack("<I", ARRAY if isinstance(vtype, tuple) else vtype)
            head += self._value(vtype, value)
        offset = 0
        for name, dims, type_id, data in self.tensors:
            head += self._str(name) + struct.pack("<I", len(dims))
            head += b"".join(struct.pack("<Q", d) for d in dims)
            head += struct.pack("<IQ", type_id, offset)
            offset += len(data) + len(self._pad(len(data)))
        head += self._pad(len(head))
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".gguf.part", dir=directory)
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            with os.fdopen(fd, "wb") as f:
                f.write(head)
                for _, _, _, data in self.tensors:
                    f.write(data)
                    f.write(self._pad(len(data)))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
