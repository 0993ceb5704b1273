#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every CTest test
# (unit, protocol, integration). Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
