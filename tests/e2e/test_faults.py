"""Real-process fault tests: SIGKILL nodes of a running 3-node cluster (scripts/cluster.sh kill/start).

Run via tests/e2e/run.sh, or by hand: TC_CLUSTER_DIR=... TC_CLUSTER_BASE_PORT=... python3 test_faults.py [NAME...]
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tc_client import *  # noqa: E402,F401,F403

RETRYABLE = ("not_leader", "timeout", "server_busy", "rate_limited")


def alive(n):
    try:
        metrics(n, timeout=0.5)
        return True
    except OSError:
        return False


async def connect_any(user, prefer, deadline):
    """Connect to the first node that answers, starting at `prefer` (1-based), cycling."""
    i = prefer - 1
    while time.monotonic() < deadline:
        n = NODES[i % len(NODES)]
        i += 1
        try:
            return await connect(n, user, retries=2)
        except (OSError, HandshakeRefused, asyncio.TimeoutError, websockets.WebSocketException):
            await asyncio.sleep(0.05)
    raise TestFailure("user %s could not connect to any node" % user)


class Run:
    """Book-keeping of one load run."""

    def __init__(self):
        self.acks = []          # (t_ack, key, seq, hash, body, t_first_send, duplicate)
        self.kill_t = None
        self.retries = 0
        self.reconnects = 0
        self.errors = []


async def reliable_sender(run, user, room, count, prefer, label, pace_s, deadline, attempt_timeout=2.0):
    """Sends `count` messages; every one is retried with the same key until acked."""
    c = None
    node = prefer
    for i in range(count):
        key = new_key()
        body = "%s-%d key=%s" % (label, i, key)
        t_first = None
        while True:
            if time.monotonic() > deadline:
                raise TestFailure("%s: message %d never acked" % (label, i))
            if c is None or c.closed.done():
                if c is not None or t_first is not None or i > 0:
                    run.reconnects += 1
                    node = node % len(NODES) + 1
                c = await connect_any(user, node, deadline)
                node = c.node
            t_send = time.monotonic()
            t_first = t_first or t_send
            try:
                r = await c.rpc({"op": "send", "room": room, "key": key, "body": body}, timeout=attempt_timeout)
            except (asyncio.TimeoutError, ConnectionError):
                run.retries += 1
                c.abort()
                c = None                       # unknown outcome: same key, another node
                continue
            if r.get("type") == "error":
                if r.get("error") in RETRYABLE:
                    if r.get("error") != "rate_limited":
                        run.retries += 1
                    await asyncio.sleep(max(r.get("retry_after_ms", 20), 5) / 1000.0)
                    continue
                if r.get("error") in ("room_not_found", "not_member") and time.monotonic() - t_first < 3:
                    await asyncio.sleep(0.02)  # a fresh connection on a lagging replica
                    continue
                raise TestFailure("%s: send %d refused: %s" % (label, i, r))
            run.acks.append((time.monotonic(), key, int(r["seq"]), r["hash"], body, t_first, r["duplicate"]))
            break
        if pace_s:
            await asyncio.sleep(pace_s)
    if c is not None:
        await c.close()


async def setup_room(users, node=1):
    room = new_room()
    c = await connect(node, users[0])
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    for u in users[1:]:
        expect_result(await retry_rpc(c, {"op": "ping"}))
        cu = await connect(node, u)
        expect_result(await retry_rpc(cu, {"op": "join", "room": room}, retry_errors=("room_not_found",)))
        await cu.close()
    await c.close()
    return room


async def kill_when(run, predicate, node, deadline):
    while not predicate():
        if time.monotonic() > deadline:
            raise TestFailure("load never reached the kill point")
        await asyncio.sleep(0.005)
    run.kill_t = time.monotonic()
    cluster("kill", node)
    print("    killed node %d at ack #%d" % (node, len(run.acks)), flush=True)


def check_acks(run, expected):
    keys = {}
    for a in run.acks:
        _, key, seq, h, body, _, _ = a
        check(key not in keys, "key acked twice by the client loop")
        keys[key] = a
    check(len(keys) == expected, "%d acks, expected %d" % (len(keys), expected))
    seqs = sorted(a[2] for a in run.acks)
    check(seqs == list(range(1, expected + 1)), "acked seqs are not 1..%d: dups or gaps (first diffs %s)" % (
        expected, [s for i, s in enumerate(seqs) if s != i + 1][:10]))
    return keys


async def check_history_on(node, user, room, run, expected):
    c = await connect(node, user)
    head, msgs = await history_all(c, room, expect_head=expected, timeout=10)
    await c.close()
    check(head == expected, "node %d: head_seq %d, expected %d" % (node, head, expected))
    check([int(m["seq"]) for m in msgs] == list(range(1, expected + 1)), "node %d: seqs not 1..%d" % (node, expected))
    check_chain(msgs, first_seq=1, prev_hash=ZERO_HASH)
    bodies = [m["body"] for m in msgs]
    check(len(set(bodies)) == len(bodies), "node %d: a body appears twice (a retried key committed twice)" % node)
    by_key = {a[1]: a for a in run.acks}
    for m in msgs:
        key = m["body"].rsplit("key=", 1)[1]
        a = by_key.get(key)
        check(a is not None, "node %d: seq %s was never acked" % (node, m["seq"]))
        check(a[2] == int(m["seq"]) and a[3] == m["hash"], "node %d: ack (%d, %s) != history seq %s" % (
            node, a[2], a[3][:8], m["seq"]))
    return [(m["seq"], m["hash"]) for m in msgs]


async def wait_caught_up(node, group, others, timeout=10.0):
    """Until `node`'s commit for `group` reaches the others' (their max). Returns ms."""
    t0 = time.monotonic()
    while True:
        try:
            target = max(group_metric(metrics(n), "tigerchat_replica_commit", group) for n in others)
            mine = group_metric(metrics(node), "tigerchat_replica_commit", group)
            if mine is not None and mine >= target:
                return (time.monotonic() - t0) * 1000, int(mine), int(target)
        except OSError:
            mine, target = None, None
        if time.monotonic() - t0 > timeout:
            raise TestFailure("node %d commit %s for group %d did not reach %s in %.0fs" % (node, mine, group, target, timeout))
        await asyncio.sleep(0.05)


def ack_gaps(run):
    ts = sorted(a[0] for a in run.acks)
    return max((b - a for a, b in zip(ts, ts[1:])), default=0)


# ================================================================================================

@timeout(75)
async def test_kill_backup_under_load():
    users = [new_user() for _ in range(5)]
    room = await setup_room(users)
    group = room_group(room)
    primary = primary_node(group)
    check(primary is not None, "no primary for group %d in /metrics" % group)
    backup = [n for n in NODES if n != primary][0]
    print("    room %s group %d primary node %d, killing backup node %d" % (room, group, primary, backup))
    run = Run()
    deadline = time.monotonic() + 50
    per, total = 100, 500
    # One sender starts on each node (two on the backup): those on the killed node must reconnect.
    prefs = [1, 2, 3, backup, backup]
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(reliable_sender(run, u, room, per, p, "b%d" % i, 0.008, deadline))
             for i, (u, p) in enumerate(zip(users, prefs))]
    killer = asyncio.ensure_future(kill_when(run, lambda: len(run.acks) >= 120, backup, deadline))
    try:
        await asyncio.wait_for(asyncio.gather(*tasks, killer), 55)
    finally:
        for t in tasks + [killer]:
            t.cancel()
    gap = ack_gaps(run)
    print("    %d acks in %.2fs, retries=%d reconnects=%d max_ack_gap_ms=%.0f" % (
        len(run.acks), time.monotonic() - t0, run.retries, run.reconnects, gap * 1000), flush=True)
    check_acks(run, total)
    check(gap < 2.0, "acks stalled %.0f ms after a backup was killed" % (gap * 1000))
    live = [n for n in NODES if n != backup]
    ref = None
    for n in live:
        h = await check_history_on(n, users[0], room, run, total)
        check(ref is None or h == ref, "node %d history differs" % n)
        ref = h
    cluster("start", backup)
    ms, mine, target = await wait_caught_up(backup, group, live)
    print("    node %d restarted, caught up (commit %d >= %d) in %.0f ms" % (backup, mine, target, ms))
    h = await check_history_on(backup, users[0], room, run, total)
    check(h == ref, "restarted node %d serves a different history" % backup)


@timeout(90)
async def test_kill_primary_under_load_failover():
    users = [new_user() for _ in range(5)]
    reader = new_user()
    room = await setup_room(users + [reader])
    group = room_group(room)
    primary = primary_node(group)
    check(primary is not None, "no primary for group %d in /metrics" % group)
    survivors = [n for n in NODES if n != primary]
    sub_node = survivors[-1]
    print("    room %s group %d: primary on node %d, subscriber on node %d" % (room, group, primary, sub_node))
    run = Run()
    per, total = 80, 400
    deadline = time.monotonic() + 60
    done = asyncio.Event()
    seen = []                     # messages the subscriber got, in order
    sub_state = {"resubscribes": 0}

    async def subscriber():
        last_seq, last_hash, node = 0, ZERO_HASH, sub_node
        while not (done.is_set() and last_seq >= total):
            c = await connect_any(reader, node, deadline)
            node = c.node
            r = await retry_rpc(c, {"op": "subscribe", "room": room, "since": str(last_seq)},
                                retry_errors=("room_not_found", "not_member", "timeout", "not_leader", "server_busy"))
            if r.get("type") != "result":
                c.abort()
                await asyncio.sleep(0.05)
                continue
            sub_state["resubscribes"] += 1
            while not c.closed.done() and not (done.is_set() and last_seq >= total):
                try:
                    m = await c.next_event(lambda e: e.get("type") in ("message", "truncated", "catch_up", "unsubscribed"), timeout=0.5)
                except asyncio.TimeoutError:
                    continue
                if m["type"] != "message":
                    if m["type"] == "unsubscribed":
                        raise TestFailure("subscription ended: %s" % m)
                    continue
                check(int(m["seq"]) == last_seq + 1, "subscriber: seq %s after %d" % (m["seq"], last_seq))
                check(m["prev_hash"] == last_hash, "subscriber: seq %s does not link" % m["seq"])
                seen.append(m)
                last_seq, last_hash = int(m["seq"]), m["hash"]
            await c.close()

    sub_task = asyncio.ensure_future(subscriber())
    prefs = [1, 2, 3, primary, survivors[0]]
    tasks = [asyncio.ensure_future(reliable_sender(run, u, room, per, p, "p%d" % i, 0.008, deadline,
                                                  attempt_timeout=0.4))
             for i, (u, p) in enumerate(zip(users, prefs))]
    killer = asyncio.ensure_future(kill_when(run, lambda: len(run.acks) >= 100, primary, deadline))
    try:
        await asyncio.wait_for(asyncio.gather(*tasks, killer), 65)
        done.set()
        await asyncio.wait_for(sub_task, 15)
    finally:
        for t in tasks + [killer, sub_task]:
            t.cancel()
    after = [a for a in run.acks if a[0] >= run.kill_t]
    new = [a for a in after if a[5] >= run.kill_t]
    first_any = (min(a[0] for a in after) - run.kill_t) * 1000 if after else float("nan")
    failover = (min(a[0] for a in new) - run.kill_t) * 1000 if new else float("nan")
    new_primary = primary_node(group, survivors)
    print("    failover_ms=%.0f (first ack of a send issued after the kill; first ack of any kind: %.0f ms)"
          % (failover, first_any), flush=True)
    print("    new primary node %s; %d acks, retries=%d reconnects=%d, subscriber got %d (subscribes=%d)" % (
        new_primary, len(run.acks), run.retries, run.reconnects, len(seen), sub_state["resubscribes"]), flush=True)
    check_acks(run, total)
    check(failover == failover and failover < 10000, "no new ack within 10 s of killing the primary")
    check([int(m["seq"]) for m in seen] == list(range(1, total + 1)), "subscriber order is not 1..%d" % total)
    check_chain(seen, first_seq=1, prev_hash=ZERO_HASH)
    by_seq = {a[2]: a[3] for a in run.acks}
    check(all(by_seq[int(m["seq"])] == m["hash"] for m in seen), "subscriber hashes differ from acks")
    ref = None
    for n in survivors:
        h = await check_history_on(n, users[0], room, run, total)
        check(ref is None or h == ref, "node %d history differs" % n)
        ref = h
    cluster("start", primary)
    ms, mine, target = await wait_caught_up(primary, group, survivors)
    print("    old primary node %d restarted, caught up (commit %d >= %d) in %.0f ms" % (primary, mine, target, ms))
    h = await check_history_on(primary, users[0], room, run, total)
    check(h == ref, "restarted node %d serves a different history" % primary)
    # The group still takes writes with all three nodes back.
    c = await connect(primary, users[0])
    r = expect_result(await retry_rpc(c, {"op": "send", "room": room, "key": new_key(), "body": "after restart"},
                                      retry_errors=("not_leader", "timeout", "server_busy")))
    check(r["seq"] == str(total + 1), "send after restart: %s" % r)
    await c.close()


@timeout(40)
async def test_sigterm_drains_clients_1001():
    node = 3
    u = new_user()
    c = await connect(node, u)
    room = new_room()
    expect_result(await c.rpc({"op": "create_room", "room": room}))
    expect_result(await c.rpc({"op": "subscribe", "room": room}))
    pid = int(open(os.path.join(DIR, "node-%d.pid" % node)).read())
    os.kill(pid, 15)
    code = await asyncio.wait_for(c.closed, 10)
    check(code == 1001, "close code %s on SIGTERM, expected 1001 (going away)" % code)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.1)
    else:
        raise TestFailure("node %d did not exit within 10 s of SIGTERM" % node)
    cluster("start", node)
    c = await connect(node, u)
    r = await retry_rpc(c, {"op": "send", "room": room, "key": new_key(), "body": "after restart"},
                        retry_errors=("not_leader", "timeout", "server_busy", "room_not_found"))
    check(expect_result(r)["seq"] == "1", "send after restart %s" % r)
    await c.close()


if __name__ == "__main__":
    sys.exit(run_module(globals(), default_timeout=90))
