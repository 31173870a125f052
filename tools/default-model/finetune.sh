#!/usr/bin/env bash
# finetune.sh — a fine-tuning round of the default model (docs/models.md): full fine-tuning
# with word swapping (docs/training.md, "Augmentation") on build.sh's training split, validated
# on unseen tools (a draw with another seed than the test split's), then calibrated on dev
# examples 1,001-2,000 decoding with the shipped priors (tool name 1.5, call 4, the empty
# answer's margin 1, copy 2), then evaluated on dev-a and the unseen-tool test split.
# About 25 minutes on this machine's 2 cores. Resumable (checkpoints every 100 steps).
#   v0.4 (from v0.3): BASE=v0.3.gguf PRIORS='--tool-prior 1,4,1 --copy-prior 2' bash tools/default-model/finetune.sh
#   v0.5 (from v0.4): BASE=v0.4.gguf FT_DIR=build/ft-v05 STEPS=2000 LR=5e-4 MUON_LR=0.005 SWAP=1.0 SEED=9 \
#                     bash tools/default-model/finetune.sh
#   v0.6 (from v0.5, on the 42-category content; NP_WORK holds a train.jsonl made from it with
#         build.sh's command, and build.sh's original dev.jsonl and test.jsonl):
#         NP_WORK=build/data-v06 BASE=v0.5.gguf FT_DIR=build/ft-v07 STEPS=3000 LR=5e-4 MUON_LR=0.005 \
#         SWAP=1.0 SEED=17 bash tools/default-model/finetune.sh
#   v0.7 (from v0.6, on the 58-category content; NP_WORK as for v0.6, its train.jsonl remade from
#         the 58 categories, and CAL_DATA a dev split of them: generate-data --out dev-new.jsonl
#         --count 1000 --seed 2 --split dev --avoid train.jsonl):
#         NP_WORK=build/data-v07 BASE=v0.6.gguf FT_DIR=build/ft-v09 STEPS=3000 LR=5e-4 MUON_LR=0.005 \
#         SWAP=1.0 SEED=29 CAL_DATA=build/data-v07/dev-new.jsonl bash tools/default-model/finetune.sh
#   then: cp $FT_DIR/model.gguf models/needlepoint-default.gguf
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${NP_WORK:-build/default-model}
CLI=${NP_CLI:-build/needlepoint}
F=${FT_DIR:-build/ft-swap}
BASE=${BASE:-models/needlepoint-default.gguf}
STEPS=${STEPS:-2600}
PRIORS=${PRIORS:---tool-prior 1.5,4,1 --copy-prior 2}   # v0.4.1's and v0.5's (v0.4 itself: 1,4,1)
LR=${LR:-1e-3}
MUON_LR=${MUON_LR:-0.01}
SWAP=${SWAP:-0.5}
SEED=${SEED:-7}
CAL_DATA=${CAL_DATA:-$F/dev-b.jsonl}   # the calibration's examples (default: dev examples 1,001-2,000)
mkdir -p "$F"
[ -s "$W/train.jsonl" ] && [ -s "$W/dev.jsonl" ] && [ -s "$W/test.jsonl" ] || { echo "run tools/default-model/build.sh first (data)" >&2; exit 1; }
[ -s "$F/val-unseen.jsonl" ] || "$CLI" generate-data --out "$F/val-unseen.jsonl" --count 600 --seed 11 --split test
head -n 1000 "$W/dev.jsonl" > "$F/dev-a.jsonl"
tail -n +1001 "$W/dev.jsonl" > "$F/dev-b.jsonl"
# shellcheck disable=SC2086
"$CLI" train --model "$BASE" --data "$W/train.jsonl" --out "$F/model-raw.gguf" --type q8_0 \
  --steps "$STEPS" --batch 16 --lr "$LR" --muon-lr "$MUON_LR" --schedule wsd --warmup 0.05 --decay 0.25 --seed "$SEED" --contrastive 0.1 \
  --rename-tools 0.5 --rename-params 0.3 --swap-words "$SWAP" --encoder-mask catalog \
  --val-data "$F/val-unseen.jsonl" --val-max 300 --eval-every 400 \
  --checkpoint-dir "$F/ckpt" --checkpoint-every 100 --resume --log "$F/loss.csv" --log-every 50 | tee "$F/train-summary.json"
# shellcheck disable=SC2086
"$CLI" calibrate --model "$F/model-raw.gguf" --data "$CAL_DATA" --out "$F/model.gguf" $PRIORS | tee "$F/calibration.json"
"$CLI" eval --model "$F/model.gguf" --data "$F/dev-a.jsonl" --json --out "$F/dev-a.preds.jsonl" | tee "$F/dev-a.metrics.json"
"$CLI" eval --model "$F/model.gguf" --data "$W/test.jsonl" --json --out "$F/test.preds.jsonl" | tee "$F/test.metrics.json"
echo "model: $F/model.gguf"
