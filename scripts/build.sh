#!/usr/bin/env bash
# Usage: scripts/build.sh [Release|Debug|Sanitize] [extra cmake args...]
# Builds into build/<type> (or $TC_BUILD_DIR). Prints the build directory on the last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
type=${1:-Release}
shift || true
dir=${TC_BUILD_DIR:-$root/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')}
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$dir"
