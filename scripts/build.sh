#!/usr/bin/env bash
# Configures and builds build/stowage and the tests (Release, Ninja).
# Extra arguments go to `cmake --build` (e.g. --target stowage).
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
[ -f build/CMakeCache.txt ] || generator=(-G Ninja) # keep an existing build's generator
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build "$@"
