"""needle_flax.py — turns Needle's Flax parameter tree and config (as needle_pickle.py loads
them) into our tensor names, shapes and hyper-parameters (/work/shared/spec/needle-v1.md,
"Checkpoint layout"; /work/shared/spec/model-format.md, "Tensor names").

Placement rules (case-insensitive, on the components of each leaf's path):
  - Where a leaf lives: the first component named `encoder`/`enc` or `decoder`/`dec`
    (optionally `_N`) picks the stack; components before it are ignored, so extra wrappers
    (`params/params/...`, a model name) do not matter. After the stack, components like
    `layers`, `EncoderBlock_0`, `DecoderBlock_0`, `block`, `layers_3` or `3` mark a block; the
    last one with a number gives its index.
  - Stacked layers (Flax nn.scan): every block leaf carries a leading layer axis; it is
    split into layers 0..L-1 (the path index must then be 0). Unrolled layers (one
    `..._i` per layer, no layer axis) are read too. Which one is decided per stack by the
    attention kernels' rank (3 = stacked, 2 = unrolled).
  - Inside a block, the path after the block component must be one of
      attn_gate | self_attn_gate | cross_attn_gate | ffn_gate         (gates, pre-sigmoid)
      ZCRMSNorm_k/scale: k-th unnamed norm; encoder [attn, ffn], decoder [attn, cross_attn, ffn]
      {self_attn|cross_attn}/{q_proj|k_proj|v_proj|out_proj}/kernel (+ aliases q, query, o_proj, ...)
      {self_attn|cross_attn}/{q_norm|k_norm}/scale
      FeedForward_0/{gate_proj|up_proj|down_proj}/kernel
  - At the top of a stack: final_norm/scale or ZCRMSNorm_0/scale -> {enc,dec}.output_norm.
  - Outside the stacks: .../embedding (an nn.Embed) -> token_embd; contrastive_hidden/{kernel,
    bias}, contrastive_proj/kernel, log_temp -> the retrieval head.
  - Dense kernels are stored [in, out] (y = x @ kernel) and are transposed to our [out][in].
Every leaf that matches no rule, every tensor the config needs that nothing provided, every
shape that does not fit and every disagreement between config and shapes is collected; the
caller refuses to write anything if the list is not empty.
Not here: reading the pickle (needle_pickle.py), writing GGUF (needlepoint_gguf.py).
"""

import math
import re

import numpy as np

from needle_pickle import OpaqueObject

FFN_ACTIVATIONS = ("drelu", "swiglu", "geglu")

# Config fields: our name -> the keys accepted for it (the first is the name in Needle's
# config class as the spec lists it).
CONFIG_ALIASES = {
    "vocab_size": ("vocab_size",),
    "d_model": ("d_model", "hidden_size", "embed_dim"),
    "num_heads": ("num_heads", "n_heads", "num_attention_heads"),
    "num_kv_heads": ("num_kv_heads", "n_kv_heads", "num_key_value_heads"),
    "num_encoder_layers": ("num_encoder_layers", "n_encoder_layers", "encoder_layers", "num_enc_layers"),
    "num_decoder_layers": ("num_decoder_layers", "n_decoder_layers", "decoder_layers", "num_dec_layers"),
    "rope_theta": ("rope_theta", "rope_base", "rotary_base"),
    "norm_eps": ("norm_eps", "rms_norm_eps", "layer_norm_eps", "eps"),
    "d_ff": ("d_ff", "ffn_dim", "intermediate_size"),
    "activation": ("activation", "ffn_activation", "hidden_act"),
    "no_feedforward": ("no_feedforward", "no_ffn"),
    "max_enc_len": ("max_enc_len", "max_encoder_len", "max_input_len", "max_seq_len", "max_len",
                    "max_source_len"),
    "max_dec_len": ("max_dec_len", "max_decoder_len", "max_gen_len", "max_output_len",
                    "max_target_len", "max_new_tokens"),
    "contrastive_dim": ("contrastive_dim", "retrieval_dim", "contrastive_embed_dim"),
    "pad_id": ("pad_id", "pad_token_id"),
    "eos_id": ("eos_id", "eos_token_id"),
    "bos_id": ("bos_id", "bos_token_id"),
    "unk_id": ("unk_id", "unk_token_id"),
    "tool_call_id": ("tool_call_id", "tool_call_token_id"),
    "tools_id": ("tools_id", "tools_token_id"),
}
# Needle v1's values (the config class's defaults) for fields the arrays cannot tell.
DEFAULTS = {"rope_theta": 10000.0, "norm_eps": 1e-6, "max_enc_len": 1024, "max_dec_len": 512,
            "activation": "drelu"}

