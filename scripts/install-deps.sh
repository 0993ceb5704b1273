#!/usr/bin/env bash
# Installs every Debian 12 package Stowage builds, runs and tests with.
# Idempotent; skips apt entirely when everything is already there.
set -euo pipefail
pkgs=(
  # build
  cmake ninja-build g++ ccache pkg-config
  # the stack
  libcaf-dev libboost-dev libsodium-dev catch2
  # the libraries that do the rest
  libssl-dev libsqlite3-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
  libspdlog-dev libarchive-dev
  # tests, benchmarks and running containers
  curl jq iproute2 skopeo podman runc containerd docker-registry busybox-static
  sqlite3 git zstd openssl
  # the benchmarks' image generator (bench/lib.sh)
  python3
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # env, not a prefix assignment: sudo would drop DEBIAN_FRONTEND from the environment.
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null
fi
