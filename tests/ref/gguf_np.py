"""gguf_np.py — a small GGUF v3 reader and writer in pure Python + numpy.

Written from /work/shared/spec/model-format.md for the numpy reference of the Needle forward
pass (needle_ref.py) and the parity suite (check_parity.py). It is deliberately independent of
the engine's C++ reader/writer so that each checks the other. Not here: any model math, any
speed tricks (files are read into memory whole; quantized tensors are dequantized with numpy).

Byte layout (little-endian), as ggml defines it:
  1. magic "GGUF" (47 47 55 46)
  2. u32 version (3; 2 is read too, same layout)
  3. u64 tensor_count
  4. u64 kv_count
  5. kv pairs: string key, u32 value type, value
       strings: u64 byte length + UTF-8 bytes, no NUL
       arrays:  u32 element type, u64 count, elements (nested arrays allowed)
  6. tensor infos: string name, u32 n_dims (<= 4), u64 dims[n_dims] (dims[0] fastest-varying),
     u32 ggml type, u64 offset relative to the data section
  7. padding to general.alignment (u32, default 32, a power of two)
  8. tensor data: each tensor at its offset (this writer: back to back in info order, each
     padded to the alignment, as ggml expects)

Tensors come back as numpy arrays whose shape is the GGUF dims reversed: a row-major matrix
with `rows` rows of `cols` values (dims [cols, rows]) becomes an array of shape (rows, cols).

Quantized blocks (32 values each, along dims[0]):
  Q8_0 (34 bytes): f16 d, int8 qs[32];           value j = qs[j] * d
  Q4_0 (18 bytes): f16 d, u8 qs[16]; byte j holds value j in its low nibble and value j+16 in
                   its high nibble;              value = (nibble - 8) * d
"""

import struct
from collections import OrderedDict

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# Tensor types (ids are on disk: append only).
F32, F16, Q4_0, Q8_0, BF16 = 0, 1, 2, 8, 30
TYPE_NAMES = {F32: "F32", F16: "F16", Q4_0: "Q4_0", Q8_0: "Q8_0", BF16: "BF16"}
TYPE_BY_NAME = {v.lower(): k for k, v in TYPE_NAMES.items()}
QK = 32  # values per quantized block
# type -> (values per block, bytes per block)
BLOCK = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q8_0: (QK, 2 + QK), Q4_0: (QK, 2 + QK // 2)}

# Metadata value types (on disk).
(T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY, T_U64, T_I64,
 T_F64) = range(13)
_SCALAR_FMT = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
               T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}

_Q8_0_DTYPE = np.dtype([("d", "<f2"), ("qs", "i1", (QK,))])
_Q4_0_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
assert _Q8_0_DTYPE.itemsize == 34 and _Q4_0_DTYPE.itemsize == 18


class GGUFError(ValueError):
    """A file that is not a well-formed GGUF (the message names what is wrong)."""


# ---------------------------------------------------------------------------------------------
# Dequantization: raw bytes of n values -> float64 array of n values.

def dequantize(type_id, raw, n):
    """Decodes n values of tensor type `type_id` from bytes `raw` into a float64 vector.

    Example: dequantize(Q8_0, bytes([0x00, 0x3c]) + bytes(range(32)), 32) -> [0., 1., ..., 31.]
    (0x3c00 is 1.0 in f16).
    """
    if type_id == F32:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float64)
    if type_id == F16:
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float64)
    if type_id == BF16:
        h = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
        return h.view(np.float32).astype(np.float64)
    if type_id in (Q8_0, Q4_0):
        if n % QK:
            raise GGUFError(f"{TYPE_NAMES[type_id]}: {n} values is not a multiple of {QK}")
        nb = n // QK
        if type_id == Q8_0:
            b = np.frombuffer(raw, dtype=_Q8_0_DTYPE, count=nb)
            q = b["qs"].astype(np.float64)                        # (nb, 32)
        else:
            b = np.frombuffer(raw, dtype=_Q4_0_DTYPE, count=nb)
            lo = (b["qs"] & 0x0F).astype(np.float64)              # values 0..15 of the block
            hi = (b["qs"] >> 4).astype(np.float64)                # values 16..31 of the block
            q = np.concatenate([lo, hi], axis=1) - 8.0            # (nb, 32)
        d = b["d"].astype(np.float64)[:, None]                    # (nb, 1)
        return (q * d).reshape(n)
    raise GGUFError(f"unknown tensor type {type_id}")


