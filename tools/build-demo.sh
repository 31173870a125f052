#!/usr/bin/env bash
# build-demo.sh — writes the servable demo into build/demo/ (demo/build.mjs): the page, the
# package's browser files from npm/dist (run tools/build-wasm.sh first), site.json (the
# default model's SHA-256) and the service worker with its content-hash cache manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f npm/dist/browser.js ]; then
  echo "build-demo.sh: npm/dist is not built; run bash tools/build-wasm.sh first" >&2
  exit 1
fi
node demo/build.mjs --out build/demo "$@"