_STACK = {"enc": re.compile(r"^(encoder|enc)(_\d+)?$"), "dec": re.compile(r"^(decoder|dec)(_\d+)?$")}
_BLOCK = re.compile(r"^(?:(?:encoderblock|decoderblock|block|blocks|layer|layers)(?:_(\d+))?|(\d+))$")
_SELF_ATTN = {"self_attn", "attn", "attention", "self_attention"}
_CROSS_ATTN = {"cross_attn", "cross_attention", "encoder_attn"}
_PROJ = {"q": ("q_proj", "q", "query", "wq"), "k": ("k_proj", "k", "key", "wk"),
         "v": ("v_proj", "v", "value", "wv"), "output": ("out_proj", "o_proj", "out", "output", "wo")}
_QK_NORM = {"q_norm": ("q_norm", "query_norm"), "k_norm": ("k_norm", "key_norm")}
_FFN_MOD = re.compile(r"^(feedforward(_\d+)?|feed_forward|ffn|mlp)$")
_FFN_PROJ = {"gate_proj": ("gate_proj", "gate"), "up_proj": ("up_proj", "up"), "down_proj": ("down_proj", "down")}
_UNNAMED_NORM = re.compile(r"^zcrmsnorm_(\d+)$")
_NAMED_NORM = {"attn": ("attn_norm", "self_attn_norm", "pre_attn_norm"),
               "cross_attn": ("cross_attn_norm", "pre_cross_attn_norm"),
               "ffn": ("ffn_norm", "mlp_norm", "pre_ffn_norm")}
_NORM_ORDER = {"enc": ("attn", "ffn"), "dec": ("attn", "cross_attn", "ffn")}
_FINAL_NORM = re.compile(r"^(final_norm|norm|output_norm|final_layer_norm|zcrmsnorm(_\d+)?)$")
_SCALE = ("scale", "weight")


