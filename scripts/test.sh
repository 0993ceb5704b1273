#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every CTest test
# (unit, protocol, integration). Extra arguments go to ctest (e.g. -L unit).
# Runs unattended (CI runs it as root with CI=true and no stdin).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cd build
# --no-tests=error: a suite that found nothing to run must not pass.
ctest --output-on-failure --no-tests=error --timeout 900 "$@" </dev/null
