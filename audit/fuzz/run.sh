#!/usr/bin/env bash
# Fuzzes the audit verifier with libFuzzer (clang, ASan + UBSan). Not part of the CMake build.
#   audit/fuzz/run.sh [SECONDS]     default 60; work files in $TC_FUZZ_DIR (default /tmp/tc-audit-fuzz)
# Seeds: a real log and checkpoint file written by the library (tests/audit/audit_fixture.c) with
# the controller key the harness pins (seed bytes 0xc0), so the fuzzer starts from signed lines.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
dir=${TC_FUZZ_DIR:-/tmp/tc-audit-fuzz}
mkdir -p "$dir/corpus" "$dir/seed"
sources=("$root"/audit/audit_*.c "$root/common/tc_assert.c" "$root/common/tc_err.c"
         "$root/common/tc_checksum.c")
includes=(-I"$root/audit" -I"$root/common" -I/usr/include/cjson)
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-sanitize-recover=all)

clang "${flags[@]}" -fsanitize=address,undefined "${includes[@]}" \
  "$root/tests/audit/audit_fixture.c" "${sources[@]}" -lsodium -lcjson -o "$dir/audit_fixture"
umask 077
printf 'tigerchat-ed25519-secret-v1 %s\n' "$(printf 'c0%.0s' $(seq 32))" > "$dir/seed/controller"
printf 'tigerchat-ed25519-secret-v1 %s\n' "$(printf 'a1%.0s' $(seq 32))" > "$dir/seed/operator"
rm -f "$dir/seed/log" "$dir/seed/checkpoints"
"$dir/audit_fixture" "$dir/seed/controller" "$dir/seed/operator" "$dir/seed/log" \
  "$dir/seed/checkpoints" 12
cp "$dir/seed/log" "$dir/corpus/seed-log"
{ cat "$dir/seed/log"; printf '#checkpoints\n'; cat "$dir/seed/checkpoints"; } \
  > "$dir/corpus/seed-log-checkpoints"

clang "${flags[@]}" -fsanitize=fuzzer,address,undefined "${includes[@]}" \
  "$root/audit/fuzz/fuzz_audit_verify.c" "${sources[@]}" -lsodium -lcjson \
  -o "$dir/fuzz_audit_verify"
"$dir/fuzz_audit_verify" -max_total_time="$seconds" -max_len=200000 -timeout=10 "$dir/corpus"
