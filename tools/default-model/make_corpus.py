#!/usr/bin/env python3
"""make_corpus.py — the tokenizer's training text for the default model: every query, tools
JSON (as the encoder sees it: compact, flat) and answer of a generated JSONL file, plus
general English from Debian's WordNet (package wordnet-base: the glosses, i.e. definitions
and example sentences, of every synset), so that names and values the data factory never
produced still tokenize into sensible pieces.
Usage: make_corpus.py DATA.jsonl [--wordnet /usr/share/wordnet] > corpus.txt"""
import argparse
import json
import os
import sys


def wordnet_glosses(root):
    for name in ["data.noun", "data.verb", "data.adj", "data.adv"]:
        path = os.path.join(root, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                bar = line.find(" | ")
                if bar >= 0:
                    yield line[bar + 3:].strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    a = ap.parse_args()
    out = sys.stdout
    n_data = n_wn = 0
    with open(a.data, encoding="utf-8") as f:
        for line in f:
            ex = json.loads(line)
            tools = ex["tools"] if isinstance(ex["tools"], list) else json.loads(ex["tools"])
            answers = ex["answers"] if isinstance(ex["answers"], list) else json.loads(ex["answers"])
            out.write(ex["query"].replace("\n", " ") + "\n")
            out.write(json.dumps(tools, ensure_ascii=True, separators=(",", ":")) + "\n")
            out.write(json.dumps(answers, ensure_ascii=False, separators=(",", ":")) + "\n")
            n_data += 1
    for g in wordnet_glosses(a.wordnet):
        out.write(g + "\n")
        n_wn += 1
    print("corpus: %d examples, %d WordNet glosses" % (n_data, n_wn), file=sys.stderr)


if __name__ == "__main__":
    main()
