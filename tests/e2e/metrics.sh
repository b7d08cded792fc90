#!/usr/bin/env bash
# Metrics and logs end to end over real processes (docs/node.md §10, docs/controller.md §8,
# docs/operations.md "Metrics and logs"): a 4-node cluster (node 4 hosts nothing at first) and its
# controller on loopback (scripts/cluster.sh up --controller):
#   1. real traffic: tigerchat-bench ws sends through nodes 1-3 and subscribes (open loop);
#   2. a job: a one-move rebalance onto node 4, the controller's /metrics scraped while it runs;
#   3. /metrics of every node (admin port BASE+200+N) and of the controller (BASE+400) through
#      `promtool check metrics` (Debian package prometheus): any error or lint warning fails;
#   4. the key series exist and moved: commit latency and journal fdatasync histograms (buckets
#      cumulative, +Inf = _count), messages committed (every member applied the same count, at
#      least the bench's acks), prepares, edge ops, connections, fan-out and queue gauges,
#      dropped/rate-limited counters, job progress (steps done of all while running, the job by
#      state after);
#   5. every log line is structured: nodes `ts=<s.us> level=<l> node=<n> module=<m> [group=<g> ]
#      msg="..."` (or JSON with log_format = json), controller `<time> level=<l>
#      module=controller msg="..."` (quotes and backslashes escaped).
#
#   tests/e2e/metrics.sh BUILD_DIR        (a Release build: BUILD_DIR/node/tigerchat-node, ...)
# Environment: TC_CLUSTER_BASE_PORT (default 26500), TC_KEEP=1 keeps the work directory.
# Prints each check and PASS or FAIL; exit status 0 on PASS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: tests/e2e/metrics.sh BUILD_DIR}" && pwd)
export TC_NODE_BIN=$build/node/tigerchat-node
export TC_CONTROLLER_BIN=$build/controller/server/tigerchat-controller
export TC_TIGERCTL_BIN=$build/tigerctl/tigerctl
bench=$build/bench/tigerchat-bench
export TC_CLUSTER_BASE_PORT=${TC_CLUSTER_BASE_PORT:-26500}
export TC_CLUSTER_NODES=4 TC_CLUSTER_JOURNAL_SLOTS=256 TC_CLUSTER_STORE_SEGMENTS=16
export TC_CONTROLLER_LIVENESS_MS=2000
base=$TC_CLUSTER_BASE_PORT
work=$(mktemp -d "${TMPDIR:-/tmp}/tc-metrics.XXXXXX")
export TC_CLUSTER_DIR=$work/cluster
cluster=$root/scripts/cluster.sh
watch_pid=

fail() { echo "metrics e2e: $*" >&2; echo "FAIL"; exit 1; }

cleanup() {
  local status=$?
  set +e
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
  "$cluster" down >/dev/null 2>&1
  if [ "$status" -ne 0 ]; then
    for f in "$TC_CLUSTER_DIR"/controller.log "$TC_CLUSTER_DIR"/node-*.log; do
      [ -f "$f" ] || continue
      echo "--- $(basename "$f") (tail)" >&2
      tail -n 15 "$f" >&2
    done
  fi
  if [ "${TC_KEEP:-0}" = 1 ]; then echo "metrics e2e: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v promtool >/dev/null || fail "promtool not found (apt-get install prometheus)"
for binary in "$TC_NODE_BIN" "$TC_CONTROLLER_BIN" "$TC_TIGERCTL_BIN" "$bench"; do
  [ -x "$binary" ] || fail "no $binary (build the Release targets first)"
done
ctl() { "$TC_TIGERCTL_BIN" --controller "http://127.0.0.1:$((base + 400))" --key "$TC_CLUSTER_DIR/admin" "$@"; }
scrape() { curl -fsS -m 5 "$1" > "$2" || fail "GET $1 failed"; }
node_url() { echo "http://127.0.0.1:$((base + 200 + $1))/metrics"; }
controller_url="http://127.0.0.1:$((base + 400))/metrics"

started=$(date +%s.%N)
"$cluster" up --controller >/dev/null || fail "cluster did not start"
echo "metrics e2e: 4 nodes and the controller up (base port $base)"

# --- 1. traffic
"$bench" ws --jwt-key-file "$TC_CLUSTER_DIR/jwt.key" \
  --nodes "127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))" \
  --rate 300 --connections 6 --rooms 8 --subscribers 1 --duration-s 3 --warmup-s 1 \
  --json > "$work/bench.json" 2> "$work/bench.err" ||
  fail "bench: $(cat "$work/bench.err" "$work/bench.json")"
acks=$(/usr/bin/python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))
assert r["failure"] == "none", r
print(r["acks"])' "$work/bench.json") || fail "bench failed: $(cat "$work/bench.json")"
echo "metrics e2e: bench sent and acked $acks messages (measured window), no check failed"

