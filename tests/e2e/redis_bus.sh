#!/usr/bin/env bash
# End-to-end test of the Redis pub/sub bus (docs/node.md §7, node/main/node_redis.c) with real
# processes: a private redis-server, a 3-node cluster (scripts/cluster.sh) with `bus = redis`, and
# Python WebSocket clients (tests/e2e/tc_client.py).
#
#   1. every node subscribes: PUBSUB NUMSUB tc:1:bus is 3; frames on the channel carry the
#      8-byte prefix (version 1, a node id 1..3);
#   2. a sender on node 1, subscribers on nodes 1, 2, 3: every message arrives once, in order, with
#      a valid hash chain; a typing event crosses nodes (only the bus carries typing: in redis mode
#      nothing else can deliver it) and arrives exactly once, also on the typer's own node (a node
#      skips its own frames);
#   3. redis-server is SIGKILLed mid-run: delivery stays complete and in order (subscribers fall
#      back to the local replica); the nodes stay healthy;
#   4. redis-server restarts on the same port: both connections of every node come back
#      (NUMSUB 3 again), typing crosses nodes again, messages still arrive in order;
#   5. no bus frame was invalid (tigerchat_bus_frames_invalid_total is 0 on every node).
#
# Environment: TC_NODE_BIN (default build/release/node/tigerchat-node), TC_CLUSTER_BASE_PORT
# (default 24000; client BASE+1..3, peer BASE+101..103, admin BASE+201..203, Redis the first free
# port from BASE+300), TC_CLUSTER_DIR (parent of this run's temporary directory; default $TMPDIR or
# /tmp), TC_KEEP=1 keeps the directory. Prints PASS or FAIL; exit status 0 on PASS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export TC_NODE_BIN=${TC_NODE_BIN:-$root/build/release/node/tigerchat-node}
export TC_CLUSTER_BASE_PORT=${TC_CLUSTER_BASE_PORT:-24000}
parent=${TC_CLUSTER_DIR:-${TMPDIR:-/tmp}}
mkdir -p "$parent"
work=$(mktemp -d "$parent/redis-bus.XXXXXX")
export TC_CLUSTER_DIR=$work/cluster
base=$TC_CLUSTER_BASE_PORT
cluster_started=0

fail() { echo "redis_bus: $*" >&2; echo "FAIL"; exit 1; }

