#!/usr/bin/env bash
# calibrate-mixed.sh — v0.7.3's confidence calibration (docs/models.md): the shipped model's
# calibration refitted on 1,000 in-distribution examples (dev-new: the 58 categories' dev
# split) and 1,000 unseen-tool ones (the test split's tools, seed 17, which no measured split
# uses), decoding with the shipped priors. The answers do not change; only the confidence.
# About 5 minutes on this machine's 2 cores (mostly the 300,000 training examples dev-new must
# avoid). Usage: [BASE=model.gguf] [OUT=out.gguf] bash tools/default-model/calibrate-mixed.sh
#   v0.7.3: BASE=<v0.7.2> OUT=models/needlepoint-default.gguf (the default)
set -euo pipefail
cd "$(dirname "$0")/../.."
CLI=${NP_CLI:-build/needlepoint}
W=${NP_WORK:-build/data-v07}
BASE=${BASE:-models/needlepoint-default.gguf}
OUT=${OUT:-models/needlepoint-default.gguf}
PRIORS=${PRIORS:---tool-prior 1.5,4,1,3 --copy-prior 10 --echo-prior 5}   # v0.7.2's
mkdir -p "$W"
[ -s "$W/train.jsonl" ] || "$CLI" generate-data --out "$W/train.jsonl" --count 300000 --seed 1 --split train
[ -s "$W/dev-new.jsonl" ] || "$CLI" generate-data --out "$W/dev-new.jsonl" --count 1000 --seed 2 --split dev --avoid "$W/train.jsonl"
if [ ! -s "$W/cal17.jsonl" ]; then
  # The unseen-tool half is drawn from the content the measured test splits were made from.
  content=$(mktemp -d)
  git archive af5223f data/factory | tar -x -C "$content"
  "$CLI" generate-data --content "$content/data/factory" --out "$W/cal17.jsonl" --count 1000 --seed 17 --split test \
    --avoid "$W/train.jsonl"
  rm -rf "$content"
fi
cat "$W/dev-new.jsonl" "$W/cal17.jsonl" > "$W/calmix.jsonl"
tmp=$(mktemp --suffix=.gguf)
cp "$BASE" "$tmp"
"$CLI" calibrate --model "$tmp" --data "$W/calmix.jsonl" --out "$OUT" $PRIORS
rm -f "$tmp"
