#!/usr/bin/env bash
# From a fresh Debian 12 machine: install, build, and start a whole cluster in
# one process (`stowage dev`), showing a short push and pull through it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/stowage dev --demo "$@"
