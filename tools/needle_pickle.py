"""needle_pickle.py — loads a Needle checkpoint pickle (`needle.pkl`) without running code
from it. Python + numpy; `ml_dtypes` is used for bfloat16 if it can be imported, otherwise
bfloat16 bit patterns are decoded with numpy (the two give identical float32 values).

A pickle is a program: every class or function it names is looked up (find_class) and may
be called. This unpickler answers every lookup itself, with its own stand-ins, and never
hands out a real class or function that could act on the machine:

  name in the pickle                                  stand-in
  numpy.core.multiarray._reconstruct (numpy 1.x),     _reconstruct: an empty array record;
    numpy._core.multiarray._reconstruct (numpy 2.x)     its BUILD state (version, shape,
  numpy.ndarray                                         dtype, fortran flag, raw bytes) fills it
  numpy.core.numeric._frombuffer, numpy._core...      _frombuffer (pickle protocol 5 arrays)
  numpy.dtype                                         a dtype record ('f4', '<' ...) checked
                                                        against a list of plain numeric types
  numpy.core.multiarray.scalar, numpy._core...        a Python int/float/bool
  ml_dtypes.bfloat16                                  a marker: arrays of it are decoded as
                                                        16-bit patterns -> float32
  _codecs.encode (protocol 2 bytes)                   str.encode('latin-1') only
  builtins dict/list/tuple/set/frozenset/bytes/...,   the builtin itself (pure containers)
    collections.OrderedDict
  flax.core.frozen_dict.FrozenDict                    dict
  jax._src.array._reconstruct_array                   the numpy array inside a pickled jax.Array
  anything else                                       an opaque class: creating an instance
                                                        (NEWOBJ, as dataclasses pickle) gives a
                                                        record of its fields; *calling* it
                                                        (REDUCE, what a malicious __reduce__
                                                        does, e.g. os.system) is refused

So a config stored as a dataclass still loads (as its field dict), and `os.system(...)` in a
pickle stops the load with CheckpointError naming it. Arrays come back as numpy arrays:
floating types as float32 (bfloat16 and float16 exactly, float64 rounded), integer and bool
types as they are. Object arrays are refused.
Not here: the meaning of the arrays (needle_flax.py maps them to tensor names).
"""

import _compat_pickle
import builtins
import io
import pickle
import re

import numpy as np

try:  # optional: the real bfloat16 type, when installed
    import ml_dtypes as _ml_dtypes
except ImportError:  # the numpy fallback below decodes the bit patterns
    _ml_dtypes = None


class CheckpointError(ValueError):
    """A checkpoint that cannot be read safely or completely (the message says why)."""


class _Bfloat16Marker:
    """What `ml_dtypes.bfloat16` resolves to inside the pickle."""

    def __repr__(self):
        return "ml_dtypes.bfloat16"


BFLOAT16 = _Bfloat16Marker()

# dtype strings numpy writes for plain numeric types: kind + item size.
_PLAIN_DTYPE = re.compile(r"^(f2|f4|f8|i1|i2|i4|i8|u1|u2|u4|u8|b1)$")


class _DtypeRecord:
    """numpy.dtype(spec, align, copy) + BUILD state (version, byte order, ...)."""

    def __init__(self, spec, align=False, copy=True):
        if spec is not BFLOAT16 and not (isinstance(spec, str) and _PLAIN_DTYPE.match(spec)):
            raise CheckpointError(f"the pickle holds an array of dtype {spec!r}: only float, "
                                  f"int, bool and ml_dtypes.bfloat16 arrays are read")
        self.spec = spec
        self.order = "<"

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise CheckpointError(f"malformed dtype state {state!r:.80}")
        self.order = state[1]
        if len(state) >= 4 and (state[3] is not None or state[2] is not None):
            raise CheckpointError("structured or sub-array dtypes are not read")

    def numpy_storage(self):
        """(numpy dtype of the stored items, is_bfloat16)."""
        order = "<" if self.order in ("|", "=") else self.order
        if self.spec is BFLOAT16:
            return np.dtype(order + "u2"), True
        return np.dtype(order + self.spec), False

    def __repr__(self):
        return f"dtype({self.spec!r})"


def _to_array(raw, dtype, shape, fortran):
    """bytes + dtype record + shape -> numpy array (floats as float32)."""
    if not isinstance(dtype, _DtypeRecord):
        raise CheckpointError(f"array with a dtype of type {type(dtype).__name__}")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise CheckpointError(f"array with a malformed shape {shape!r:.80}")
    if not isinstance(raw, (bytes, bytearray)):
        raise CheckpointError(f"array data of type {type(raw).__name__} (object arrays are not read)")
    storage, is_bf16 = dtype.numpy_storage()
    count = 1
    for d in shape:
        count *= d
    if len(raw) != count * storage.itemsize:
        raise CheckpointError(f"array of shape {shape} and dtype {dtype.spec!r} needs "
                              f"{count * storage.itemsize} bytes, the pickle holds {len(raw)}")
    flat = np.frombuffer(bytes(raw), dtype=storage, count=count)
    if is_bf16:
        if _ml_dtypes is not None:
            flat = flat.astype("<u2").view(_ml_dtypes.bfloat16).astype(np.float32)
        else:
            flat = (flat.astype(np.uint32) << 16).view(np.float32)
    elif storage.kind == "f":
        flat = flat.astype(np.float32)
    else:
        flat = flat.astype(storage.newbyteorder("="))
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="C")