# --- 2. a job to watch: one replica moves onto node 4; scrape the controller while it runs (and
# the nodes before it: a node's histograms must not go down when its replica retires)
for n in 1 2 3 4; do scrape "$(node_url "$n")" "$work/before-node-$n.prom"; done
ctl rebalance --max-moves 1 > "$work/rebalance.txt" 2>&1 || fail "rebalance: $(cat "$work/rebalance.txt")"
job=$(sed -n 's/^job \([0-9]*\) started.*/\1/p' "$work/rebalance.txt")
[ -n "$job" ] || fail "no rebalance job in: $(cat "$work/rebalance.txt")"
ctl job "$job" --watch > "$work/watch.txt" 2>&1 &
watch_pid=$!
running_scrapes=0
while kill -0 "$watch_pid" 2>/dev/null; do
  scrape "$controller_url" "$work/controller-running.prom.tmp"
  if grep -q "^tigerchat_controller_job_steps_done{job=\"$job\",kind=\"rebalance\"}" \
      "$work/controller-running.prom.tmp"; then
    mv "$work/controller-running.prom.tmp" "$work/controller-running.prom"
    running_scrapes=$((running_scrapes + 1))
  fi
  sleep 0.2
done
wait "$watch_pid" || fail "rebalance job $job failed: $(tail -n 8 "$work/watch.txt")"
watch_pid=
[ "$running_scrapes" -gt 0 ] || fail "job $job never showed in the controller's metrics while running"
echo "metrics e2e: rebalance job $job succeeded; $running_scrapes scrapes saw it running"

# --- 3. scrape everything; promtool
sleep 1.5 # heartbeats and the backups' commits settle
for n in 1 2 3 4; do scrape "$(node_url "$n")" "$work/node-$n.prom"; done
scrape "$controller_url" "$work/controller.prom"
for f in "$work"/node-*.prom "$work/controller.prom" "$work/controller-running.prom"; do
  [ -s "$f" ] || fail "$(basename "$f"): empty"
  if ! promtool check metrics < "$f" > "$work/promtool.out" 2>&1 || [ -s "$work/promtool.out" ]; then
    fail "promtool check metrics $(basename "$f"): $(cat "$work/promtool.out")"
  fi
  echo "metrics e2e: promtool check metrics $(basename "$f"): ok" \
    "($(grep -c '^# TYPE' "$f") families, $(grep -vc '^#' "$f") samples)"
done

# --- 4. the series
/usr/bin/python3 - "$work" "$acks" "$job" <<'EOF' || fail "series checks failed"
import collections, re, sys
work, acks, job = sys.argv[1], int(sys.argv[2]), sys.argv[3]
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

def parse(path):
    samples, types = [], {}
    for line in open(path):
        line = line.rstrip('\n')
        if line.startswith('# TYPE '):
            _, _, name, kind = line.split(' ', 3)
            types[name] = kind
            continue
        if not line or line.startswith('#'):
            continue
        m = LINE.match(line)
        assert m, 'unparsable line in %s: %r' % (path, line)
        labels = dict(LABEL.findall(m.group(2) or ''))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples, types

failures = []
def check(ok, what):
    print('  %s %s' % ('ok  ' if ok else 'FAIL', what))
    if not ok:
        failures.append(what)

def values(samples, name, **match):
    return [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in match.items())]

def total(samples, name, **match):
    return sum(values(samples, name, **match))

