#!/usr/bin/env bash
# build-wasm.sh — builds the npm package's contents in npm/dist/:
#   1. the three WebAssembly variants of core/ (wasm/CMakeLists.txt) with Debian's
#      Emscripten, in incremental build directories (build-wasm-mt; build-wasm-st for st
#      and edge, which share their core objects), copied to npm/dist/wasm/<variant>/, with
#      each .wasm + glue size, raw and gzipped;
#   2. the TypeScript runtime (web/src, TypeScript pinned in web/package-lock.json);
#   3. the default model: models/needlepoint-default.gguf, or until a trained one exists
#      the random-weight placeholder tools/demo.sh uses (made with build/needlepoint).
# Usage: bash tools/build-wasm.sh [mt|st|edge ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(mt st edge)
JOBS=${JOBS:-$(nproc)}
export NODE_PATH=/usr/share/nodejs   # Debian emscripten runs acorn from Debian node-acorn
command -v emcmake >/dev/null || { echo "emcmake not found: run tools/install-deps.sh" >&2; exit 1; }

for v in "${VARIANTS[@]}"; do
  case "$v" in
    mt) dir=build-wasm-mt; threads=ON ;;
    st|edge) dir=build-wasm-st; threads=OFF ;;   # st and edge link the same core objects
    *) echo "unknown variant $v (mt, st, edge)" >&2; exit 2 ;;
  esac
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    # emcmake injects a node emulator flag Node 20 rejects; nothing here runs under it.
    emcmake cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DNP_WASM_THREADS=$threads \
      -DCMAKE_CROSSCOMPILING_EMULATOR=/usr/bin/node >/dev/null
  elif ! grep -q "^NP_WASM_THREADS:BOOL=$threads\$" "$dir/CMakeCache.txt"; then
    cmake -S . -B "$dir" -DNP_WASM_THREADS=$threads >/dev/null
  fi
  cmake --build "$dir" -j"$JOBS" --target np_wasm_$v
  out=npm/dist/wasm/$v
  mkdir -p "$out"
  cp "$dir/wasm/$v/needlepoint.mjs" "$dir/wasm/$v/needlepoint.wasm" "$out/"
  if [ "$v" = mt ]; then
    # The pthread worker script is CommonJS: keep it out of the package's "type": "module".
    cp "$dir/wasm/$v/needlepoint.worker.js" "$out/"
    echo '{"type":"commonjs"}' > "$out/package.json"
  fi
  if [ "$v" = edge ] && grep -q -E 'new Function|eval\(' "$out/needlepoint.mjs"; then
    echo "error: the edge glue contains eval/new Function" >&2
    exit 1
  fi
  w=$(stat -c %s "$out/needlepoint.wasm"); j=$(stat -c %s "$out/needlepoint.mjs")
  gz=$(gzip -9 -c "$out/needlepoint.wasm" | wc -c); gj=$(gzip -9 -c "$out/needlepoint.mjs" | wc -c)
  gw=0
  [ "$v" = mt ] && gw=$(gzip -9 -c "$out/needlepoint.worker.js" | wc -c)
  echo "wasm $v: needlepoint.wasm $w B (gz $gz), needlepoint.mjs $j B (gz $gj), worker gz $gw B, total gz $((gz + gj + gw)) B"
done

# 2. TypeScript runtime (npm ci only when the lock file changed).
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd web && node_modules/.bin/tsc -p tsconfig.json)
chmod +x npm/dist/cli.js

# 3. Default model.
MODEL=models/needlepoint-default.gguf
if [ ! -f "$MODEL" ]; then
  MODEL=build/models/placeholder-needle-q8_0.gguf
  if [ ! -f "$MODEL" ] && [ -x build/needlepoint ]; then
    mkdir -p build/models
    ./build/needlepoint make-model --config needle --type q8_0 --seed 1 --out "$MODEL" >/dev/null
  fi
fi
if [ -f "$MODEL" ]; then
  mkdir -p npm/dist/models
  cmp -s "$MODEL" npm/dist/models/default.gguf || cp "$MODEL" npm/dist/models/default.gguf
  echo "default model: $MODEL -> npm/dist/models/default.gguf"
else
  echo "warning: no default model (build the native CLI first: cmake --build build)" >&2
fi
