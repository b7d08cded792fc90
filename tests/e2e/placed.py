"""Client steps of tests/e2e/placed.sh (groups placed by the controller, docs/node.md §15).

  placed.py none             before any group: a room of any slot is refused no_route on every node
  placed.py unrouted STATE   a room of slot >= 2048 is refused no_route on every node; a room of
                             slot < 2048 takes 5 messages; both rooms are written to STATE (json)
  placed.py routed STATE     the refused room now takes 5 messages (retried while the nodes adopt)
  placed.py history STATE N... every room has its 5 messages, chained, read on each node N
"""
import asyncio
import json
import sys
import time

from tc_client import (check, connect, expect_error, expect_result, history_all, check_chain,
                       mix64, new_room, new_user, ZERO_HASH)

MESSAGES = 5


def slot(room):
    return mix64(int(room)) % 4096


def room_in(low, high):
    while True:
        room = new_room()
        if low <= slot(room) <= high:
            return room


async def send_all(client, room):
    for i in range(MESSAGES):
        expect_result(await client.send_msg(room, "placed %d" % i))


async def none():
    for n in (1, 2, 3, 4):
        c = await connect(n)
        for room in (room_in(0, 2047), room_in(2048, 4095)):
            expect_error(await c.rpc({"op": "create_room", "room": room}), "no_route", 143)
        await c.close()
    print("placed: no group yet: rooms refused no_route on nodes 1-4")


async def unrouted(state):
    routed, unrouted_room, user = room_in(0, 2047), room_in(2048, 4095), new_user()
    for n in (1, 2, 3, 4):
        c = await connect(n, user)
        expect_error(await c.rpc({"op": "create_room", "room": unrouted_room}), "no_route", 143)
        expect_error(await c.rpc({"op": "history", "room": unrouted_room, "from_seq": "1",
                                  "limit": 10}), "no_route", 143)
        await c.close()
    c = await connect(1, user)
    expect_result(await c.rpc({"op": "create_room", "room": routed}))
    await send_all(c, routed)
    await c.close()
    json.dump({"rooms": [routed, unrouted_room], "user": user}, open(state, "w"))
    print("placed: room %s (slot %d) routed and written; room %s (slot %d) refused no_route" % (
        routed, slot(routed), unrouted_room, slot(unrouted_room)))


async def routed(state):
    saved = json.load(open(state))
    room = saved["rooms"][1]
    c = await connect(2, saved["user"])
    deadline = time.monotonic() + 15
    while True:  # the nodes adopt the new group within a heartbeat or two
        r = await c.rpc({"op": "create_room", "room": room})
        if r.get("error") == "no_route" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            continue
        expect_result(r)
        break
    await send_all(c, room)
    await c.close()
    print("placed: room %s (slot %d) routed once its group was created" % (room, slot(room)))


async def history(state, nodes):
    saved = json.load(open(state))
    rooms = saved["rooms"]
    for n in nodes:
        c = await connect(n, saved["user"])
        for room in rooms:
            head, msgs = await history_all(c, room, expect_head=MESSAGES)
            check(head == MESSAGES and len(msgs) == MESSAGES,
                  "node %d room %s: head %d, %d messages" % (n, room, head, len(msgs)))
            check_chain(msgs, first_seq=1, prev_hash=ZERO_HASH)
        await c.close()
    print("placed: %d rooms x %d messages, chained, on nodes %s" % (len(rooms), MESSAGES, nodes))


def main():
    step = sys.argv[1]
    if step == "none":
        asyncio.run(none())
        return
    state = sys.argv[2]
    if step == "unrouted":
        asyncio.run(unrouted(state))
    elif step == "routed":
        asyncio.run(routed(state))
    elif step == "history":
        asyncio.run(history(state, [int(n) for n in sys.argv[3:]]))
    else:
        sys.exit("unknown step " + step)


if __name__ == "__main__":
    main()
