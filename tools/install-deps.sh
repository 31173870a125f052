#!/usr/bin/env bash
# install-deps.sh — installs what the native build and its tests need, from Debian's
# packages, and only what is missing. Run as root on Debian 12 (sudo is used when not root).
set -euo pipefail

PACKAGES=(
  g++ cmake make          # the native build
  catch2                  # unit tests (v2, header-only)
  nlohmann-json3-dev      # JSON in core/ (header-only)
  sentencepiece           # spm_train/spm_encode/spm_decode: the tokenizer oracle in tests
  python3-numpy           # the NumPy reference (run with /usr/bin/python3)
  python3-torch           # the PyTorch model: training-gradient parity and benchmark baseline
  emscripten              # the WebAssembly builds (tools/build-wasm.sh; Debian's 3.1.6)
  chromium                # browser tests of the npm package (driven by playwright-core from npm)
  clang                   # libFuzzer targets with ASan/UBSan (tools/fuzz.sh; Debian 12: clang 14)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