class ConversionError(ValueError):
    """Problems that make the checkpoint impossible to convert completely (.problems)."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


def flatten(tree, path=(), out=None):
    """Nested dicts -> [(path tuple, leaf)]; list/tuple children get their index as a name."""
    if out is None:
        out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            flatten(v, path + (str(k),), out)
    elif isinstance(tree, (list, tuple)) and not all(isinstance(v, (int, float)) for v in tree):
        for i, v in enumerate(tree):
            flatten(v, path + (str(i),), out)
    else:
        out.append((path, tree))
    return out


def _classify(path):
    """Path -> (stack or None, block index or None, in_block, role) or None.
    role: our name with `{p}` for 'enc.blk.{i}' / 'dec.blk.{i}', and the kind in
    ('matrix', 'vector', 'scalar'); or a top-level name."""
    comps = [c.lower() for c in path]
    stack = pos = None
    for j, c in enumerate(comps):
        for s, rx in _STACK.items():
            if rx.match(c):
                stack, pos = s, j
                break
        if stack:
            break
    if stack is None:
        return _classify_top(comps)
    rest = comps[pos + 1:]
    block_idx, in_block, k = None, False, 0
    while k < len(rest) - 1 and _BLOCK.match(rest[k]):
        m = _BLOCK.match(rest[k])
        idx = m.group(1) or m.group(2)
        if idx is not None:
            block_idx = int(idx)
        in_block = True
        k += 1
    inner = rest[k:]
    if not in_block:
        if len(inner) == 2 and _FINAL_NORM.match(inner[0]) and inner[1] in _SCALE:
            return stack, None, False, (f"{stack}.output_norm.weight", "vector")
        return None
    role = _classify_block(stack, inner)
    if role is None:
        return None
    return stack, block_idx, True, role


def _classify_top(comps):
    if not comps:
        return None
    last = comps[-1]
    if last == "embedding":
        return None, None, False, ("token_embd.weight", "matrix_rows")
    if last == "log_temp":
        return None, None, False, ("contrastive.log_temp", "scalar")
    if len(comps) >= 2:
        mod = comps[-2]
        if mod in ("contrastive_hidden", "retrieval_hidden"):
            if last == "kernel":
                return None, None, False, ("contrastive.hidden.weight", "matrix")
            if last == "bias":
                return None, None, False, ("contrastive.hidden.bias", "vector")
        if mod in ("contrastive_proj", "retrieval_proj") and last == "kernel":
            return None, None, False, ("contrastive.proj.weight", "matrix")
    return None


def _classify_block(stack, inner):
    p = "{p}."
    if len(inner) == 1:
        g = inner[0]
        if g in ("attn_gate", "self_attn_gate"):
            return p + "attn_gate", "scalar"
        if stack == "dec" and g == "cross_attn_gate":
            return p + "cross_attn_gate", "scalar"
        if g in ("ffn_gate", "mlp_gate", "ff_gate"):
            return p + "ffn_gate", "scalar"
        return None
    if len(inner) == 2 and inner[1] in _SCALE:
        m = _UNNAMED_NORM.match(inner[0])
        order = _NORM_ORDER[stack]
        if m:
            k = int(m.group(1))
            return (p + f"{order[k]}_norm.weight", "vector") if k < len(order) else None
        for slot, names in _NAMED_NORM.items():
            if inner[0] in names and slot in order:
                return p + f"{slot}_norm.weight", "vector"
        return None
    if len(inner) == 3:
        mod, sub, leaf = inner
        if mod in _SELF_ATTN or (stack == "dec" and mod in _CROSS_ATTN):
            pre = "attn" if mod in _SELF_ATTN else "cross_attn"
            if leaf == "kernel":
                for ours, names in _PROJ.items():
                    if sub in names:
                        return p + f"{pre}_{ours}.weight", "matrix"
            if leaf in _SCALE:
                for ours, names in _QK_NORM.items():
                    if sub in names:
                        return p + f"{pre}_{ours}.weight", "vector"
            return None
        if _FFN_MOD.match(mod) and leaf == "kernel":
            for ours, names in _FFN_PROJ.items():
                if sub in names:
                    return p + f"ffn_{ours}.weight", "matrix"
    return None


class Placed:
    """The result of placing a tree: .tensors name -> float32 array in our layout,
    .source name -> Flax path (for messages), .layers {'enc': L, 'dec': L} (None if unknown),
    .problems list of str."""

    def __init__(self):
        self.tensors = {}
        self.source = {}
        self.layers = {"enc": None, "dec": None}
        self.problems = []


def _fmt(path):
    return "/".join(path)


def _as_float(value):
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return value.astype(np.float32) if value.dtype != np.float32 else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.asarray(value, dtype=np.float32)
    return None


def place(params):
    """Maps every leaf of the Flax tree to our tensors (see the module docstring)."""
    out = Placed()
    leaves = flatten(params)
    items = {"enc": [], "dec": []}
    for path, value in leaves:
        where = _fmt(path)
        if isinstance(value, OpaqueObject):
            out.problems.append(f"could not place {where}: an object of class {value.cls_name}, not an array")
            continue
        arr = _as_float(value)
        if arr is None:
            out.problems.append(f"could not place {where}: a {type(value).__name__}, not a numeric array")
            continue
        if not np.all(np.isfinite(arr)):
            out.problems.append(f"{where}: holds NaN or infinite values")
            continue
        c = _classify(path)
        if c is None:
            out.problems.append(f"could not place {where} {tuple(arr.shape)}: no tensor of the model matches this path")
            continue
        stack, idx, in_block, (name, kind) = c
        if in_block:
            items[stack].append((path, arr, idx, name, kind))
        else:
            _put(out, name, _layout(arr, kind), where)
    for stack in ("enc", "dec"):
        _place_blocks(out, stack, items[stack])
    return out


def _layout(arr, kind):
    """Our layout of one layer's array: kernels [in, out] -> [out][in]; scalars -> (1,)."""
    if kind == "matrix" and arr.ndim == 2:
        return np.ascontiguousarray(arr.T)
    if kind == "scalar" and arr.ndim == 0:
        return arr.reshape(1)
    return np.ascontiguousarray(arr)


