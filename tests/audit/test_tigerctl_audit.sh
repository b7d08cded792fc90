#!/bin/sh
# Real-process test of tigerctl's offline commands (ctest: test_audit_cli).
#   test_tigerctl_audit.sh TIGERCTL AUDIT_FIXTURE WORKDIR
# keygen makes the keys, the library writes a log with them (audit_fixture), and verify-audit
# must PASS the log and FAIL tampered copies, naming the line, with the documented exit codes.
set -eu
tigerctl=$1
fixture=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout" >&2; cat out.txt >&2 || true
  echo "--- stderr" >&2; cat err.txt >&2 || true
  exit 1
}

# run EXIT COMMAND...: runs the command, output in out.txt/err.txt, and checks its exit code.
run() {
  want=$1
  shift
  set +e
  "$@" >out.txt 2>err.txt
  got=$?
  set -e
  [ "$got" = "$want" ] || fail "exit $got (expected $want): $*"
}

expect_out() { grep -q -- "$1" out.txt || fail "stdout lacks: $1"; }
expect_out_line() { grep -qx -- "$1" out.txt || fail "stdout has no line: $1"; }
expect_err() { grep -q -- "$1" err.txt || fail "stderr lacks: $1"; }

# --- keygen
run 0 "$tigerctl" keygen --out controller
expect_out_line "wrote controller (secret key, mode 0600) and controller.pub (public key)"
expect_out '^public key [0-9a-f]\{64\}$'
run 0 "$tigerctl" keygen --out alice
run 0 "$tigerctl" --json keygen --out bob
expect_out '"public_key":"[0-9a-f]\{64\}"'
[ "$(stat -c %a controller)" = 600 ] || fail "secret key mode is $(stat -c %a controller)"
[ "$(stat -c %a alice)" = 600 ] || fail "secret key mode"
head -c 28 alice.pub | grep -q '^tigerchat-ed25519-public-v1 $' || fail "public key file format"
cp alice alice.before
run 1 "$tigerctl" keygen --out alice
expect_err "already exists"
cmp -s alice alice.before || fail "keygen overwrote a secret key"
run 2 "$tigerctl" keygen
expect_err "--out FILE is required"

# --- a good log, written by the library with the keys above
"$fixture" controller alice audit.jsonl checkpoints.jsonl 25 || fail "fixture"
[ "$(wc -l < audit.jsonl)" = 25 ] || fail "fixture wrote $(wc -l < audit.jsonl) lines"
[ "$(wc -l < checkpoints.jsonl)" = 3 ] || fail "fixture wrote $(wc -l < checkpoints.jsonl) lines"
pinned="--checkpoint checkpoints.jsonl --key alice.pub --controller-key controller.pub"

# shellcheck disable=SC2086
run 0 "$tigerctl" verify-audit --file audit.jsonl $pinned
expect_out_line "PASS seq 1..25 (25 entries)"
expect_out_line "checkpoints: 3 matched, the last at seq 25"
[ ! -s err.txt ] || fail "warnings with every key pinned"
# shellcheck disable=SC2086
run 0 "$tigerctl" --json verify-audit --file audit.jsonl $pinned
expect_out '"result":"pass"'
expect_out '"seq_first":1,"seq_last":25'
# Nothing pinned: still PASS, with warnings that say what was not checked.
run 0 "$tigerctl" verify-audit --file=audit.jsonl
expect_out_line "PASS seq 1..25 (25 entries)"
expect_err "warning: no --checkpoint"
expect_err "warning: no --key"
expect_err "warning: no --controller-key"

# --- tampered copies: the first bad line is named, exit 1
sed '7s/"node":"n7"/"node":"n8"/' audit.jsonl > edited.jsonl
cmp -s audit.jsonl edited.jsonl && fail "sed did not edit line 7"
# shellcheck disable=SC2086
run 1 "$tigerctl" verify-audit --file edited.jsonl $pinned
expect_out_line "FAIL line 7: controller signature invalid"
expect_out_line "verified before it: seq 1..6 (6 entries)"
# shellcheck disable=SC2086
run 1 "$tigerctl" verify-audit --json --file edited.jsonl $pinned
expect_out '"result":"fail","reason":"controller_sig","file":"log","line":7'

sed '12d' audit.jsonl > deleted.jsonl
# shellcheck disable=SC2086
run 1 "$tigerctl" verify-audit --file deleted.jsonl $pinned
expect_out_line "FAIL line 12: seq 13 where 12 was expected (line 11 has seq 11)"

head -n 22 audit.jsonl > truncated.jsonl
# shellcheck disable=SC2086
run 1 "$tigerctl" verify-audit --file truncated.jsonl $pinned
expect_out_line \
  "FAIL checkpoint line 3: file ends at seq 22 but checkpoint names seq 25 (truncated)"
run 0 "$tigerctl" verify-audit --file truncated.jsonl
expect_out_line "PASS seq 1..22 (22 entries)"

# Signed by alice, but only bob is trusted.
run 1 "$tigerctl" verify-audit --file audit.jsonl --key bob.pub
expect_out_line "FAIL line 1: actor key [0-9a-f]\{16\}... is not a trusted operator key"
# The controller key passed as an operator key does not make the controller an operator.
run 1 "$tigerctl" verify-audit --file audit.jsonl --controller-key alice.pub
expect_out "FAIL line 1: controller key .* is not a trusted controller key"

# --- operating and usage errors
run 1 "$tigerctl" verify-audit --file missing.jsonl
expect_err "cannot open missing.jsonl"
run 2 "$tigerctl" verify-audit
expect_err "--file FILE is required"
run 2 "$tigerctl" verify-audit --file audit.jsonl --bogus
expect_err "unknown option --bogus"
run 2 "$tigerctl" verify-audit --file audit.jsonl --file audit.jsonl
expect_err "given more than 1 time"
run 2 "$tigerctl" verify-audit --file audit.jsonl --key alice
expect_err "not a public key file"
run 2 "$tigerctl" verify-audit --file
expect_err "needs a value"
run 2 "$tigerctl" frobnicate
expect_err "unknown command 'frobnicate'"
run 2 "$tigerctl"
run 2 "$tigerctl" --frob

# --- help everywhere
run 0 "$tigerctl" --help
expect_out "verify-audit"
expect_out "keygen"
run 0 "$tigerctl" help verify-audit
expect_out "usage: tigerctl verify-audit"
run 0 "$tigerctl" verify-audit --help
expect_out "--controller-key PUBFILE ..."
run 0 "$tigerctl" keygen -h
expect_out "usage: tigerctl keygen"
run 0 "$tigerctl" --version
expect_out "^tigerctl [0-9]"

echo "test_tigerctl_audit: all checks passed"
