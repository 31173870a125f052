#!/usr/bin/env bash
# demo.sh — the main job: builds everything the demo needs (the native CLI, the WebAssembly
# package, the demo page) and serves the page on 127.0.0.1 with COOP/COEP (threads, mt build)
# and, on the next port, without them (the single-thread st build).
# Usage:
#   bash tools/demo.sh                      serve on http://127.0.0.1:${NP_DEMO_PORT:-8080}/ until Ctrl-C
#   bash tools/demo.sh --check              (or NP_DEMO_ONCE=1) load the page in headless Chromium,
#                                           run one preset query with and without threads, print, exit
#   bash tools/demo.sh --cli ["request" [tools.json]]   one native call, JSON on stdout (also: demo.sh "request")
# The page and the package run the bundled default model (models/needlepoint-default.gguf,
# docs/models.md); without it (a checkout that removed it) a random-weight model with the
# Needle v1 shape stands in: valid JSON naming only declared tools, meaningless content.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=serve
case "${1:-}" in
  --check) MODE=check; shift ;;
  --cli) MODE=cli; shift ;;
  -*) ;;
  ?*) MODE=cli ;;   # the older form: tools/demo.sh "request" [tools.json]
esac
[ "${NP_DEMO_ONCE:-}" = 1 ] && [ "$MODE" = serve ] && MODE=check

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target needlepoint

if [ "$MODE" = cli ]; then
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
  exec ./build/needlepoint run --model "$MODEL" --query "$QUERY" --tools "@$TOOLS"
fi

bash tools/build-wasm.sh
bash tools/build-demo.sh
[ -f models/needlepoint-default.gguf ] || \
  echo "note: no trained default model yet: the page runs random weights (valid JSON, meaningless content)." >&2
if [ "$MODE" = check ]; then
  exec node demo/check.mjs --root build/demo "$@"
fi
PORT=${NP_DEMO_PORT:-8080}
exec node demo/serve.mjs --root build/demo --port "$PORT" --plain-port "$((PORT + 1))"
