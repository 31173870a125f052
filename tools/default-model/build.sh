#!/usr/bin/env bash
# build.sh — makes the bundled default model from nothing, resumably: procedural data
# (generate-data: train, dev, unseen-tool test), the SentencePiece tokenizer (Needle's
# options, on generated text plus WordNet glosses), training with checkpoints (rerun the
# same command to continue after an interruption), evaluation on dev and test, and the
# Q8_0 export (copied to models/needlepoint-default.gguf with SHIP=1). Every step is skipped when its output
# exists. Settings come from the environment (defaults below); the model card in
# docs/models.md records the ones that made the committed model.
#   bash tools/default-model/build.sh            # all steps (training takes hours on 2 cores)
#   STEPS=200 bash tools/default-model/build.sh  # a short smoke run
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${NP_WORK:-build/default-model}
CLI=${NP_CLI:-build/needlepoint}
PY=/usr/bin/python3
TRAIN_N=${TRAIN_N:-300000}
DEV_N=${DEV_N:-2000}
TEST_N=${TEST_N:-2000}
VOCAB=${VOCAB:-8192}
STEPS=${STEPS:-60000}
BATCH=${BATCH:-16}
LR=${LR:-2e-3}
MODEL_FLAGS=${MODEL_FLAGS:---config needle --d-model 256 --heads 4 --kv-heads 2 --enc-layers 6 --dec-layers 4 --max-enc-len 640 --max-dec-len 128}
OUT=${OUT:-models/needlepoint-default.gguf}
# Renaming augmentation (docs/training.md): on from step 6,000 of the first run, after v0.1
# showed the model remembering tool names instead of reading them from the list.
AUG_FLAGS=${AUG_FLAGS:---rename-tools 0.5 --rename-params 0.3}
# The encoder mask: catalog (the tool block blind to the query, so a tool list's encoder
# states are cached across calls) from step 8,100 of the first run, continued in its own
# checkpoint directory (the bidirectional run's stays in $W/ckpt for comparison).
MASK=${MASK:-catalog}
CKPT=${CKPT:-$W/ckpt-$MASK}
mkdir -p "$W"

if [ ! -x "$CLI" ]; then
  bash tools/install-deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)"
fi
if [ ! -d /usr/share/wordnet ] || ! command -v spm_train >/dev/null; then
  apt-get install -y --no-install-recommends wordnet-base sentencepiece >/dev/null
fi

echo "== data"
[ -s "$W/train.jsonl" ] || "$CLI" generate-data --out "$W/train.jsonl" --count "$TRAIN_N" --seed 1 --split train --stats "$W/train.stats.json"
# --avoid: no dev or test example repeats a training example (short queries would otherwise).
[ -s "$W/dev.jsonl" ] || "$CLI" generate-data --out "$W/dev.jsonl" --count "$DEV_N" --seed 2 --split dev --avoid "$W/train.jsonl" --stats "$W/dev.stats.json"
[ -s "$W/test.jsonl" ] || "$CLI" generate-data --out "$W/test.jsonl" --count "$TEST_N" --seed 3 --split test --avoid "$W/train.jsonl" --stats "$W/test.stats.json"
"$CLI" generate-data --check-disjoint "$W/train.jsonl" "$W/test.jsonl"

echo "== tokenizer"
if [ ! -s "$W/tok.model" ]; then
  head -n 40000 "$W/train.jsonl" > "$W/tok-sample.jsonl"
  "$PY" tools/default-model/make_corpus.py "$W/tok-sample.jsonl" > "$W/corpus.txt"
  spm_train --input="$W/corpus.txt" --model_prefix="$W/tok" --vocab_size="$VOCAB" --model_type=bpe \
    --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --user_defined_symbols='<tool_call>,<tools>' \
    --byte_fallback=true --normalization_rule_name=identity --num_threads="$(nproc)" \
    --max_sentence_length=16384 --input_sentence_size=2000000 --shuffle_input_sentence=true --minloglevel=1
fi

echo "== training ($STEPS steps, resumable)"
# shellcheck disable=SC2086
"$CLI" train --data "$W/train.jsonl" --spm "$W/tok.model" $MODEL_FLAGS \
  --steps "$STEPS" --batch "$BATCH" --lr "$LR" --seed 1 --contrastive 0.1 $AUG_FLAGS --encoder-mask "$MASK" \
  --val-data "$W/dev.jsonl" --val-max 500 --eval-every 1000 \
  --checkpoint-dir "$CKPT" --checkpoint-every 100 --resume ${STOP_AT:+--stop-at "$STOP_AT"} \
  --log "$W/loss.csv" --log-every 50 --type q8_0 --out "$W/model-q8_0.gguf" | tee "$W/train-summary.json"

echo "== evaluation"
for split in dev test; do
  "$CLI" eval --model "$W/model-q8_0.gguf" --data "$W/$split.jsonl" --json --out "$W/$split.preds.jsonl" \
    | tee "$W/$split.metrics.json"
done
# Shipping is a decision (calibration, branch evaluation, docs/models.md): the export is
# copied into models/ only when asked (SHIP=1), never by a run that simply reaches its end.
if [ -z "${STOP_AT:-}" ] && [ "${SHIP:-0}" = 1 ]; then
  mkdir -p "$(dirname "$OUT")"
  cp "$W/model-q8_0.gguf" "$OUT"
  echo "wrote $OUT"
fi