def histograms_sane(samples, types, where):
    for family, kind in types.items():
        if kind != 'histogram':
            continue
        series = collections.defaultdict(list)
        counts = {}
        for n, l, v in samples:
            key = tuple(sorted((k, x) for k, x in l.items() if k != 'le'))
            if n == family + '_bucket':
                series[key].append((float('inf') if l['le'] == '+Inf' else float(l['le']), v))
            elif n == family + '_count':
                counts[key] = v
        for key, buckets in series.items():
            les = [le for le, _ in buckets]
            cumulative = [v for _, v in buckets]
            ok = (les == sorted(les) and les[-1] == float('inf') and
                  cumulative == sorted(cumulative) and cumulative[-1] == counts.get(key))
            check(ok, '%s: %s%s buckets ascending and cumulative, +Inf == _count (%d)' %
                  (where, family, dict(key) or '', counts.get(key, -1)))

nodes = {n: parse('%s/node-%d.prom' % (work, n)) for n in (1, 2, 3, 4)}
print('node series:')
for n, (samples, types) in nodes.items():
    histograms_sane(samples, types, 'node %d' % n)
    for family in ('tigerchat_replica_prepares_total', 'tigerchat_replica_view_changes_total',
                   'tigerchat_replica_repair_requests_total', 'tigerchat_replica_syncs_total',
                   'tigerchat_replica_messages_dropped_invalid_total',
                   'tigerchat_edge_rate_limited_total', 'tigerchat_vsr_dropped_invalid_total',
                   'tigerchat_fanout_catch_ups_total', 'tigerchat_fanout_subscriptions_behind',
                   'tigerchat_fanout_send_buffered_bytes', 'tigerchat_link_queued_bytes',
                   'tigerchat_edge_batches_waiting', 'tigerchat_edge_connections',
                   'tigerchat_edge_commit_duration_seconds',
                   'tigerchat_storage_journal_fdatasync_duration_seconds'):
        check(family in types, 'node %d: family %s (%s)' % (n, family, types.get(family)))
for n in (1, 2, 3):
    samples, _ = nodes[n]
    syncs = total(samples, 'tigerchat_storage_journal_fdatasync_duration_seconds_count')
    check(syncs > 0, 'node %d: journal fdatasyncs observed: %d' % (n, syncs))
    check(total(samples, 'tigerchat_replica_ops_applied_total') > 0,
          'node %d: ops applied: %d' % (n, total(samples, 'tigerchat_replica_ops_applied_total')))
    check(total(samples, 'tigerchat_ws_handshakes_total') > 0,
          'node %d: WebSocket handshakes: %d' % (n, total(samples, 'tigerchat_ws_handshakes_total')))
# Histograms never go down, also across the rebalance that retired a replica of some node.
for n in nodes:
    before, _ = parse('%s/before-node-%d.prom' % (work, n))
    after = {(name, l.get('le')): v for name, l, v in nodes[n][0] if name.endswith(
        ('_bucket', '_count', '_sum')) and 'duration_seconds' in name}
    lower = [(k, v, after.get(k)) for name, l, v in before
             for k in [(name, l.get('le'))] if k in after and after[k] < v]
    check(not lower and after, 'node %d: latency histograms (%d series) did not go down across '
          'the rebalance%s' % (n, len(after), (': %s' % lower[:3]) if lower else ''))
commits = sum(total(nodes[n][0], 'tigerchat_edge_commit_duration_seconds_count') for n in nodes)
batches = sum(total(nodes[n][0], 'tigerchat_edge_batches_answered_total') for n in nodes)
check(commits > 0 and commits <= batches,
      'edge commit latency observations %d (of %d batches answered)' % (commits, batches))
seconds = sum(total(nodes[n][0], 'tigerchat_edge_commit_duration_seconds_sum') for n in nodes)
print('  info mean commit latency %.3f ms' % (1000.0 * seconds / max(commits, 1)))
ops = sum(total(nodes[n][0], 'tigerchat_edge_ops_committed_total') for n in nodes)
check(ops >= acks, 'edge ops committed %d >= bench acks %d' % (ops, acks))
prepares = sum(total(nodes[n][0], 'tigerchat_replica_prepares_total') for n in nodes)
check(prepares > 0, 'prepares made by primaries: %d' % prepares)
# The members that hosted a group from the start (nodes 1-3) applied the same messages (backups
# commit within a heartbeat); node 4's learner started from a synced checkpoint: at most as many.
committed = collections.defaultdict(dict)
for n, (samples, _) in nodes.items():
    for name, labels, value in samples:
        if name == 'tigerchat_replica_messages_committed_total':
            committed[labels['group']][n] = value
