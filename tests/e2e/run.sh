#!/usr/bin/env bash
# End-to-end tests: a fresh local 3-node cluster (scripts/cluster.sh) on free ports in a temp dir,
# the protocol tests, then the fault tests (SIGKILL/restart of real processes).
#
#   tests/e2e/run.sh BIN [TEST_NAME_SUBSTRING...]
#
# Exits non-zero when any test fails or a node died. On failure the cluster dir (node logs) is kept
# and the tail of every node log is printed. Needs /usr/bin/python3 with websockets (10.x) and curl.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:?usage: tests/e2e/run.sh BIN [TEST_NAME_SUBSTRING...]}
shift
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "e2e: no executable at $bin" >&2; exit 2; }
py=/usr/bin/python3
$py -c 'import websockets' 2>/dev/null || { echo "e2e: $py lacks the websockets module" >&2; exit 2; }

ports_free() { # BASE: the 9 ports of a cluster are all bindable on 127.0.0.1
  $py - "$1" <<'EOF'
import socket, sys
b = int(sys.argv[1])
for p in [b + o + n for o in (0, 100, 200) for n in (1, 2, 3)]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}

base=
for _ in $(seq 1 50); do
  # Below the kernel's ephemeral range (ip_local_port_range, 32768 by default): a restarted node
  # must be able to bind its ports again, which fails if an outbound connection was given one of
  # them as its source port meanwhile (seen once at base 39900). Above the other e2e scripts'
  # fixed bases (24000-29000); the controller, when there is one, takes BASE+400.
  candidate=$(( 30000 + (RANDOM % 20) * 100 ))
  if ports_free "$candidate"; then base=$candidate; break; fi
done
[ -n "$base" ] || { echo "e2e: no free base port found" >&2; exit 2; }

dir=$(mktemp -d /tmp/tc-e2e.XXXXXX)
export TC_CLUSTER_DIR=$dir TC_CLUSTER_BASE_PORT=$base TC_NODE_BIN=$bin TC_CLUSTER_WAIT_S=30
export TC_CLUSTER_JOURNAL_SLOTS=${TC_CLUSTER_JOURNAL_SLOTS:-256} TC_CLUSTER_STORE_SEGMENTS=${TC_CLUSTER_STORE_SEGMENTS:-16}
failed=0
cleanup() {
  "$root/scripts/cluster.sh" down >/dev/null 2>&1 || true
  for n in 1 2 3; do # belt and braces: only our own pids
    [ -f "$dir/node-$n.pid" ] && kill -9 "$(cat "$dir/node-$n.pid")" 2>/dev/null || true
  done
  if [ "$failed" -ne 0 ]; then
    for n in 1 2 3; do
      echo "---- tail of $dir/node-$n.log"
      tail -n 25 "$dir/node-$n.log" 2>/dev/null
    done
    mv "$dir/data" "$dir.data" 2>/dev/null  # the logs and configs stay
    echo "e2e: logs kept in $dir"
  else
    mv "$dir" "$dir.data"
  fi
  # ~2.5 GB of preallocated replica files: on a filesystem mounted with `discard` a synchronous
  # rm takes ~20 s, so it runs detached.
  nohup rm -rf "$dir.data" >/dev/null 2>&1 &
}
trap cleanup EXIT
trap 'failed=1; exit 130' INT TERM

t0=$(date +%s)
echo "e2e: cluster in $dir, base port $base, binary $bin"
if ! "$root/scripts/cluster.sh" up; then
  echo "e2e: cluster did not come up" >&2
  failed=1; exit 1
fi

declare -a results
for t in test_protocol.py test_faults.py; do
  echo "==== $t"
  timeout 150 "$py" -u "$here/$t" "$@" 2>&1 | tee "$dir/$t.out"
  rc=${PIPESTATUS[0]}
  summary=$(grep -E '^test_[a-z_]+\.py: ' "$dir/$t.out" | tail -1)
  if [ "$rc" -eq 0 ]; then
    results+=("PASS ${summary:-$t}")
  else
    [ "$rc" -eq 124 ] && summary="$t: killed after 150 s"
    results+=("FAIL ${summary:-$t (exit $rc)}")
    while read -r line; do results+=("     $line"); done < <(grep -E '^FAIL ' "$dir/$t.out")
    failed=1
  fi
done

# No node may have died or logged an assertion during the run.
for n in 1 2 3; do
  if ! { [ -f "$dir/node-$n.pid" ] && kill -0 "$(cat "$dir/node-$n.pid")" 2>/dev/null; }; then
    results+=("FAIL node $n is not running at the end"); failed=1
  fi
  if grep -qiE 'assert|panic|sanitizer|fatal' "$dir/node-$n.log" 2>/dev/null; then
    results+=("FAIL node $n logged: $(grep -iE 'assert|panic|sanitizer|fatal' "$dir/node-$n.log" | head -1 | cut -c1-160)")
    failed=1
  fi
done

echo "==== summary ($(( $(date +%s) - t0 ))s)"
printf '%s\n' "${results[@]}"
if [ "$failed" -ne 0 ]; then echo "e2e: FAILED"; exit 1; fi
echo "e2e: all passed"
