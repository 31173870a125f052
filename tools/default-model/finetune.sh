#!/usr/bin/env bash
# finetune.sh — the default model v0.4.1 (v0.4's weights) from v0.3 (docs/models.md): 2,600 steps of full
# fine-tuning with word swapping (docs/training.md, "Augmentation") on build.sh's training
# split, validated on unseen tools (a draw with another seed than the test split's), then
# calibrated on dev examples 1,001-2,000 decoding with the priors v0.4.1 ships (name 1.5, call
# 4, the empty answer's margin 1, copy 2; v0.4 had name 1), then evaluated on dev-a and the
# unseen-tool test split.
# About 25 minutes on this machine's 2 cores. Resumable (checkpoints every 100 steps).
#   BASE=v0.3.gguf bash tools/default-model/finetune.sh   # then: cp $F/model.gguf models/needlepoint-default.gguf
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${NP_WORK:-build/default-model}
CLI=${NP_CLI:-build/needlepoint}
F=${FT_DIR:-build/ft-swap}
BASE=${BASE:-models/needlepoint-default.gguf}
STEPS=${STEPS:-2600}
PRIORS=${PRIORS:---tool-prior 1.5,4,1 --copy-prior 2}   # v0.4.1's (v0.4 itself: 1,4,1)
mkdir -p "$F"
[ -s "$W/train.jsonl" ] && [ -s "$W/dev.jsonl" ] && [ -s "$W/test.jsonl" ] || { echo "run tools/default-model/build.sh first (data)" >&2; exit 1; }
[ -s "$F/val-unseen.jsonl" ] || "$CLI" generate-data --out "$F/val-unseen.jsonl" --count 600 --seed 11 --split test
head -n 1000 "$W/dev.jsonl" > "$F/dev-a.jsonl"
tail -n +1001 "$W/dev.jsonl" > "$F/dev-b.jsonl"
# shellcheck disable=SC2086
"$CLI" train --model "$BASE" --data "$W/train.jsonl" --out "$F/model-raw.gguf" --type q8_0 \
  --steps "$STEPS" --batch 16 --lr 1e-3 --muon-lr 0.01 --schedule wsd --warmup 0.05 --decay 0.25 --seed 7 --contrastive 0.1 \
  --rename-tools 0.5 --rename-params 0.3 --swap-words 0.5 --encoder-mask catalog \
  --val-data "$F/val-unseen.jsonl" --val-max 300 --eval-every 400 \
  --checkpoint-dir "$F/ckpt" --checkpoint-every 100 --resume --log "$F/loss.csv" --log-every 50 | tee "$F/train-summary.json"
# shellcheck disable=SC2086
"$CLI" calibrate --model "$F/model-raw.gguf" --data "$F/dev-b.jsonl" --out "$F/model.gguf" $PRIORS | tee "$F/calibration.json"
"$CLI" eval --model "$F/model.gguf" --data "$F/dev-a.jsonl" --json --out "$F/dev-a.preds.jsonl" | tee "$F/dev-a.metrics.json"
"$CLI" eval --model "$F/model.gguf" --data "$W/test.jsonl" --json --out "$F/test.preds.jsonl" | tee "$F/test.metrics.json"
echo "model: $F/model.gguf"
