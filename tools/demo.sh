#!/usr/bin/env bash
# demo.sh — the main job: builds the engine and runs one tool call on the bundled default
# model. Usage: bash tools/demo.sh ["your request" [tools.json]]
# Until a trained default model ships (models/needlepoint-default.gguf), the demo runs a
# random-weight model with the full Needle v1 shape that the build generates: the answer is
# always valid JSON naming only declared tools, but its content is meaningless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target needlepoint

QUERY=${1:-"What's the weather in San Francisco?"}
TOOLS=${2:-data/examples/tools.json}
MODEL=models/needlepoint-default.gguf
if [ ! -f "$MODEL" ]; then
  MODEL=build/models/placeholder-needle-q8_0.gguf
  if [ ! -f "$MODEL" ]; then
    mkdir -p build/models
    ./build/needlepoint make-model --config needle --type q8_0 --seed 1 --out "$MODEL"
  fi
  echo "note: no trained default model yet; using random weights ($MODEL)." >&2
  echo "      The output is valid, constrained JSON, but its content is meaningless." >&2
fi
echo "query: $QUERY" >&2
echo "tools: $TOOLS" >&2
./build/needlepoint run --model "$MODEL" --query "$QUERY" --tools "@$TOOLS"
