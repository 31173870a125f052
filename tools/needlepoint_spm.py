"""needlepoint_spm.py — reads a SentencePiece `.model` (a serialized ModelProto) and turns it
into the GGUF tokenizer keys of /work/shared/spec/model-format.md (Python standard library
only).

It accepts exactly what the engine's tokenizer (core/src/tokenizer/, docs/tokenizer.md) can
run, and refuses the rest with a message, so a converted model never tokenizes differently
from SentencePiece: model_type must be BPE, the normalizer must be the identity rule (no
precompiled_charsmap, in the normalizer or the denormalizer), whitespace must be escaped as a
prefix U+2581, there must be one UNKNOWN piece, and byte fallback needs all 256 `<0xXX>`
pieces. Special ids follow SentencePieceProcessor::bos_id() and its siblings: the id of the
piece named by the TrainerSpec when that piece is CONTROL, else absent.
Not here: encoding text (the engine does; tests compare it with spm_encode).

Field numbers (sentencepiece_model.proto, proto2, on disk):
  ModelProto     1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec,
                 5 denormalizer_spec
  SentencePiece  1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
  TrainerSpec    3 model_type (default UNIGRAM), 24 treat_whitespace_as_suffix,
                 35 byte_fallback, 44 unk_surface, 45..48 unk/bos/eos/pad piece names
  NormalizerSpec 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (default true),
                 4 remove_extra_whitespaces (default true), 5 escape_whitespaces (default true)
"""

import re
import struct

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
MODEL_TYPES = {1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}
DEFAULT_UNK_SURFACE = " \u2047 "
_BYTE_PIECE = re.compile(r"^<0x([0-9A-F]{2})>$")


class TokenizerError(ValueError):
    """A .model file that is malformed or that the engine cannot run as SentencePiece does."""


def _fields(buf, what):
    """Wire-format fields of one message: list of (number, wire type, value); value is an
    int (varint), bytes (LEN), or 4/8 raw bytes (I32/I64). Malformed input raises."""
    out, pos, n = [], 0, len(buf)

    def varint():
        nonlocal pos
        v = shift = 0
        while True:
            if pos >= n:
                raise TokenizerError(f"{what}: truncated varint at byte {pos}")
            c = buf[pos]
            pos += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v & ((1 << 64) - 1)
            if shift >= 70:
                raise TokenizerError(f"{what}: varint longer than 10 bytes at byte {pos}")

    while pos < n:
        tag = varint()
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            out.append((num, wire, varint()))
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > n:
                raise TokenizerError(f"{what}: truncated fixed field {num} at byte {pos}")
            out.append((num, wire, bytes(buf[pos:pos + size])))
            pos += size
        elif wire == 2:
            size = varint()
            if pos + size > n:
                raise TokenizerError(f"{what}: field {num} claims {size} bytes, {n - pos} left")
            out.append((num, wire, bytes(buf[pos:pos + size])))
            pos += size
        else:
            raise TokenizerError(f"{what}: unsupported wire type {wire} (field {num}) at byte {pos}")
    return out


