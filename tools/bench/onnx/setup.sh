#!/bin/sh
# Installs the pinned onnxruntime-web (package.json) into tools/bench/onnx/node_modules.
set -e
cd "$(dirname "$0")"
npm install --no-audit --no-fund --save-exact=true "$@"