def _put(out, name, arr, where):
    if name in out.tensors:
        out.problems.append(f"{where} and {out.source[name]} both map to {name}")
        return
    out.tensors[name] = arr
    out.source[name] = where


def _place_blocks(out, stack, items):
    if not items:
        return
    kernel_ranks = {a.ndim for _, a, _, _, kind in items if kind == "matrix"}
    if len(kernel_ranks) > 1:
        out.problems.append(f"{stack}: block kernels mix ranks {sorted(kernel_ranks)}: stacked and unrolled layers at once")
        return
    stacked = kernel_ranks == {3} or (not kernel_ranks and all(a.ndim >= 1 for _, a, _, _, _ in items))
    if stacked:
        depth = {}
        for path, arr, idx, name, kind in items:
            if arr.ndim == 0:
                out.problems.append(f"{_fmt(path)}: no leading layer axis (shape ()), expected stacked layers")
                continue
            depth.setdefault(arr.shape[0], []).append(_fmt(path))
        if len(depth) > 1:
            counts = ", ".join(f"{n} (e.g. {v[0]})" for n, v in sorted(depth.items()))
            out.problems.append(f"{stack}: stacked arrays disagree on the number of layers: {counts}")
            return
        n_layers = next(iter(depth)) if depth else 0
        out.layers[stack] = n_layers
        for path, arr, idx, name, kind in items:
            if arr.ndim == 0:
                continue
            if idx not in (None, 0):
                out.problems.append(f"could not place {_fmt(path)}: block index {idx} on stacked layers")
                continue
            for i in range(n_layers):
                _put(out, name.format(p=f"{stack}.blk.{i}"), _layout(arr[i], kind), f"{_fmt(path)}[{i}]")
    else:
        idxs = set()
        for path, arr, idx, name, kind in items:
            if idx is None:
                out.problems.append(f"could not place {_fmt(path)}: unrolled layers need a layer index in the path")
                continue
            if kind == "scalar" and arr.shape == (1,):
                arr = arr.reshape(())
            idxs.add(idx)
            _put(out, name.format(p=f"{stack}.blk.{idx}"), _layout(arr, kind), _fmt(path))
        out.layers[stack] = max(idxs) + 1 if idxs else None


# ---------------------------------------------------------------------------------------------
# Configuration

class Config:
    """Hyper-parameters of the converted model, as ints/floats/str (our names)."""

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items())) + ")"


def config_dict(config):
    """The checkpoint's config (a dict, or a dataclass the pickle stored as fields)."""
    if config is None:
        return {}
    if isinstance(config, OpaqueObject):
        fields = config.fields()
        if fields is None:
            raise ConversionError([f"config: an object of class {config.cls_name} without readable fields"])
        return dict(fields)
    if isinstance(config, dict):
        return dict(config)
    raise ConversionError([f"config: a {type(config).__name__}, expected a dict of fields"])


def _pick(cfg, field, used):
    for key in CONFIG_ALIASES[field]:
        if key in cfg:
            used.add(key)
            return cfg[key]
    return None


def _int(value, field, problems):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or float(value) != int(value):
        problems.append(f"config {field} = {value!r} is not an integer")
        return None
    return int(value)


def _float(value, field, problems):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        problems.append(f"config {field} = {value!r} is not a number")
        return None
    return float(value)