def tensor_nbytes(type_id, dims):
    """Bytes of a tensor with GGUF dims (dims[0] fastest). Example: (Q8_0, [64, 3]) -> 204."""
    if type_id not in BLOCK:
        raise GGUFError(f"unknown tensor type {type_id}")
    per_block, block_bytes = BLOCK[type_id]
    n = 1
    for d in dims:
        n *= int(d)
    if dims and int(dims[0]) % per_block:
        raise GGUFError(f"{TYPE_NAMES[type_id]}: dims[0]={dims[0]} is not a multiple of {per_block}")
    return n // per_block * block_bytes


# ---------------------------------------------------------------------------------------------
# Quantization (used by the writer). Mirrors ggml's _ref quantizers, computing in float32.

def _round_half_away(x):
    """C roundf: halves go away from zero. Example: [0.5, -0.5, 1.5, 2.5] -> [1, -1, 2, 3]."""
    return np.sign(x) * np.floor(np.abs(x) + np.float32(0.5))


def quantize_q8_0(x):
    """float values (n multiple of 32) -> Q8_0 bytes. d = max|x|/127, q = round(x/d)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    amax = np.max(np.abs(x), axis=1)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = _round_half_away(x * inv[:, None]).astype(np.int8)
    out = np.empty(x.shape[0], dtype=_Q8_0_DTYPE)
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


def quantize_q4_0(x):
    """float values (n multiple of 32) -> Q4_0 bytes. d = m/-8 (m: the element of largest
    magnitude, sign kept), q = min(15, floor(x/d + 8.5))."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    idx = np.argmax(np.abs(x), axis=1)
    m = x[np.arange(x.shape[0]), idx]
    d = m / np.float32(-8)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = np.minimum(15, np.floor(x * inv[:, None] + np.float32(8.5))).astype(np.uint8)
    out = np.empty(x.shape[0], dtype=_Q4_0_DTYPE)
    out["d"] = d.astype(np.float16)
    out["qs"] = q[:, :QK // 2] | (q[:, QK // 2:] << 4)
    return out.tobytes()


def encode_tensor(type_id, values):
    """float values -> bytes of `type_id` (F32, F16, BF16 round to nearest even, Q8_0, Q4_0)."""
    v = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    if type_id == F32:
        return v.astype("<f4").tobytes()
    if type_id == F16:
        return v.astype("<f2").tobytes()
    if type_id == BF16:
        u = v.view(np.uint32).astype(np.uint64)
        r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16                  # round to nearest even
        return r.astype("<u2").tobytes()
    if type_id == Q8_0:
        return quantize_q8_0(v)
    if type_id == Q4_0:
        return quantize_q4_0(v)
    raise GGUFError(f"unknown tensor type {type_id}")


# ---------------------------------------------------------------------------------------------
# Reader

class TensorInfo:
    def __init__(self, name, dims, type_id, offset):
        self.name = name
        self.dims = list(dims)              # GGUF order, dims[0] fastest
        self.type = type_id
        self.offset = offset                # relative to the data section
        self.nbytes = tensor_nbytes(type_id, self.dims)

    @property
    def shape(self):
        """numpy shape: dims reversed."""
        return tuple(reversed(self.dims))

    @property
    def n_elements(self):
        n = 1
        for d in self.dims:
            n *= d
        return n

    def __repr__(self):
        return f"TensorInfo({self.name!r}, dims={self.dims}, {TYPE_NAMES.get(self.type)}, off={self.offset})"


class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f"truncated file: {what} needs {n} bytes at offset {self.pos}, "
                            f"{len(self.buf) - self.pos} left")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, vtype, what):
        fmt = _SCALAR_FMT[vtype]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what):
        n = self.scalar(T_U64, what + " length")
        raw = self.take(n, what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise GGUFError(f"{what}: not UTF-8 ({e})")

    def value(self, vtype, what, depth=0):
        if vtype in _SCALAR_FMT:
            return self.scalar(vtype, what)
        if vtype == T_STRING:
            return self.string(what)
        if vtype == T_ARRAY:
            if depth > 8:
                raise GGUFError(f"{what}: arrays nested too deep")
            etype = self.scalar(T_U32, what + " element type")
            count = self.scalar(T_U64, what + " count")
            if etype not in _SCALAR_FMT and etype not in (T_STRING, T_ARRAY):
                raise GGUFError(f"{what}: unknown array element type {etype}")
            if etype in _SCALAR_FMT and etype != T_BOOL:
                size = struct.calcsize(_SCALAR_FMT[etype])
                raw = self.take(size * count, what)
                return np.frombuffer(raw, dtype=_SCALAR_FMT[etype]).tolist()
            if count > len(self.buf) - self.pos:        # every element takes >= 1 byte
                raise GGUFError(f"{what}: array count {count} exceeds the file")
            return [self.value(etype, f"{what}[{i}]", depth + 1) for i in range(count)]
        raise GGUFError(f"{what}: unknown value type {vtype}")


class GGUFReader:
    """Parses a whole GGUF file held in memory.

    .version, .alignment, .data_offset
    .metadata:  OrderedDict key -> python value (int, float, bool, str, list)
    .kv_types:  key -> value type id (arrays: (T_ARRAY, element type))
    .tensors:   OrderedDict name -> TensorInfo
    .tensor(name) -> float64 numpy array of shape reversed(dims), dequantized
    """

    def __init__(self, source):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.buf = memoryview(bytes(source))
        else:
            with open(source, "rb") as f:
                self.buf = memoryview(f.read())
        self._parse()

    def _parse(self):
        c = _Cursor(self.buf)
        if bytes(c.take(4, "magic")) != GGUF_MAGIC:
            raise GGUFError("bad magic (not a GGUF file)")
        self.version = c.scalar(T_U32, "version")
        if self.version not in (2, 3):
            raise GGUFError(f"unsupported GGUF version {self.version}")
        n_tensors = c.scalar(T_U64, "tensor count")
        n_kv = c.scalar(T_U64, "kv count")
        # Every kv takes >= 12 bytes and every tensor info >= 24: reject absurd counts early.
        if n_kv * 12 + n_tensors * 24 > len(self.buf):
            raise GGUFError(f"counts ({n_tensors} tensors, {n_kv} kvs) exceed the file size")
        self.metadata = OrderedDict()
        self.kv_types = {}
        for i in range(n_kv):
            key = c.string(f"kv[{i}] key")
            if key in self.metadata:
                raise GGUFError(f"duplicate metadata key {key!r}")
            vtype = c.scalar(T_U32, f"{key} type")
            pos = c.pos
            self.metadata[key] = c.value(vtype, key)
            if vtype == T_ARRAY:
                self.kv_types[key] = (T_ARRAY, struct.unpack_from("<I", self.buf, pos)[0])
            else:
                self.kv_types[key] = vtype
        self.alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.metadata:
            a = self.metadata["general.alignment"]
            if self.kv_types["general.alignment"] != T_U32 or a <= 0 or a & (a - 1):
                raise GGUFError(f"general.alignment must be a u32 power of two, got {a!r}")
            self.alignment = a
        self.tensors = OrderedDict()
        for i in range(n_tensors):
            name = c.string(f"tensor[{i}] name")
            if name in self.tensors:
                raise GGUFError(f"duplicate tensor {name!r}")
            n_dims = c.scalar(T_U32, f"{name} n_dims")
            if not 1 <= n_dims <= 4:
                raise GGUFError(f"{name}: n_dims {n_dims} not in 1..4")
            dims = [c.scalar(T_U64, f"{name} dims") for _ in range(n_dims)]
            type_id = c.scalar(T_U32, f"{name} type")
            if type_id not in BLOCK:
                raise GGUFError(f"{name}: unknown tensor type {type_id}")
            offset = c.scalar(T_U64, f"{name} offset")
            if offset % self.alignment:
                raise GGUFError(f"{name}: offset {offset} not aligned to {self.alignment}")
            self.tensors[name] = TensorInfo(name, dims, type_id, offset)
        self.data_offset = (c.pos + self.alignment - 1) // self.alignment * self.alignment
        for t in self.tensors.values():
            end = self.data_offset + t.offset + t.nbytes
            if end > len(self.buf):
                raise GGUFError(f"{t.name}: data [{t.offset}, +{t.nbytes}) runs past the end of the file")

    def raw(self, name):
        t = self.tensors[name]
        start = self.data_offset + t.offset
        return self.buf[start:start + t.nbytes]

    def tensor(self, name):
        """The tensor as float64, shape = GGUF dims reversed."""
        if name not in self.tensors:
            raise KeyError(f"no tensor {name!r}")
        t = self.tensors[name]
        return dequantize(t.type, self.raw(name), t.n_elements).reshape(t.shape)


# ---------------------------------------------------------------------------------------------
# Writer

class GGUFWriter:
    """Collects metadata and tensors, then writes a GGUF v3 file.

    w = GGUFWriter(alignment=32)
    w.add("general.architecture", "needle")               # type inferred: str -> STRING
    w.add("needle.embedding_length", 64, T_U32)           # explicit type
    w.add("tokenizer.ggml.scores", [0.0, -1.0], (T_ARRAY, T_F32))
    w.add_tensor("token_embd.weight", E, Q8_0)            # E: numpy shape (vocab, d)
    w.write("model.gguf")
    """

    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        assert alignment > 0 and alignment & (alignment - 1) == 0
        self.alignment = alignment
        self.kvs = OrderedDict()        # key -> (type, value)
        self.tensors = []               # (name, dims, type, bytes)
        if alignment != DEFAULT_ALIGNMENT:
            self.add("general.alignment", alignment, T_U32)

    def add(self, key, value, vtype=None):
        if vtype is None:
            if isinstance(value, bool):
                vtype = T_BOOL
            elif isinstance(value, int):
                vtype = T_U32 if value >= 0 else T_I32
            elif isinstance(value, float):
                vtype = T_F32
            elif isinstance(value, str):
                vtype = T_STRING
            else:
                raise TypeError(f"{key}: give the type of {type(value).__name__} values explicitly")
        self.kvs[key] = (vtype, value)

    def add_tensor(self, name, array, type_id):
        """array: numpy shape (..., ne1, ne0); stored with dims = shape reversed."""
        a = np.asarray(array)
        dims = list(reversed(a.shape))
        tensor_nbytes(type_id, dims)    # validates the block size
        self.tensors.append((name, dims, type_id, encode_tensor(type_id, a)))

    @staticmethod
    def _string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _value(self, vtype, value):
        if isinstance(vtype, tuple):    # (T_ARRAY, element type)
            _, etype = vtype
            out = struct.pack("<IQ", etype, len(value))
            return out + b"".join(self._value(etype, v) for v in value)
        if vtype in _SCALAR_FMT:
            return struct.pack(_SCALAR_FMT[vtype], value)
        if vtype == T_STRING:
            return self._string(value)
        raise GGUFError(f"cannot write value type {vtype}")

    def to_bytes(self):
        out = bytearray(GGUF_MAGIC)
        out += struct.pack("<IQQ", 3, len(self.tensors), len(self.kvs))
        for key, (vtype, value) in self.kvs.items():
            out += self._string(key)
            out += struct.pack("<I", T_ARRAY if isinstance(vtype, tuple) else vtype)
            out += self._value(vtype, value)
        offset = 0
        offsets = []
        for name, dims, type_id, data in self.tensors:
            offsets.append(offset)
            out += self._string(name)
            out += struct.pack("<I", len(dims))
            out += b"".join(struct.pack("<Q", d) for d in dims)
            out += struct.pack("<IQ", type_id, offset)
            offset += (len(data) + self.alignment - 1) // self.alignment * self.alignment
        out += bytes(-len(out) % self.alignment)
        for (name, dims, type_id, data), off in zip(self.tensors, offsets):
            out += data
            out += bytes(-len(data) % self.alignment)
        return bytes(out)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())
