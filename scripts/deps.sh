#!/usr/bin/env bash
# Installs TigerChat's build and test dependencies from Debian's packages (Debian 12).
# Idempotent: does nothing when everything is present.
set -euo pipefail
packages=(build-essential cmake pkg-config libsodium-dev libcmocka-dev libcjson-dev libssl-dev libhiredis-dev libsqlite3-dev libcurl4-openssl-dev libncurses-dev redis-server curl python3 python3-websockets
  # the dashboard's real-terminal test, the metrics check (promtool), the package test
  tmux prometheus lintian rpmlint rpm rpm2cpio cpio debootstrap debian-archive-keyring systemd iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "deps: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "deps: ok"
