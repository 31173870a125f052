"""spm_proto.py — a tiny protobuf wire-format codec (stdlib only) for editing SentencePiece
.model files in the agreement suite: variant models (normalizer flags, UNUSED and extra
USER_DEFINED pieces, no byte fallback, other model types) made from a trained one, so that
spm_encode/spm_decode can be the oracle for settings spm_train would not produce by itself.

A message is a list of [field_number, wire_type, value]: value is an int for varints,
bytes for LEN/I32/I64 fields. Field numbers are SentencePiece's sentencepiece_model.proto:
ModelProto {1 pieces, 2 trainer_spec, 3 normalizer_spec}; SentencePiece {1 piece, 2 score
(float), 3 type}; TrainerSpec {3 model_type, 35 byte_fallback}; NormalizerSpec {1 name,
2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces}.
Not here: anything the C++ reader does (this is test tooling only).
"""
import struct

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def _varint(b, pos):
    v, shift = 0, 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, pos


def _put_varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def parse(b):
    fields, pos = [], 0
    while pos < len(b):
        tag, pos = _varint(b, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            v, pos = _varint(b, pos)
        elif wire == 1:
            v, pos = b[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(b, pos)
            v, pos = b[pos:pos + n], pos + n
        elif wire == 5:
            v, pos = b[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire} not handled")
        fields.append([num, wire, v])
    return fields


def serialize(fields):
    out = bytearray()
    for num, wire, v in fields:
        out += _put_varint(num << 3 | wire)
        if wire == 0:
            out += _put_varint(v)
        elif wire == 2:
            out += _put_varint(len(v)) + v
        else:
            out += v
    return bytes(out)


def set_scalar(fields, num, value):
    """Replaces (or adds) varint field `num` of a parsed message."""
    fields[:] = [f for f in fields if f[0] != num]
    fields.append([num, 0, int(value)])


def set_bytes(fields, num, value):
    fields[:] = [f for f in fields if f[0] != num]
    fields.append([num, 2, value])


class Model:
    """A ModelProto held as parsed fields, with its pieces decoded."""

    def __init__(self, data):
        self.fields = parse(data)

    def pieces(self):
        """[(piece bytes, score, type)] in id order."""
        out = []
        for num, _, v in self.fields:
            if num != 1:
                continue
            piece, score, typ = b"", 0.0, NORMAL
            for n, _, x in parse(v):
                if n == 1:
                    piece = x
                elif n == 2:
                    score = struct.unpack("<f", x)[0]
                elif n == 3:
                    typ = x
            out.append((piece, score, typ))
        return out

    def set_pieces(self, pieces):
        rest = [f for f in self.fields if f[0] != 1]
        encoded = []
        for piece, score, typ in pieces:
            msg = [[1, 2, piece], [2, 5, struct.pack("<f", score)]]
            if typ != NORMAL:
                msg.append([3, 0, typ])
            encoded.append([1, 2, serialize(msg)])
        self.fields = encoded + rest

    def edit_sub(self, num, fn):
        """Applies fn to the parsed sub-message `num` (2 trainer_spec, 3 normalizer_spec)."""
        for f in self.fields:
            if f[0] == num:
                sub = parse(f[2])
                fn(sub)
                f[2] = serialize(sub)
                return
        sub = []
        fn(sub)
        self.fields.append([num, 2, serialize(sub)])

    def to_bytes(self):
        return serialize(self.fields)