def _int32(v):
    """Low 32 bits of a varint as a signed int (proto int32/enum)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _want(field, wire, what):
    if field[1] != wire:
        raise TokenizerError(f"{what}: unexpected wire type {field[1]}")
    return field[2]


class SpmModel:
    """The parts of a ModelProto that decide encoding. Attributes: pieces, scores, types
    (lists, index = id), model_type, byte_fallback, treat_whitespace_as_suffix, unk_surface,
    piece names (unk_piece, bos_piece, eos_piece, pad_piece), normalizer name,
    charsmap sizes, add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces."""

    def __init__(self, data):
        self.pieces, self.scores, self.types = [], [], []
        self.model_type = 1
        self.byte_fallback = False
        self.treat_whitespace_as_suffix = False
        self.unk_surface = DEFAULT_UNK_SURFACE
        self.unk_piece, self.bos_piece, self.eos_piece, self.pad_piece = "<unk>", "<s>", "</s>", "<pad>"
        self.normalizer_name = ""
        self.charsmap_bytes = 0
        self.denormalizer_charsmap_bytes = 0
        self.add_dummy_prefix = True
        self.remove_extra_whitespaces = True
        self.escape_whitespaces = True
        for f in _fields(data, "ModelProto"):
            if f[0] == 1:
                self._piece(_want(f, 2, "ModelProto.pieces"))
            elif f[0] == 2:
                self._trainer(_want(f, 2, "ModelProto.trainer_spec"))
            elif f[0] == 3:
                self._normalizer(_want(f, 2, "ModelProto.normalizer_spec"), False)
            elif f[0] == 5:
                self._normalizer(_want(f, 2, "ModelProto.denormalizer_spec"), True)

    def _piece(self, buf):
        piece, score, ptype = None, 0.0, NORMAL
        for f in _fields(buf, "SentencePiece"):
            if f[0] == 1:
                piece = _text(_want(f, 2, "SentencePiece.piece"), "SentencePiece.piece")
            elif f[0] == 2:
                score = struct.unpack("<f", _want(f, 5, "SentencePiece.score"))[0]
            elif f[0] == 3:
                ptype = _int32(_want(f, 0, "SentencePiece.type"))
        self.pieces.append(piece if piece is not None else "")
        self.scores.append(score)
        self.types.append(ptype)

    def _trainer(self, buf):
        for f in _fields(buf, "TrainerSpec"):
            num = f[0]
            if num == 3:
                self.model_type = _int32(_want(f, 0, "TrainerSpec.model_type"))
            elif num == 24:
                self.treat_whitespace_as_suffix = bool(_want(f, 0, "TrainerSpec.treat_whitespace_as_suffix"))
            elif num == 35:
                self.byte_fallback = bool(_want(f, 0, "TrainerSpec.byte_fallback"))
            elif num == 44:
                self.unk_surface = _text(_want(f, 2, "TrainerSpec.unk_surface"), "unk_surface")
            elif 45 <= num <= 48:
                name = ("unk_piece", "bos_piece", "eos_piece", "pad_piece")[num - 45]
                setattr(self, name, _text(_want(f, 2, "TrainerSpec." + name), name))

    def _normalizer(self, buf, denormalizer):
        what = "denormalizer_spec" if denormalizer else "normalizer_spec"
        for f in _fields(buf, what):
            num = f[0]
            if denormalizer:
                if num == 2:
                    self.denormalizer_charsmap_bytes = len(_want(f, 2, what + ".precompiled_charsmap"))
                continue
            if num == 1:
                self.normalizer_name = _text(_want(f, 2, what + ".name"), "name")
            elif num == 2:
                self.charsmap_bytes = len(_want(f, 2, what + ".precompiled_charsmap"))
            elif num == 3:
                self.add_dummy_prefix = bool(_want(f, 0, what + ".add_dummy_prefix"))
            elif num == 4:
                self.remove_extra_whitespaces = bool(_want(f, 0, what + ".remove_extra_whitespaces"))
            elif num == 5:
                self.escape_whitespaces = bool(_want(f, 0, what + ".escape_whitespaces"))

    def special_id(self, name, want_type):
        """Id of the piece `name` if its type is `want_type`, else -1."""
        for i, (p, t) in enumerate(zip(self.pieces, self.types)):
            if p == name and t == want_type:
                return i
        return -1

    def user_defined_id(self, name):
        return self.special_id(name, USER_DEFINED)


def _text(b, what):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TokenizerError(f"{what}: not UTF-8 ({e})")


def load_spm(path):
    """Reads and validates a .model file. Returns (SpmModel, notes: list of str)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read ({e.strerror})")
    m = SpmModel(data)
    notes = []
    if m.model_type != 2:
        raise TokenizerError(f"model_type {MODEL_TYPES.get(m.model_type, m.model_type)}: only BPE is supported")
    if m.charsmap_bytes:
        raise TokenizerError(f"normalizer '{m.normalizer_name}' has a precompiled_charsmap "
                             f"({m.charsmap_bytes} bytes): only the identity rule is supported")
    if m.denormalizer_charsmap_bytes:
        raise TokenizerError("a denormalizer with a precompiled_charsmap is not supported")
    if m.treat_whitespace_as_suffix:
        raise TokenizerError("treat_whitespace_as_suffix is not supported")
    if not m.escape_whitespaces:
        raise TokenizerError("escape_whitespaces = false is not supported")
    if not m.pieces:
        raise TokenizerError("the model has no pieces")
    seen = ({}, {})
    n_unk = 0
    byte_values = set()
    for i, (p, s, t) in enumerate(zip(m.pieces, m.scores, m.types)):
        if not p:
            raise TokenizerError(f"piece {i} is empty")
        if not 1 <= t <= 6:
            raise TokenizerError(f"piece {i} ({p!r}) has unknown type {t}")
        if s != s:
            raise TokenizerError(f"piece {i} ({p!r}) has a NaN score")
        group = seen[0] if t in (NORMAL, USER_DEFINED, UNUSED) else seen[1]
        if p in group:
            raise TokenizerError(f"piece {i} ({p!r}) repeats piece {group[p]}")
        group[p] = i
        if t == UNKNOWN:
            n_unk += 1
        if t == BYTE:
            if not m.byte_fallback:
                raise TokenizerError(f"piece {i} ({p!r}) is a BYTE piece but byte_fallback is off")
            g = _BYTE_PIECE.match(p)
            if not g:
                raise TokenizerError(f"piece {i} ({p!r}) is a BYTE piece not of the form <0xXX>")
            byte_values.add(int(g.group(1), 16))
    if n_unk != 1:
        raise TokenizerError(f"the model has {n_unk} UNKNOWN pieces, expected exactly 1")
    if m.byte_fallback and len(byte_values) != 256:
        raise TokenizerError(f"byte_fallback is on but only {len(byte_values)} of 256 byte pieces exist")
    if m.unk_surface != DEFAULT_UNK_SURFACE:
        notes.append(f"unk_surface {m.unk_surface!r} is not stored in GGUF; the default ' \u2047 ' is used")
    return m, notes


def tokenizer_keys(m):
    """The tokenizer.ggml.* metadata as (key, kind, value) with kind one of
    'string', 'strings', 'f32s', 'i32s', 'u32', 'bool'. A special id of -1 is left out."""
    keys = [("tokenizer.ggml.model", "string", "llama"),
            ("tokenizer.ggml.tokens", "strings", list(m.pieces)),
            ("tokenizer.ggml.scores", "f32s", list(m.scores)),
            ("tokenizer.ggml.token_type", "i32s", list(m.types))]
    unk = m.types.index(UNKNOWN)
    for key, value in (("padding_token_id", m.special_id(m.pad_piece, CONTROL)),
                       ("eos_token_id", m.special_id(m.eos_piece, CONTROL)),
                       ("bos_token_id", m.special_id(m.bos_piece, CONTROL)),
                       ("unknown_token_id", unk)):
        if value >= 0:
            keys.append(("tokenizer.ggml." + key, "u32", value))
    keys += [("tokenizer.ggml.add_space_prefix", "bool", m.add_dummy_prefix),
             ("tokenizer.ggml.remove_extra_whitespaces", "bool", m.remove_extra_whitespaces),
             ("tokenizer.ggml.byte_fallback", "bool", m.byte_fallback)]
    return keys
