#!/usr/bin/env bash
# branch.sh — a shippable model from a running warmup-stable-decay run, without ending it:
# copies the main run's last checkpoint ($CKPT, default build/default-model/ckpt-catalog), continues the copy with
# the learning rate decayed linearly to the floor over DECAY steps (WSD's final phase, as
# the main run would at its end), validates at the end, exports Q8_0 (best validated
# weights), evaluates dev and the unseen-tool test split, fits the confidence calibration on
# dev, and measures tool retrieval on the test split's catalog. The main run resumes later
# from its own, untouched checkpoint (stop it first: the two would share the 2 cores).
#   DECAY=800 bash tools/default-model/branch.sh     # then: cp $B/model.gguf models/needlepoint-default.gguf
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${NP_WORK:-build/default-model}
CLI=${NP_CLI:-build/needlepoint}
DECAY=${DECAY:-800}
MASK=${MASK:-catalog}
CKPT=${CKPT:-$W/ckpt-$MASK}
MODEL_FLAGS=${MODEL_FLAGS:---config needle --d-model 256 --heads 4 --kv-heads 2 --enc-layers 6 --dec-layers 4 --max-enc-len 640 --max-dec-len 128}
# (inspect's model check fails on a checkpoint's optimizer tensors: only its listing is used;
# awk reads to the end, so nothing is killed by SIGPIPE under pipefail)
step=$({ "$CLI" inspect --model "$CKPT/checkpoint.gguf" || true; } | grep -o '"step":[0-9]*' | awk 'NR == 1' | grep -o '[0-9]*$')
[ -n "$step" ] || { echo "cannot read the checkpoint's step" >&2; exit 1; }
B=${BRANCH_DIR:-$W/branch-$MASK-$step}
mkdir -p "$B/ckpt"
[ -f "$B/ckpt/checkpoint.gguf" ] || cp "$CKPT/checkpoint.gguf" "$B/ckpt/checkpoint.gguf"
total=$((step + DECAY))
decay=$(awk -v d="$DECAY" -v t="$total" 'BEGIN { printf "%.8f", d / t }')
echo "== branch at step $step: $DECAY decay steps (total $total, decay ratio $decay) -> $B"
# shellcheck disable=SC2086
"$CLI" train --data "$W/train.jsonl" --spm "$W/tok.model" $MODEL_FLAGS \
  --steps "$total" --decay "$decay" --batch 16 --lr 2e-3 --seed 1 --contrastive 0.1 ${AUG_FLAGS:---rename-tools 0.5 --rename-params 0.3} --encoder-mask "$MASK" \
  --val-data "$W/dev.jsonl" --val-max 500 --eval-every "$DECAY" \
  --checkpoint-dir "$B/ckpt" --checkpoint-every 100 --resume \
  --log "$B/loss.csv" --log-every 50 --type q8_0 --out "$B/model-raw.gguf" | tee "$B/train-summary.json"
echo "== calibration (second half of dev) and evaluation (first half of dev, test)"
# The first 1,000 dev examples hold the 500 used for validation; the calibration is fitted on
# the other 1,000, so dev-a and test measure it out of sample.
head -n 1000 "$W/dev.jsonl" > "$B/dev-a.jsonl"
tail -n +1001 "$W/dev.jsonl" > "$B/dev-b.jsonl"
# The decoding priors the shipped model carries (docs/engine.md, "Decoding priors"; v0.3's).
# shellcheck disable=SC2086
"$CLI" calibrate --model "$B/model-raw.gguf" --data "$B/dev-b.jsonl" --out "$B/model.gguf" ${PRIORS:---tool-prior 1,4,1 --copy-prior 2} | tee "$B/calibration.json"
"$CLI" eval --model "$B/model.gguf" --data "$B/dev-a.jsonl" --json --out "$B/dev-a.preds.jsonl" | tee "$B/dev-a.metrics.json"
"$CLI" eval --model "$B/model.gguf" --data "$W/test.jsonl" --json --out "$B/test.preds.jsonl" | tee "$B/test.metrics.json"
"$CLI" eval-retrieval --model "$B/model.gguf" --data "$W/test.jsonl" --k 1,3,5,8,10 | tee "$B/retrieval-test.json"
echo "branch model: $B/model.gguf"