cleanup() {
  local status=$?
  set +e
  if [ "$cluster_started" = 1 ]; then "$root/scripts/cluster.sh" down >/dev/null 2>&1; fi
  if [ -f "$work/redis.pid" ]; then
    local pid
    pid=$(cat "$work/redis.pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  if [ "$status" -ne 0 ]; then
    for n in 1 2 3; do
      [ -f "$TC_CLUSTER_DIR/node-$n.log" ] || continue
      echo "--- node $n log (tail)" >&2
      tail -n 15 "$TC_CLUSTER_DIR/node-$n.log" >&2
    done
  fi
  if [ "${TC_KEEP:-0}" = 1 ]; then echo "redis_bus: kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v redis-server >/dev/null || fail "redis-server not installed (scripts/deps.sh)"
command -v redis-cli >/dev/null || fail "redis-cli not installed (scripts/deps.sh)"
[ -x "$TC_NODE_BIN" ] || fail "no node binary at $TC_NODE_BIN"

# A free port for Redis in this run's range.
redis_port=$(/usr/bin/python3 - "$base" <<'EOF'
import socket, sys
base = int(sys.argv[1])
for port in range(base + 300, base + 400):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
EOF
)
[ -n "$redis_port" ] || fail "no free port in $((base + 300))..$((base + 399))"

# Redis: private, in-memory only. The config file lets the Python part restart it identically.
mkdir -p "$work/redis"
cat > "$work/redis.conf" <<EOF
port $redis_port
bind 127.0.0.1
save ""
appendonly no
dir $work/redis
logfile $work/redis/redis.log
daemonize no
EOF
redis-server "$work/redis.conf" &
echo $! > "$work/redis.pid"
for _ in $(seq 1 50); do
  [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
[ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] || fail "redis-server did not start"

# The cluster, every node with `bus = redis` (and rate limits out of the test's way).
export TC_CLUSTER_EXTRA="bus = redis
redis = 127.0.0.1:$redis_port
rate_connection_per_s = 100000
rate_connection_burst = 100000
rate_user_per_s = 100000
rate_user_burst = 100000"
cluster_started=1
"$root/scripts/cluster.sh" up >/dev/null || fail "cluster did not start"
grep -q "^bus = redis" "$TC_CLUSTER_DIR/node-1.conf" || fail "TC_CLUSTER_EXTRA not honoured"

export TC_ROOT=$root REDIS_PORT=$redis_port REDIS_CONF=$work/redis.conf REDIS_PID_FILE=$work/redis.pid
if /usr/bin/python3 - <<'EOF'
import asyncio, os, re, signal, subprocess, sys, time, urllib.request
sys.path.insert(0, os.path.join(os.environ["TC_ROOT"], "tests", "e2e"))
import tc_client as tc

PORT = int(os.environ["REDIS_PORT"])
CHANNEL = "tc:1:bus"


def redis_cli(*args):
    r = subprocess.run(["redis-cli", "-p", str(PORT), *map(str, args)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=5)
    return r.stdout.decode()


def numsub():
    lines = redis_cli("PUBSUB", "NUMSUB", CHANNEL).split()
    return int(lines[1]) if len(lines) == 2 and lines[0] == CHANNEL else -1


async def wait_numsub(want, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if numsub() == want:
            return
        await asyncio.sleep(0.1)
    tc.check(False, "PUBSUB NUMSUB %s is %d, want %d" % (CHANNEL, numsub(), want))


def metric(node, name):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % tc.admin_port(node),
                                  timeout=2).read().decode()
    total = 0
    for m in re.finditer(r"^%s(?:\{[^}]*\})? (\d+)$" % re.escape(name), text, re.M):
        total += int(m.group(1))
    return total


def redis_pid():
    return int(open(os.environ["REDIS_PID_FILE"]).read().strip())


async def monitor(frames):
    """A raw RESP subscriber: checks every payload's prefix (node_redis.h)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(CHANNEL), CHANNEL.encode()))
    await writer.drain()

    async def bulk():
        line = await reader.readline()
        tc.check(line.startswith(b"$"), "monitor: bad bulk %r" % line)
        data = await reader.readexactly(int(line[1:]) + 2)
        return data[:-2]

    try:
        while True:
            try:
                line = await reader.readline()
            except ConnectionError:
                return
            if not line:
                return
            tc.check(line == b"*3\r\n", "monitor: bad reply %r" % line)
            kind = await bulk()
            await bulk()  # the channel
            if kind == b"subscribe":
                await reader.readline()  # :count
                continue
            payload = await bulk()
            tc.check(len(payload) >= 8 + 24 and payload[2] == 1 and payload[3:8] == bytes(5),
                     "monitor: bad prefix %r" % payload[:8])
            tc.check(int.from_bytes(payload[:2], "little") in (1, 2, 3), "monitor: bad node id")
            frames.append(payload)
    finally:
        writer.close()


class Subscriber:
    def __init__(self, client, room):
        self.c, self.room, self.messages, self.typing = client, room, [], []

    async def run(self):
        while True:
            m = await self.c.events.get()
            if m.get("room") != self.room:
                continue
            if m.get("type") == "message":
                self.messages.append(m)
            elif m.get("type") == "typing":
                self.typing.append(m)


async def send_all(sender, room, bodies, sent, window=8, on_progress=None):
    for i in range(0, len(bodies), window):
        chunk = bodies[i:i + window]
        results = await asyncio.gather(*(sender.send_msg(room, b) for b in chunk))
        for b, r in zip(chunk, results):
            tc.expect_result(r)
            sent.append((int(r["seq"]), b))
        if on_progress:
            on_progress(len(sent))


async def wait_delivered(subs, count, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(len(s.messages) >= count for s in subs):
            return
        await asyncio.sleep(0.05)
    tc.check(False, "%s: delivered %s of %d" % (what, [len(s.messages) for s in subs], count))


def check_order(subs, sent):
    want = [b for _, b in sorted(sent)]
    seqs = sorted(s for s, _ in sent)
    tc.check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), "send seqs not consecutive")
    for s in subs:
        got = s.messages
        tc.check(len(got) == len(want), "node %d: %d messages, want %d (duplicates?)"
                 % (s.c.node, len(got), len(want)))
        tc.check([m["body"] for m in got] == want, "node %d: bodies out of order" % s.c.node)
        tc.check([int(m["seq"]) for m in got] == seqs, "node %d: seqs out of order" % s.c.node)
        tc.check_chain(got, first_seq=seqs[0])


async def typing_round(typer, room, subs, user, label):
    before = [len(s.typing) for s in subs]
    tc.expect_result(await typer.rpc({"op": "typing", "room": room}))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(len(s.typing) == b for s, b in zip(subs, before)):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a duplicate would arrive by now
    for s, b in zip(subs, before):
        new = s.typing[b:]
        tc.check(len(new) == 1 and new[0].get("user") == user,
                 "%s: node %d got %d typing events %s" % (label, s.c.node, len(new), new))


async def main():
    await wait_numsub(3, 10)
    print("  every node subscribed (PUBSUB NUMSUB %s = 3)" % CHANNEL)
    frames = []
    mon = asyncio.ensure_future(monitor(frames))

    room = tc.new_room()
    user_a, user_b = tc.new_user(), tc.new_user()
    sender = await tc.connect(1, user_a)
    tc.expect_result(await sender.rpc({"op": "create_room", "room": room}))
    subs = []
    for node in (3, 1, 2):  # node 3 first: the one the brief names
        c = await tc.connect(node, user_b)
        if node == 3:
            tc.expect_result(await c.rpc({"op": "join", "room": room}))
        tc.expect_result(await c.rpc({"op": "subscribe", "room": room, "since": "0"}))
        subs.append(Subscriber(c, room))
    readers = [asyncio.ensure_future(s.run()) for s in subs]

    # Phase 1: Redis up.
    sent = []
    await send_all(sender, room, ["p1-%04d" % i for i in range(200)], sent)
    await wait_delivered(subs, 200, 10, "phase 1")
    check_order(subs, sent)
    await typing_round(sender, room, subs, user_a, "phase 1 typing")
    received = sum(metric(n, "tigerchat_bus_frames_received_total") for n in (1, 2, 3))
    tc.check(received > 0, "no bus frame received through Redis")
    tc.check(len(frames) > 0, "monitor saw no frame on %s" % CHANNEL)
    print("  phase 1: 200 messages in order on nodes 3, 1, 2; typing once everywhere; "
          "%d frames on the channel, %d received by nodes" % (len(frames), received))

    # Phase 2: SIGKILL redis-server while sending.
    killed = []

    def kill_midway(count):
        if not killed and count >= len(sent_before) + 100:
            os.kill(redis_pid(), signal.SIGKILL)
            killed.append(count)

    sent_before = list(sent)
    await send_all(sender, room, ["p2-%04d" % i for i in range(200)], sent, on_progress=kill_midway)
    tc.check(killed, "redis-server was not killed")
    await wait_delivered(subs, 400, 15, "phase 2 (redis down)")
    check_order(subs, sent)
    for n in (1, 2, 3):  # healthy: /healthz answers 200
        urllib.request.urlopen("http://127.0.0.1:%d/healthz" % tc.admin_port(n), timeout=2)
    print("  phase 2: redis-server killed after %d messages; 400 in order on every node" % killed[0])
    await asyncio.wait_for(mon, 5)  # the monitor's connection ended with Redis

    # Phase 3: Redis back on the same port; every node reconnects and resubscribes.
    proc = subprocess.Popen(["redis-server", os.environ["REDIS_CONF"]])
    open(os.environ["REDIS_PID_FILE"], "w").write("%d\n" % proc.pid)
    await wait_numsub(3, 15)
    # Publishers reconnect with the same backoff as subscribers; and a user's typing in a room
    # goes out at most once per 2 s (docs/protocol.md §5.11): phase 1's may be that recent.
    await asyncio.sleep(2.1)
    await typing_round(sender, room, subs, user_a, "phase 3 typing")
    await send_all(sender, room, ["p3-%04d" % i for i in range(100)], sent)
    await wait_delivered(subs, 500, 10, "phase 3")
    check_order(subs, sent)
    invalid = [metric(n, "tigerchat_bus_frames_invalid_total") for n in (1, 2, 3)]
    tc.check(invalid == [0, 0, 0], "invalid bus frames: %s" % invalid)
    print("  phase 3: redis-server restarted; resubscribed, typing crosses nodes again, "
          "500 messages in order")

    for r in readers:
        r.cancel()
    for c in [sender] + [s.c for s in subs]:
        await c.close()


try:
    asyncio.run(main())
except (tc.TestFailure, asyncio.TimeoutError, ConnectionError) as e:
    print("  failed: %r" % e)
    sys.exit(1)
EOF
then
  :
else
  fail "client checks failed"
fi

for n in 1 2 3; do
  kill -0 "$(cat "$TC_CLUSTER_DIR/node-$n.pid")" 2>/dev/null || fail "node $n died"
  grep -q "redis publisher: connected" "$TC_CLUSTER_DIR/node-$n.log" || fail "node $n: no connect log"
  grep -q "redis subscriber: disconnected" "$TC_CLUSTER_DIR/node-$n.log" ||
    fail "node $n: no disconnect log"
done
echo "PASS"