def resolve_config(cfg_in, placed, tok):
    """Config from the checkpoint's config dict, checked against the array shapes and the
    tokenizer (`tok`: vocab size, special ids and tool-token ids from the .model).
    Returns (Config, notes, problems)."""
    problems, notes, used = [], [], set()
    t = placed.tensors
    c = Config()

    def agree(field, from_cfg, from_arrays, what):
        if from_cfg is not None and from_arrays is not None and from_cfg != from_arrays:
            problems.append(f"config {field} = {from_cfg} but {what} says {from_arrays}")
        return from_cfg if from_cfg is not None else from_arrays

    emb = t.get("token_embd.weight")
    vocab_a = d_a = None
    if emb is not None:
        if emb.ndim != 2:
            problems.append(f"{placed.source['token_embd.weight']}: shape {emb.shape}, expected (vocab, d_model)")
        else:
            vocab_a, d_a = emb.shape
    c.vocab_size = agree("vocab_size", _int(_pick(cfg_in, "vocab_size", used), "vocab_size", problems),
                         vocab_a, "the embedding (rows)")
    c.vocab_size = agree("vocab_size", c.vocab_size, tok["vocab_size"], "the tokenizer (pieces)")
    c.d_model = agree("d_model", _int(_pick(cfg_in, "d_model", used), "d_model", problems),
                      d_a, "the embedding (columns)")
    hs = _first_len(t, ["enc.blk.0.attn_q_norm.weight", "dec.blk.0.attn_q_norm.weight"])
    heads_a = c.d_model // hs if (hs and c.d_model and c.d_model % hs == 0) else None
    c.num_heads = agree("num_heads", _int(_pick(cfg_in, "num_heads", used), "num_heads", problems),
                        heads_a, f"q_norm/scale ({hs} values = head_dim)")
    kv_rows = _first_rows(t, ["enc.blk.0.attn_k.weight", "dec.blk.0.attn_k.weight"])
    kv_a = kv_rows // hs if (kv_rows and hs and kv_rows % hs == 0) else None
    c.num_kv_heads = agree("num_kv_heads", _int(_pick(cfg_in, "num_kv_heads", used), "num_kv_heads", problems),
                           kv_a, "k_proj/kernel (outputs / head_dim)")
    c.n_enc = agree("num_encoder_layers", _int(_pick(cfg_in, "num_encoder_layers", used), "num_encoder_layers",
                                               problems), placed.layers["enc"], "the encoder layer axis")
    c.n_dec = agree("num_decoder_layers", _int(_pick(cfg_in, "num_decoder_layers", used), "num_decoder_layers",
                                               problems), placed.layers["dec"], "the decoder layer axis")
    for field in ("vocab_size", "d_model", "num_heads", "num_kv_heads"):
        if getattr(c, field) is None:
            problems.append(f"{field}: neither the config nor the arrays give it")
    if c.n_enc is None or c.n_dec is None:
        problems.append("layer counts: neither the config nor the arrays give them")

    c.rope_theta = _float(_pick(cfg_in, "rope_theta", used), "rope_theta", problems)
    c.norm_eps = _float(_pick(cfg_in, "norm_eps", used), "norm_eps", problems)
    c.max_enc_len = _int(_pick(cfg_in, "max_enc_len", used), "max_enc_len", problems)
    c.max_dec_len = _int(_pick(cfg_in, "max_dec_len", used), "max_dec_len", problems)
    for field in ("rope_theta", "norm_eps", "max_enc_len", "max_dec_len"):
        if getattr(c, field) is None:
            setattr(c, field, DEFAULTS[field])
            notes.append(f"config has no {field}: using Needle v1's {DEFAULTS[field]}")

    # Feed-forward block: present unless the config says no_feedforward (or d_ff = 0); with
    # neither key, the arrays decide.
    no_ffn = _pick(cfg_in, "no_feedforward", used)
    d_ff_cfg = _int(_pick(cfg_in, "d_ff", used), "d_ff", problems)
    d_ff_a = _first_rows(t, ["enc.blk.0.ffn_gate_proj.weight", "dec.blk.0.ffn_gate_proj.weight"])
    act = _pick(cfg_in, "activation", used)
    if no_ffn is not None and not isinstance(no_ffn, (bool, int, np.bool_)):
        problems.append(f"config no_feedforward = {no_ffn!r} is not a bool")
        no_ffn = None
    if no_ffn is not None:
        has_ffn = not bool(no_ffn) and (d_ff_cfg is None or d_ff_cfg > 0)
    elif d_ff_cfg is not None:
        has_ffn = d_ff_cfg > 0
    else:
        has_ffn = d_ff_a is not None
    if has_ffn:
        c.d_ff = agree("d_ff", d_ff_cfg, d_ff_a, "gate_proj/kernel (outputs)")
        if c.d_ff is None:
            problems.append("the config declares a feed-forward block but neither d_ff nor its weights exist")
        act = DEFAULTS["activation"] if act is None else act
        if not isinstance(act, str) or act.lower() not in FFN_ACTIVATIONS:
            problems.append(f"config activation = {act!r}: the engine knows {', '.join(FFN_ACTIVATIONS)}")
            act = "drelu"
        c.activation = act.lower()
    else:
        c.d_ff, c.activation = 0, None

    # Retrieval head: required when the config gives its size, or when any part of it exists.
    cdim_cfg = _int(_pick(cfg_in, "contrastive_dim", used), "contrastive_dim", problems)
    cdim_a = _first_rows(t, ["contrastive.proj.weight"])
    any_head = any(n.startswith("contrastive.") for n in t)
    if cdim_cfg == 0 and any_head:
        problems.append("config contrastive_dim = 0 but the checkpoint has retrieval-head weights")
    c.contrastive_dim = agree("contrastive_dim", cdim_cfg, cdim_a, "contrastive_proj/kernel (outputs)") or 0
    if any_head and not c.contrastive_dim:
        problems.append("retrieval head: contrastive_proj/kernel is missing, so its size is unknown")
    if not any_head and not cdim_cfg:
        notes.append("the checkpoint has no retrieval head (contrastive_*): none is written")

    # Special ids: the tokenizer's, checked against the config's.
    for field in ("pad_id", "eos_id", "bos_id", "unk_id", "tool_call_id", "tools_id"):
        val = agree(field, _int(_pick(cfg_in, field, used), field, problems), tok[field], "the tokenizer")
        setattr(c, field, val)
    for field, what in (("tool_call_id", "<tool_call>"), ("tools_id", "<tools>"), ("eos_id", "the EOS piece")):
        if getattr(c, field) is None or getattr(c, field) < 0:
            problems.append(f"the tokenizer has no {what} token")

    ignored = sorted(k for k in cfg_in if k not in used)
    if ignored:
        notes.append("config keys not used: " + ", ".join(map(str, ignored)))
    if not problems:
        problems += _check_consistency(c)
    return c, notes, problems