class _ArrayRecord:
    """_reconstruct(ndarray, (0,), b'b') + BUILD state -> .array."""

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple):
            raise CheckpointError("malformed array state")
        if len(state) == 5:
            _, shape, dtype, fortran, raw = state
        elif len(state) == 4:
            shape, dtype, fortran, raw = state
        else:
            raise CheckpointError(f"array state with {len(state)} fields")
        self.array = _to_array(raw, dtype, shape, bool(fortran))


class _NdarrayMarker:
    def __repr__(self):
        return "numpy.ndarray"


NDARRAY = _NdarrayMarker()


def _reconstruct(cls, shape, typecode):
    if cls is not NDARRAY:
        raise CheckpointError(f"the pickle reconstructs an array of class {cls!r}: only numpy.ndarray is read")
    return _ArrayRecord()


def _frombuffer(buf, dtype, shape, order):
    if order not in ("C", "F"):
        raise CheckpointError(f"array order {order!r}")
    if isinstance(buf, memoryview):
        buf = buf.tobytes()
    return _to_array(buf, dtype, tuple(shape), order == "F")


def _jax_reconstruct_array(fun, args, arr_state, aval_state=None):
    """jax.Array pickles as _reconstruct_array(numpy reducer, its args, its state, aval):
    the numpy array is rebuilt (by our stand-ins) and never put on a device."""
    if fun is not _reconstruct:
        raise CheckpointError("jax._src.array._reconstruct_array with a reducer numpy never uses")
    rec = fun(*args)
    rec.__setstate__(arr_state)
    return rec


def _scalar(dtype, raw=None):
    if raw is None:
        raise CheckpointError("numpy object scalars are not read")
    a = _to_array(raw, dtype, (), False)
    return a.item()


def _codecs_encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("the pickle calls _codecs.encode in a way numpy never does")
    return text.encode("latin-1")


def _frozen_dict(d=None, *rest):
    return dict(d or {})


class OpaqueObject:
    """An instance of a class this loader does not know, made without running its code.
    .cls_name, .args (NEWOBJ arguments) and .state (the BUILD state, usually its __dict__)."""

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self.args = args
        self.state = None
        return self

    def __setstate__(self, state):
        self.state = state

    def fields(self):
        """The object's attributes as a dict, if the pickle stored them as one."""
        s = self.state
        if isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], dict):  # (dict, slots)
            s = dict(s[0] or {}, **s[1])
        return s if isinstance(s, dict) else None


class _OpaqueMeta(type):
    def __call__(cls, *args, **kwargs):
        raise CheckpointError(f"the pickle calls {cls.cls_name}(...): a checkpoint needs no such call, "
                              f"so it was refused and nothing from the pickle was executed")


def _opaque_class(module, name):
    return _OpaqueMeta(name, (OpaqueObject,), {"cls_name": f"{module}.{name}", "__module__": "needle_pickle"})


_NUMPY_CORE = ("numpy.core", "numpy._core")
_ALLOWED = {("numpy", "ndarray"): NDARRAY,
            ("numpy", "dtype"): _DtypeRecord,
            ("ml_dtypes", "bfloat16"): BFLOAT16,
            ("_codecs", "encode"): _codecs_encode,
            ("collections", "OrderedDict"): dict,
            ("flax.core.frozen_dict", "FrozenDict"): _frozen_dict,
            ("jax._src.array", "_reconstruct_array"): _jax_reconstruct_array}
for _core in _NUMPY_CORE:
    _ALLOWED[(_core + ".multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(_core + ".multiarray", "scalar")] = _scalar
    _ALLOWED[(_core + ".numeric", "_frombuffer")] = _frombuffer


def _no_size(fn):
    """bytes/bytearray as pickles use them (no args, a str + encoding, a list of ints); an
    int argument (a size: bytes(10**12)) is refused."""
    def make(*args):
        if args and isinstance(args[0], int):
            raise CheckpointError(f"the pickle calls {fn.__name__}(<size>), which no checkpoint does")
        return fn(*args)
    return make


for _name in ("dict", "list", "tuple", "set", "frozenset"):
    _ALLOWED[("builtins", _name)] = getattr(builtins, _name)
for _name in ("bytes", "bytearray"):
    _ALLOWED[("builtins", _name)] = _no_size(getattr(builtins, _name))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        # Python 2 names (protocol < 3 streams), mapped as pickle's fix_imports does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        key = (module, name)
        if key in _ALLOWED:
            return _ALLOWED[key]
        return _opaque_class(module, name)

    def persistent_load(self, pid):
        raise CheckpointError("the pickle refers to external (persistent) objects")


def _finish(obj, depth=0):
    """Replaces array records by arrays, recursively, in containers."""
    if depth > 200:
        raise CheckpointError("the pickle nests containers more than 200 deep")
    if isinstance(obj, _ArrayRecord):
        if obj.array is None:
            raise CheckpointError("an array without data")
        return obj.array
    if isinstance(obj, dict):
        return {k: _finish(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_finish(v, depth + 1) for v in obj)
    if isinstance(obj, OpaqueObject):
        if obj.state is not None:
            obj.state = _finish(obj.state, depth + 1)
        return obj
    return obj


def load_checkpoint(path):
    """Reads `path` -> the unpickled object, arrays as numpy arrays. Raises CheckpointError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})")
    try:
        obj = _Unpickler(io.BytesIO(data)).load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(f"{path}: the pickle nests too deep")
    except Exception as e:  # any malformed stream: pickle raises many types
        raise CheckpointError(f"{path}: not a readable pickle ({type(e).__name__}: {e})")
    return _finish(obj)