groups_total = 0
for group, by_node in sorted(committed.items()):
    original = {n: v for n, v in by_node.items() if n <= 3}
    ok = len(set(original.values())) == 1 and by_node.get(4, 0) <= max(original.values())
    check(ok, 'group %s: members applied the same messages: %s' % (group, by_node))
    groups_total += max(by_node.values())
check(groups_total >= acks, 'messages committed (max per group, summed) %d >= bench acks %d' %
      (groups_total, acks))

print('controller series:')
samples, types = parse('%s/controller.prom' % work)
check(total(samples, 'tigerchat_controller_heartbeats_total') > 0,
      'heartbeats accepted: %d' % total(samples, 'tigerchat_controller_heartbeats_total'))
check(values(samples, 'tigerchat_controller_nodes', live='true') == [4.0], 'nodes live: 4')
check(values(samples, 'tigerchat_controller_groups', health='healthy') == [4.0], 'groups healthy: 4')
check(values(samples, 'tigerchat_controller_jobs', state='succeeded') == [1.0],
      'jobs succeeded: %s' % values(samples, 'tigerchat_controller_jobs', state='succeeded'))
check(values(samples, 'tigerchat_controller_jobs', state='running') == [0.0], 'jobs running: 0')
check(values(samples, 'tigerchat_controller_job_steps_done', job=job) == [],
      'no progress series for job %s once it finished' % job)
running, _ = parse('%s/controller-running.prom' % work)
steps = values(running, 'tigerchat_controller_job_steps', job=job, kind='rebalance')
done = values(running, 'tigerchat_controller_job_steps_done', job=job, kind='rebalance')
check(steps == [1.0] and len(done) == 1 and done[0] <= steps[0],
      'while running: job %s steps %s, done %s' % (job, steps, done))
check(values(running, 'tigerchat_controller_jobs', state='running') == [1.0],
      'while running: jobs running 1')
stall = values(running, 'tigerchat_controller_job_step_stall_seconds')
limit = values(running, 'tigerchat_controller_job_step_stall_limit_seconds')
check(len(stall) == 1 and len(limit) == 1 and 0 <= stall[0] < limit[0],
      'while running: step stall %s s below the limit %s s' % (stall, limit))
sys.exit(1 if failures else 0)
EOF

# --- 5. structured log lines
/usr/bin/python3 - "$TC_CLUSTER_DIR" <<'EOF' || fail "log format checks failed"
import glob, json, re, sys
node_text = re.compile(r'^ts=\d+\.\d{6} level=(error|warn|info|debug) node=\d+ module=[a-z_]+ '
                       r'(group=\d+ )?msg="([^"\\]|\\.)*"$')
ctl_text = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(error|warn|info|debug) '
                      r'module=controller msg="')
bad = 0
for path in sorted(glob.glob(sys.argv[1] + '/node-*.log')) + [sys.argv[1] + '/controller.log']:
    lines = [l.rstrip('\n') for l in open(path) if l.strip()]
    pattern = ctl_text if path.endswith('controller.log') else node_text
    wrong = []
    for line in lines:
        if line.startswith('{'):
            record = json.loads(line)
            if not {'ts_ns', 'level', 'node', 'module', 'msg'} <= set(record):
                wrong.append(line)
        elif not pattern.match(line):
            wrong.append(line)
    print('  %s %s: %d lines structured' % ('ok  ' if not wrong else 'FAIL', path.split('/')[-1],
                                              len(lines) - len(wrong)))
    for line in wrong[:3]:
        print('       not structured: %r' % line[:160])
    bad += len(wrong)
sys.exit(1 if bad else 0)
EOF

elapsed=$(/usr/bin/python3 -c "import sys,time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$started")
echo "metrics e2e: ${elapsed} s"
echo "PASS"