def _first_len(t, names):
    for n in names:
        if n in t and t[n].ndim == 1:
            return t[n].shape[0]
    return None


def _first_rows(t, names):
    for n in names:
        if n in t and t[n].ndim == 2:
            return t[n].shape[0]
    return None


def _check_consistency(c):
    p = []
    if c.d_model % c.num_heads:
        p.append(f"d_model {c.d_model} is not divisible by num_heads {c.num_heads}")
    elif (c.d_model // c.num_heads) % 2:
        p.append(f"head_dim {c.d_model // c.num_heads} is odd: RoPE needs pairs")
    if c.num_heads % c.num_kv_heads:
        p.append(f"num_heads {c.num_heads} is not divisible by num_kv_heads {c.num_kv_heads}")
    if c.contrastive_dim and c.d_model % 4:
        p.append(f"d_model {c.d_model} is not divisible by 4, as the retrieval head needs")
    if c.max_enc_len < 4 or c.max_dec_len < 2:
        p.append(f"max lengths {c.max_enc_len}/{c.max_dec_len} are too small")
    return p


def expected_tensors(c):
    """Our name -> (numpy shape, kind) for every tensor the model needs, in file order.
    kind: 'matrix' (projection/embedding), 'vector' (norm, bias), 'scalar' (gate, log_temp)."""
    d, hs = c.d_model, c.d_model // c.num_heads
    kv = c.num_kv_heads * hs
    out = {"token_embd.weight": ((c.vocab_size, d), "matrix")}

    def attn(p):
        out.update({f"{p}_norm.weight": ((d,), "vector"), f"{p}_q.weight": ((d, d), "matrix"),
                    f"{p}_k.weight": ((kv, d), "matrix"), f"{p}_v.weight": ((kv, d), "matrix"),
                    f"{p}_output.weight": ((d, d), "matrix"), f"{p}_q_norm.weight": ((hs,), "vector"),
                    f"{p}_k_norm.weight": ((hs,), "vector"), f"{p}_gate": ((1,), "scalar")})

    def ffn(p):
        if c.d_ff:
            out.update({f"{p}.ffn_norm.weight": ((d,), "vector"), f"{p}.ffn_gate": ((1,), "scalar"),
                        f"{p}.ffn_gate_proj.weight": ((c.d_ff, d), "matrix"),
                        f"{p}.ffn_up_proj.weight": ((c.d_ff, d), "matrix"),
                        f"{p}.ffn_down_proj.weight": ((d, c.d_ff), "matrix")})

    for i in range(c.n_enc):
        attn(f"enc.blk.{i}.attn")
        ffn(f"enc.blk.{i}")
    out["enc.output_norm.weight"] = ((d,), "vector")
    for i in range(c.n_dec):
        attn(f"dec.blk.{i}.attn")
        attn(f"dec.blk.{i}.cross_attn")
        ffn(f"dec.blk.{i}")
    out["dec.output_norm.weight"] = ((d,), "vector")
    if c.contrastive_dim:
        out.update({"contrastive.hidden.weight": ((d // 4, d), "matrix"),
                    "contrastive.hidden.bias": ((d // 4,), "vector"),
                    "contrastive.proj.weight": ((c.contrastive_dim, d // 4), "matrix"),
                    "contrastive.log_temp": ((1,), "scalar")})
    return out


# The Flax path each of our names comes from in the published layout (for messages).
def flax_path_hint(name):
    m = re.match(r"^(enc|dec)\.blk\.(\d+)\.(.*)$", name)
    if not m:
        return {"token_embd.weight": "embedding/embedding", "enc.output_norm.weight": "encoder/final_norm/scale",
                "dec.output_norm.weight": "decoder/ZCRMSNorm_0/scale",
                "contrastive.hidden.weight": "contrastive_hidden/kernel",
                "contrastive.hidden.bias": "contrastive_hidden/bias",
                "contrastive.proj.weight": "contrastive_proj/kernel", "contrastive.log_temp": "log_temp"}.get(name, "?")
    stack, i, rest = m.groups()
    base = "encoder/layers/EncoderBlock_0" if stack == "enc" else "decoder/layers/DecoderBlock_0"
    norms = _NORM_ORDER[stack]
    table = {"attn_gate": "attn_gate" if stack == "enc" else "self_attn_gate",
             "cross_attn_gate": "cross_attn_gate", "ffn_gate": "ffn_gate",
             "attn_norm.weight": f"ZCRMSNorm_{norms.index('attn')}/scale",
             "cross_attn_norm.weight": f"ZCRMSNorm_{norms.index('cross_attn')}/scale" if stack == "dec" else "?",
             "ffn_norm.weight": f"ZCRMSNorm_{norms.index('ffn')}/scale"}
    for pre, mod in (("attn", "self_attn"), ("cross_attn", "cross_attn")):
        for ours, flax in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("output", "out_proj")):
            table[f"{pre}_{ours}.weight"] = f"{mod}/{flax}/kernel"
        for ours in ("q_norm", "k_norm"):
            table[f"{pre}_{ours}.weight"] = f"{mod}/{ours}/scale"
    for ours in ("gate_proj", "up_proj", "down_proj"):
        table[f"ffn_{ours}.weight"] = f"FeedForward_0/{ours}/kernel"
    return f"{base}/{table.get(rest, '?')} [layer {i}]"


def check_complete(c, placed):
    """Problems: tensors the config needs that are missing, tensors it does not use, shapes."""
    problems = []
    want = expected_tensors(c)
    for name, (shape, kind) in want.items():
        if name not in placed.tensors:
            problems.append(f"missing {name} (from {flax_path_hint(name)})")
            continue
        got = placed.tensors[name].shape
        if got != shape:
            flax_shape = tuple(reversed(shape)) if kind == "matrix" and name != "token_embd.weight" else shape
            problems.append(f"{placed.source[name]}: shape {_flax_shape(got, kind, name)}, expected "
                            f"{flax_shape} for {name}")
    for name in placed.tensors:
        if name not in want:
            why = ""
            if ".ffn_" in name and not c.d_ff:
                why = " (the config has no feed-forward block)"
            elif name.startswith(("enc.blk.", "dec.blk.")):
                why = f" (the config has {c.n_enc} encoder and {c.n_dec} decoder layers)"
            problems.append(f"could not place {placed.source[name]}: {name} is not part of this model{why}")
    return problems


def _flax_shape(got, kind, name):
    return tuple(reversed(got)) if kind == "matrix" and name != "token_embd.weight" and len(got) == 2 else got
