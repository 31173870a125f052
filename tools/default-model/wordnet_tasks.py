#!/usr/bin/env python3
"""wordnet_tasks.py: "reverse dictionary" tool-selection examples from WordNet, in Needle format.

Each example describes a WordNet concept (noun or verb synset) in words: the synset's gloss,
lightly rephrased as a user request. It offers 2 to 8 tools whose names come from synset lemmas
(mixed naming styles: snake_case, camelCase, verb prefixes such as find_/open_/use_), with short
descriptions that never repeat the gloss's words (the hypernym's lemma, or nothing). One tool is
the described synset, the distractors are preferably its siblings (same hypernym), so picking the
right tool needs the meaning of the tool name. About 10% of the examples offer no fitting tool and
their answer is []. When the synset has a quoted example sentence, some examples quote it in the
query and give every tool one required string parameter whose value (the sentence) is copied
verbatim from the query; otherwise the tools take no parameters.

The output lines have the keys of build/default-model/train.jsonl (id, query, tools, answers, meta).
Needs the WordNet database: apt-get install -y --no-install-recommends wordnet-base

  python3 tools/default-model/wordnet_tasks.py --out /tmp/wn/wordnet.jsonl --count 60000 --seed 1
"""
import argparse
import json
import random
import re
import sys
from collections import defaultdict

WN = "/usr/share/wordnet"
STOP = set("""a an the of to in on at for by with from and or but as is are be been being that this
these those it its into onto than then so such not no any some one ones who whom which what when where
how all each other more most very can may used use something someone person thing things make made
having have has do does done""".split())


def words(s):
    return set(w for w in re.findall(r"[a-z]+", s.lower()) if w not in STOP and len(w) > 2)


def stem(w):
    for suf in ("ing", "ed", "es", "s"):
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            return w[: -len(suf)]
    return w


def stems(s):
    return set(stem(w) for w in words(s))


