#!/usr/bin/env bash
# Proves that the deterministic core libraries call no allocator, clock, randomness, sleep or
# system call (DESIGN.md section 4, "Determinism"): their undefined symbols (nm -u) must not name
# any forbidden function, nor its _FORTIFY_SOURCE (__*_chk) or large-file (*64) variant.
#
# Usage: scripts/check-core-symbols.sh <build-dir>
# Exit 0 with one OK line, 1 naming every library + symbol hit, 2 on a usage or setup error.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <build-dir>" >&2
  exit 2
fi
build_dir=$1
if [[ ! -d "$build_dir" ]]; then
  echo "check-core-symbols: build directory '$build_dir' does not exist" >&2
  exit 2
fi
command -v nm >/dev/null || { echo "check-core-symbols: nm not found (binutils)" >&2; exit 2; }

# libtc_edge: the edge's codecs are pure too (caller buffers, time passed in, cJSON hooked to a
# scratch buffer): no clock, no allocator, no I/O.
libraries=(libtc_vsr.a libtc_room.a libtc_common.a libtc_edge.a)
forbidden=(
  malloc calloc realloc free reallocarray aligned_alloc posix_memalign memalign valloc
  strdup strndup
  time clock_gettime gettimeofday clock
  rand random srand srandom rand_r getrandom arc4random
  usleep nanosleep sleep clock_nanosleep
  read write pread pwrite readv writev preadv pwritev open openat creat close
  socket send sendto sendmsg recv recvfrom recvmsg connect accept bind listen
  epoll_wait epoll_pwait poll select
  fsync fdatasync sync_file_range
)
# Everything else is allowed: libc string/format helpers (memcpy, memset, memcmp, memmove, strlen,
# snprintf, vsnprintf), libsodium (crypto_generichash*, sodium_*), and in tc_common's tc_assert.c
# the failure path (fprintf, fflush, abort, stderr).

declare -A forbidden_set=()
for name in "${forbidden[@]}"; do forbidden_set[$name]=1; done

# Strips the variants a forbidden function may appear as: versions (name@GLIBC_x), fortify
# (__name_chk), large-file (name64, __name64_2, __open_2) and internal (__name, __libc_name).
base_name() {
  local symbol=${1%%@*}
  symbol=${symbol#__libc_}
  symbol=${symbol#__}
  symbol=${symbol%_chk}
  symbol=${symbol%_2}
  symbol=${symbol%64}
  printf '%s' "$symbol"
}

hits=0
checked=0
symbols_total=0
for library in "${libraries[@]}"; do
  path=$(find "$build_dir" -name "$library" -type f -print -quit)
  if [[ -z "$path" ]]; then
    echo "check-core-symbols: $library not found under '$build_dir' (build the core first)" >&2
    exit 2
  fi
  # nm -u lists undefined symbols per member object; "-A" prefixes library:member.
  if ! undefined=$(nm -A -u "$path"); then
    echo "check-core-symbols: nm failed on '$path'" >&2
    exit 2
  fi
  while read -r location symbol; do
    [[ -z "${symbol:-}" ]] && continue
    symbols_total=$((symbols_total + 1))
    base=$(base_name "$symbol")
    if [[ -n "${forbidden_set[$base]:-}" ]]; then
      echo "FORBIDDEN: $library (${location%:}) references '$symbol'" >&2
      hits=$((hits + 1))
    fi
  done < <(awk '{ print $1, $NF }' <<<"$undefined")
  checked=$((checked + 1))
done

if [[ $hits -ne 0 ]]; then
  echo "check-core-symbols: FAILED: $hits forbidden reference(s) in the deterministic core" >&2
  exit 1
fi
echo "check-core-symbols: OK: $checked libraries (${libraries[*]}), $symbols_total undefined" \
  "references, none of ${#forbidden[@]} forbidden functions"