def read_synsets(pos_file, pos):
    syn = {}
    with open(f"{WN}/data.{pos_file}", encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition(" | ")
            t = head.split()
            off, ss_type = t[0], t[2]
            n = int(t[3], 16)
            lemmas = [t[4 + 2 * i] for i in range(n)]
            k = 4 + 2 * n
            p_cnt = int(t[k])
            hyper = []
            for j in range(p_cnt):
                sym, tgt, tpos = t[k + 1 + 4 * j], t[k + 2 + 4 * j], t[k + 3 + 4 * j]
                if sym in ("@", "@i") and tpos == pos:
                    hyper.append(tgt)
            gloss = gloss.strip()
            parts = [p.strip() for p in gloss.split(";")]
            definition = parts[0]
            examples = [p.strip('"').strip() for p in parts[1:] if p.startswith('"') and p.endswith('"')]
            syn[off] = dict(off=off, pos=pos, lemmas=lemmas, hyper=hyper, gloss=definition, examples=examples)
    return syn


def clean_lemma(l):
    l = re.sub(r"\([a-z]+\)$", "", l)
    return l


def ok_lemma(l):
    return re.fullmatch(r"[a-z][a-z0-9_\-]*[a-z0-9]", l) is not None and len(l) <= 28


NOUN_PREFIX = ["find_", "open_", "use_", "get_", "show_", "lookup_", "search_", "add_", "check_", "view_"]
VERB_PREFIX = ["", "", "do_", "start_", "run_", "go_", "try_"]


def style_name(lemma, pos, style, prefix):
    parts = [p for p in re.split(r"[_\-]", lemma) if p]
    if prefix:
        parts = [p for p in prefix.split("_") if p] + parts
    if style == "snake":
        return "_".join(parts)
    if style == "camel":
        return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    if style == "kebab":
        return "-".join(parts)
    if style == "pascal":
        return "".join(p[:1].upper() + p[1:] for p in parts)
    return "_".join(parts)


NOUN_TEMPLATES = [
    "{g}",
    "I need something that is: {g}",
    "I'm looking for {g}",
    "find me {g}",
    "what's the word for {g}?",
    "show {g}",
    "Looking for {g}, please",
    "I need the kind of {h} that is {g}",
    "help with {g}",
    "something like {g}",
]
VERB_TEMPLATES = [
    "{g}",
    "I want to {g}",
    "I need to {g}",
    "help me {g}",
    "please {g}",
    "how do I {g}?",
    "can you {g}",
    "time to {g}",
]
EX_SUFFIX = [
    ', e.g. "{e}"',
    ': "{e}"',
    ". Example: {e}",
    " -- for instance: {e}",
    ' like in "{e}"',
]
PARAM_NAMES = [("text", "Text to use."), ("example", "An example."), ("sentence", "Sentence."),
               ("phrase", "The phrase."), ("input", "Input text."), ("query", "What to look up."),
               ("context", "Where it appears.")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--none", type=float, default=0.1)
    ap.add_argument("--samples", type=int, default=6)
    a = ap.parse_args()
    rng = random.Random(a.seed)

    syn = {}
    for pf, pos in (("noun", "n"), ("verb", "v")):
        for off, s in read_synsets(pf, pos).items():
            syn[pos + off] = s
    for key, s in syn.items():
        s["key"] = key
        s["hyper"] = [s["pos"] + h for h in s["hyper"]]
        s["lem"] = [clean_lemma(l) for l in s["lemmas"]]
        s["lem_ok"] = [l for l in s["lem"] if ok_lemma(l)]
    children = defaultdict(list)
    for key, s in syn.items():
        for h in s["hyper"]:
            children[h].append(key)

    def hyper_lemma(s):
        for h in s["hyper"]:
            hl = [l for l in syn[h]["lem"] if ok_lemma(l)]
            if hl:
                return hl[0].replace("_", " ").replace("-", " ")
        return None

    def usable(s):
        if not s["lem_ok"] or s["lem"][0][:1].isupper():
            return False
        g = s["gloss"]
        if not (12 <= len(g) <= 120) or '"' in g or "(" in g:
            return False
        gs = stems(g)
        for l in s["lem"]:  # the gloss must not name the concept itself
            if stems(l.replace("_", " ")) & gs:
                return False
        return True

    targets = [k for k, s in syn.items() if usable(s)]
    pool = {"n": [k for k, s in syn.items() if s["lem_ok"] and s["pos"] == "n" and not s["lem"][0][:1].isupper()],
            "v": [k for k, s in syn.items() if s["lem_ok"] and s["pos"] == "v"]}
    print(f"synsets {len(syn)}, usable targets {len(targets)}", file=sys.stderr)

    def siblings(s):
        out = []
        for h in s["hyper"]:
            out += [c for c in children[h] if c != s["key"] and syn[c]["lem_ok"] and not syn[c]["lem"][0][:1].isupper()]
        return out

    seen = set()
    out = []
    tries = 0
    while len(out) < a.count and tries < a.count * 20:
        tries += 1
        s = syn[rng.choice(targets)]
        pos = s["pos"]
        is_none = rng.random() < a.none
        n_tools = rng.randint(2, 8)
        gloss = s["gloss"]
        gstems = stems(gloss)
        sib = siblings(s)
        rng.shuffle(sib)
        chosen = []
        banned = set([s["key"]] + sib + s["hyper"]) if is_none else {s["key"]}
        if not is_none:
            chosen.append(s["key"])
            for c in sib:
                if len(chosen) >= n_tools:
                    break
                if rng.random() < 0.85:
                    chosen.append(c)
        while len(chosen) < n_tools:
            c = rng.choice(pool[pos] if rng.random() < 0.8 else pool["n" if pos == "v" else "v"])
            if c in banned or c in chosen:
                continue
            # a distractor must not be a near-synonym that the gloss names
            if any(stems(l.replace("_", " ")) & gstems for l in syn[c]["lem"]):
                continue
            chosen.append(c)
        # naming style for this example
        style = rng.choice(["snake", "snake", "camel", "camel", "kebab", "pascal"])
        use_prefix = rng.random() < 0.5
        ns = rng.choice(["", "", "", "", "dict.", "kb.", "app.", "tools."])
        names = {}
        used = set()
        for c in chosen:
            cs = syn[c]
            lem = cs["lem_ok"][0] if rng.random() < 0.6 else rng.choice(cs["lem_ok"])
            prefix = ""
            if use_prefix:
                prefix = rng.choice(NOUN_PREFIX) if cs["pos"] == "n" else rng.choice(VERB_PREFIX)
            nm = ns + style_name(lem, cs["pos"], style, prefix)
            if nm in used:
                nm = ns + style_name(lem, cs["pos"], style, "")
            if nm in used:
                continue
            used.add(nm)
            names[c] = nm
        if not is_none and s["key"] not in names:
            continue
        if len(names) < 2:
            continue
        # query
        hl = hyper_lemma(s)
        if pos == "n":
            tmpls = NOUN_TEMPLATES if hl else [t for t in NOUN_TEMPLATES if "{h}" not in t]
        else:
            tmpls = VERB_TEMPLATES
        q = rng.choice(tmpls).format(g=gloss, h=hl or "")
        q = q[0].upper() + q[1:] if rng.random() < 0.5 else q
        param = None
        exs = [e for e in s["examples"] if 8 <= len(e) <= 80 and '"' not in e]
        if exs and rng.random() < 0.5:
            e = rng.choice(exs)
            q2 = q.rstrip("?") + rng.choice(EX_SUFFIX).format(e=e)
            if len(q2) <= 200 and q2.count(e) == 1:
                q = q2
                param = (rng.choice(PARAM_NAMES), e)
        # tools
        flat = rng.random() < 0.5
        tools = []
        order = list(names.keys())
        rng.shuffle(order)
        for c in order:
            cs = syn[c]
            h = hyper_lemma(cs)
            desc = ""
            if h and not (stems(h) & gstems) and rng.random() < 0.7:
                choices = ["A kind of {h}.", "{H}.", "{H} tool.", "Related to {h}."] if cs["pos"] == "n" else ["To {h}.", "{H}.", "A way to {h}."]
                desc = rng.choice(choices).format(h=h, H=h[:1].upper() + h[1:])
            if param:
                (pn, pd), _ = param
                if flat:
                    params = {pn: {"type": "string", "description": pd, "required": True}}
                else:
                    params = {"type": "object", "properties": {pn: {"type": "string", "description": pd}}, "required": [pn]}
            else:
                params = {} if flat else {"type": "object", "properties": {}, "required": []}
            tools.append({"name": names[c], "description": desc, "parameters": params})
        if is_none:
            answers = []
        else:
            args = {param[0][0]: param[1]} if param else {}
            answers = [{"name": names[s["key"]], "arguments": args}]
        key = (q, tuple(sorted(names.values())))
        if key in seen:
            continue
        seen.add(key)
        out.append({"query": q, "tools": tools, "answers": answers,
                    "meta": {"kind": "none_unoffered" if is_none else "single", "categories": ["wordnet"]}})
    with open(a.out, "w") as f:
        for i, ex in enumerate(out):
            f.write(json.dumps({"id": f"wn-{i:08d}", **ex}) + "\n")
    n_none = sum(1 for ex in out if not ex["answers"])
    n_param = sum(1 for ex in out if ex["answers"] and ex["answers"][0]["arguments"])
    print(f"wrote {len(out)} examples to {a.out} (none {n_none}, with argument {n_param}, tries {tries})", file=sys.stderr)
    for ex in rng.sample(out, min(a.samples, len(out))):
        print(json.dumps({"query": ex["query"], "tools": [(t["name"], t["description"]) for t in ex["tools"]],
                          "answers": ex["answers"]}))


if __name__ == "__main__":
    main()
