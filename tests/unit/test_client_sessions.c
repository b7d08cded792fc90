// Unit tests of the replicated client table (node/vsr/client_sessions.c).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client_sessions.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

struct table {
    void *memory;
    struct tc_arena arena;
    struct tc_client_sessions sessions;
};

static void table_create(struct table *t, uint32_t capacity) {
    uint64_t size = tc_client_sessions_memory_size(capacity);
    t->memory = malloc(size);
    assert_non_null(t->memory);
    tc_arena_init(&t->arena, t->memory, size);
    assert_int_equal(tc_client_sessions_init(&t->sessions, capacity, &t->arena), TC_OK);
    tc_arena_seal(&t->arena);
    assert_int_equal(t->sessions.capacity, capacity);
    assert_int_equal(t->sessions.count, 0);
}

static void table_destroy(struct table *t) {
    free(t->memory);
    t->memory = NULL;
}

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

// A committed reply message (header + body) for `client`'s `request` at `op`.
static uint32_t make_reply(uint8_t *buffer, uint64_t client, uint32_t request, uint64_t op,
                           uint32_t body_size, uint8_t fill) {
    struct tc_header *h = (struct tc_header *)(void *)buffer;
    memset(h, 0, sizeof(*h));
    h->version = TC_HEADER_VERSION;
    h->command = TC_COMMAND_REPLY;
    h->operation = request == 0 ? TC_OPERATION_REGISTER : TC_OPERATION_CHAT;
    h->client = client;
    h->request = request;
    h->op = op;
    h->timestamp = 1000 + op;
    h->size = TC_HEADER_SIZE + body_size;
    for (uint32_t i = 0; i < body_size; i++) buffer[TC_HEADER_SIZE + i] = (uint8_t)(fill + i);
    tc_header_set_checksum_body(h, buffer + TC_HEADER_SIZE, body_size);
    tc_header_set_checksum(h);
    assert_null(tc_header_invalid(h));
    return h->size;
}

// Registers as the replica does: register, then store the register's reply.
static struct tc_client_session *register_client(struct table *t, uint64_t client, uint64_t op,
                                                 uint64_t *evicted) {
    struct tc_client_session *session =
        tc_client_sessions_register(&t->sessions, client, op, evicted);
    assert_non_null(session);
    assert_int_equal(session->client, client);
    assert_int_equal(session->session, op);
    assert_int_equal(session->last_op, op);
    assert_int_equal(session->request, 0);
    _Alignas(16) uint8_t reply[TC_HEADER_SIZE + 16];
    uint32_t size = make_reply(reply, client, 0, op, 16, (uint8_t)client);
    tc_client_sessions_store_reply(session, reply, size);
    return session;
}

static void commit_request(struct table *t, uint64_t client, uint32_t request, uint64_t op,
                           uint32_t body_size, uint8_t fill) {
    struct tc_client_session *session = tc_client_sessions_find(&t->sessions, client);
    assert_non_null(session);
    static uint8_t reply[TC_REPLY_SIZE_MAX];
    uint32_t size = make_reply(reply, client, request, op, body_size, fill);
    tc_client_sessions_store_reply(session, reply, size);
    assert_int_equal(session->request, request);
    assert_int_equal(session->last_op, op);
    assert_int_equal(session->reply_size, size);
    assert_memory_equal(session->reply, reply, size);
}

static void test_register_find(void **state) {
    (void)state;
    struct table t;
    table_create(&t, 8);
    assert_null(tc_client_sessions_find(&t.sessions, 1));
    uint64_t evicted = 99;
    struct tc_client_session *a = register_client(&t, 0xA, 1, &evicted);
    assert_int_equal(evicted, 0);
    struct tc_client_session *b = register_client(&t, 0xB, 2, &evicted);
    assert_int_equal(evicted, 0);
    assert_int_equal(t.sessions.count, 2);
    assert_ptr_equal(tc_client_sessions_find(&t.sessions, 0xA), a);
    assert_ptr_equal(tc_client_sessions_find(&t.sessions, 0xB), b);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a->reply, b->reply);
    assert_null(tc_client_sessions_find(&t.sessions, 0xC));
    assert_null(tc_client_sessions_find(&t.sessions, UINT64_MAX));
    table_destroy(&t);
}

static void test_store_reply(void **state) {
    (void)state;
    struct table t;
    table_create(&t, 4);
    uint64_t evicted = 0;
    register_client(&t, 0xA, 1, &evicted);
    register_client(&t, 0xB, 2, &evicted);
    commit_request(&t, 0xA, 1, 3, 100, 7);
    commit_request(&t, 0xA, 2, 5, 0, 0);
    commit_request(&t, 0xA, 3, 6, TC_REPLY_SIZE_MAX - TC_HEADER_SIZE, 9); // the largest reply
    struct tc_client_session *b = tc_client_sessions_find(&t.sessions, 0xB);
    assert_int_equal(b->request, 0);
    assert_int_equal(b->last_op, 2);
    // The same request again (a retried commit) is allowed: request >= stored.
    commit_request(&t, 0xA, 3, 6, 10, 1);
    table_destroy(&t);
}

// Builds a reply (10-byte body) and stores it with `size_override` (0: the reply's own size).
static void store_made_reply(struct tc_client_session *session, uint64_t client, uint32_t request,
                             uint32_t size_override) {
    static uint8_t reply[TC_REPLY_SIZE_MAX + TC_HEADER_SIZE];
    uint32_t size = make_reply(reply, client, request, 3, 10, 0);
    tc_client_sessions_store_reply(session, reply, size_override == 0 ? size : size_override);
}

static void test_asserts(void **state) {
    (void)state;
    struct table t;
    table_create(&t, 2);
    uint64_t evicted = 0;
    register_client(&t, 0xA, 1, &evicted);
    commit_request(&t, 0xA, 5, 2, 10, 0);
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    // Registering twice.
    expect_assert_failure(tc_client_sessions_register(&t.sessions, 0xA, 3, &evicted));
    // find(0) is a programmer error (0 marks a free entry).
    expect_assert_failure(tc_client_sessions_find(&t.sessions, 0));
    struct tc_client_session *a = tc_client_sessions_find(&t.sessions, 0xA);
    // Request regression.
    expect_assert_failure(store_made_reply(a, 0xA, 4, 0));
    // Wrong client.
    expect_assert_failure(store_made_reply(a, 0xB, 6, 0));
    // Too large / too small.
    expect_assert_failure(store_made_reply(a, 0xA, 6, TC_REPLY_SIZE_MAX + 1));
    expect_assert_failure(store_made_reply(a, 0xA, 6, TC_HEADER_SIZE - 1));
    tc_assert_set_handler(previous);
    assert_int_equal(a->request, 5);
    table_destroy(&t);
}

static void test_eviction_oldest_last_op(void **state) {
    (void)state;
    struct table t;
    table_create(&t, 4);
    uint64_t evicted = 0;
    register_client(&t, 0xA, 1, &evicted);
    register_client(&t, 0xB, 2, &evicted);
    register_client(&t, 0xC, 3, &evicted);
    register_client(&t, 0xD, 4, &evicted);
    assert_int_equal(evicted, 0);
    assert_int_equal(t.sessions.count, 4);
    // Activity: A at op 10, B at op 7, D at op 8; C stays at its register op 3 (the oldest).
    commit_request(&t, 0xA, 1, 10, 5, 1);
    commit_request(&t, 0xB, 1, 7, 5, 1);
    commit_request(&t, 0xD, 1, 8, 5, 1);
    struct tc_client_session *e = tc_client_sessions_register(&t.sessions, 0xE, 11, &evicted);
    assert_int_equal(evicted, 0xC);
    assert_int_equal(t.sessions.count, 4);
    assert_null(tc_client_sessions_find(&t.sessions, 0xC));
    assert_ptr_equal(tc_client_sessions_find(&t.sessions, 0xE), e);
    assert_int_equal(e->request, 0);
    assert_int_equal(e->reply_size, 0); // the evicted session's reply is not inherited
    _Alignas(16) uint8_t reply[TC_HEADER_SIZE + 4];
    tc_client_sessions_store_reply(e, reply, make_reply(reply, 0xE, 0, 11, 4, 0));
    // Next: B (last_op 7).
    register_client(&t, 0xF, 12, &evicted);
    assert_int_equal(evicted, 0xB);
    // Next: D (8), then A (10), then E (11), then F (12).
    register_client(&t, 0x10, 13, &evicted);
    assert_int_equal(evicted, 0xD);
    register_client(&t, 0x11, 14, &evicted);
    assert_int_equal(evicted, 0xA);
    register_client(&t, 0x12, 15, &evicted);
    assert_int_equal(evicted, 0xE);
    register_client(&t, 0x13, 16, &evicted);
    assert_int_equal(evicted, 0xF);
    assert_int_equal(t.sessions.count, 4);
    // An evicted client may register again (as a new session).
    register_client(&t, 0xA, 17, &evicted);
    assert_int_equal(evicted, 0x10);
    assert_int_equal(tc_client_sessions_find(&t.sessions, 0xA)->session, 17);
    table_destroy(&t);
}

static void test_capacity_one(void **state) {
    (void)state;
    struct table t;
    table_create(&t, 1);
    uint64_t evicted = 0;
    register_client(&t, 0xA, 1, &evicted);
    assert_int_equal(evicted, 0);
    commit_request(&t, 0xA, 1, 2, 20, 3);
    register_client(&t, 0xB, 3, &evicted);
    assert_int_equal(evicted, 0xA);
    assert_int_equal(t.sessions.count, 1);
    assert_null(tc_client_sessions_find(&t.sessions, 0xA));
    assert_non_null(tc_client_sessions_find(&t.sessions, 0xB));
    register_client(&t, 0xA, 4, &evicted);
    assert_int_equal(evicted, 0xB);
    assert_null(tc_client_sessions_find(&t.sessions, 0xB));
    table_destroy(&t);
}

static void test_capacity_max(void **state) {
    (void)state;
    struct table t;
    table_create(&t, TC_CLIENTS_MAX);
    uint64_t evicted = 0;
    for (uint64_t c = 1; c <= TC_CLIENTS_MAX; c++) {
        register_client(&t, c, c, &evicted);
        assert_int_equal(evicted, 0);
    }
    assert_int_equal(t.sessions.count, TC_CLIENTS_MAX);
    register_client(&t, 1000, 1000, &evicted);
    assert_int_equal(evicted, 1);
    table_destroy(&t);
}

struct history_step {
    uint64_t client;
    uint32_t request; // 0: register
    uint64_t op;
    uint32_t body_size;
    uint8_t fill;
};

static void apply_history(struct table *t, const struct history_step *steps, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        uint64_t evicted = 0;
        if (steps[i].request == 0) {
            register_client(t, steps[i].client, steps[i].op, &evicted);
        } else {
            commit_request(t, steps[i].client, steps[i].request, steps[i].op, steps[i].body_size,
                           steps[i].fill);
        }
    }
}

static void digest(const struct table *t, struct tc_checksum *out) {
    tc_client_sessions_digest(&t->sessions, out);
}

static void test_digest(void **state) {
    (void)state;
    const struct history_step history[] = {
        {0xA, 0, 1, 0, 0}, {0xB, 0, 2, 0, 0},  {0xA, 1, 3, 40, 1},
        {0xC, 0, 4, 0, 0}, {0xB, 1, 5, 8, 2},  {0xD, 0, 6, 0, 0}, // capacity 3: evicts A (last_op 3)
        {0xB, 2, 7, 0, 0}, {0xC, 1, 8, 40, 1},
    };
    uint32_t count = TC_ARRAY_COUNT(history);
    struct table a;
    struct table b;
    table_create(&a, 3);
    table_create(&b, 3);
    struct tc_checksum da;
    struct tc_checksum db;
    digest(&a, &da);
    digest(&b, &db);
    assert_memory_equal(&da, &db, sizeof(da)); // empty tables
    struct tc_checksum empty = da;
    apply_history(&a, history, count);
    apply_history(&b, history, count);
    digest(&a, &da);
    digest(&b, &db);
    assert_memory_equal(&da, &db, sizeof(da));
    assert_memory_not_equal(&da, &empty, sizeof(da));
    // The digest is a pure function of the table: computing it again gives the same value.
    struct tc_checksum again;
    digest(&a, &again);
    assert_memory_equal(&da, &again, sizeof(da));

    // Each single difference changes the digest.
    for (uint32_t variant = 0; variant < 5; variant++) {
        struct table c;
        table_create(&c, 3);
        struct history_step changed[TC_ARRAY_COUNT(history)];
        memcpy(changed, history, sizeof(history));
        switch (variant) {
        case 0: changed[7].fill = 2; break;        // a reply body byte
        case 1: changed[7].body_size = 39; break;  // a reply body size
        case 2: changed[6].request = 3; break;     // a request number
        case 3: changed[6].op = 70; break;         // an op number
        default: changed[5].client = 0xE; break;   // a client id
        }
        apply_history(&c, changed, count);
        struct tc_checksum dc;
        digest(&c, &dc);
        if (memcmp(&dc, &da, sizeof(dc)) == 0) fail_msg("variant %u: digest unchanged", variant);
        table_destroy(&c);
    }
    // A different session number (register op) with otherwise identical later state.
    {
        struct table c;
        table_create(&c, 3);
        struct history_step changed[TC_ARRAY_COUNT(history)];
        memcpy(changed, history, sizeof(history));
        changed[3].op = 3; // C registered at op 3 instead of 4 (still before B's request at 5)
        apply_history(&c, changed, count);
        struct tc_checksum dc;
        digest(&c, &dc);
        assert_memory_not_equal(&dc, &da, sizeof(dc));
        table_destroy(&c);
    }
    table_destroy(&a);
    table_destroy(&b);
}

// Random histories: two tables fed the same history always agree; a table fed a history that
// differs in one reply byte disagrees.
static void test_digest_random(void **state) {
    (void)state;
    struct tc_prng prng;
    tc_prng_init(&prng, 77);
    for (uint32_t round = 0; round < 40; round++) {
        uint32_t capacity = (uint32_t)tc_prng_range(&prng, 1, 6);
        struct table a;
        struct table b;
        struct table c;
        table_create(&a, capacity);
        table_create(&b, capacity);
        table_create(&c, capacity);
        uint64_t op = 1;
        uint32_t steps = (uint32_t)tc_prng_range(&prng, 1, 60);
        uint32_t differ_at = (uint32_t)tc_prng_below(&prng, steps);
        bool differed = false;
        for (uint32_t i = 0; i < steps; i++, op++) {
            uint64_t client = tc_prng_range(&prng, 1, 8);
            uint64_t evicted_a = 0;
            uint64_t evicted_b = 0;
            uint64_t evicted_c = 0;
            struct tc_client_session *session = tc_client_sessions_find(&a.sessions, client);
            if (session == NULL) {
                register_client(&a, client, op, &evicted_a);
                register_client(&b, client, op, &evicted_b);
                register_client(&c, client, op, &evicted_c);
                assert_int_equal(evicted_a, evicted_b);
                assert_int_equal(evicted_a, evicted_c);
                if (evicted_a != 0) {
                    assert_null(tc_client_sessions_find(&a.sessions, evicted_a));
                }
                continue;
            }
            uint32_t request = session->request + 1;
            uint32_t body = (uint32_t)tc_prng_range(&prng, 1, 64);
            uint8_t fill = (uint8_t)tc_prng_next(&prng);
            commit_request(&a, client, request, op, body, fill);
            commit_request(&b, client, request, op, body, fill);
            bool differ = i >= differ_at && !differed;
            commit_request(&c, client, request, op, body, differ ? (uint8_t)(fill + 1) : fill);
            if (differ) differed = true;
        }
        struct tc_checksum da;
        struct tc_checksum db;
        struct tc_checksum dc;
        digest(&a, &da);
        digest(&b, &db);
        digest(&c, &dc);
        assert_memory_equal(&da, &db, sizeof(da));
        // c differs only if the differing reply is still stored (not overwritten/evicted).
        bool still_differs = false;
        for (uint32_t i = 0; i < capacity; i++) {
            const struct tc_client_session *ea = &a.sessions.entries[i];
            const struct tc_client_session *ec = &c.sessions.entries[i];
            if (ea->client != 0 && ea->reply_size == ec->reply_size &&
                memcmp(ea->reply, ec->reply, ea->reply_size) != 0) {
                still_differs = true;
            }
        }
        if (still_differs) {
            assert_memory_not_equal(&da, &dc, sizeof(da));
        } else {
            assert_memory_equal(&da, &dc, sizeof(da));
        }
        table_destroy(&a);
        table_destroy(&b);
        table_destroy(&c);
    }
}

// Regression: the digest of a session registered without a stored reply (reply_size 0) once
// hashed reply_size - TC_HEADER_SIZE bytes (wrapping to ~4 GiB). It must hash no reply bytes, and
// differ from the digest of an empty table.
static void test_digest_registered_without_reply(void **state) {
    (void)state;
    struct table t;
    table_create(&t, 2);
    struct tc_checksum empty;
    tc_client_sessions_digest(&t.sessions, &empty);
    uint64_t evicted = 0;
    struct tc_client_session *session = tc_client_sessions_register(&t.sessions, 0xA, 1, &evicted);
    assert_int_equal(session->reply_size, 0);
    struct tc_checksum out;
    tc_client_sessions_digest(&t.sessions, &out);
    assert_false(tc_checksum_equal(&empty, &out));
    table_destroy(&t);
}

// ------------------------------------------------------------------------------------------------
// Checkpoint encoding.

struct image {
    uint8_t *bytes;
    uint64_t size;
    uint64_t size_max;
};

static void image_encode(struct image *image, const struct table *t) {
    image->size_max = tc_client_sessions_checkpoint_size_max(t->sessions.capacity);
    image->bytes = malloc(image->size_max + 1u); // + 1: room for a trailing byte
    assert_non_null(image->bytes);
    image->size = tc_client_sessions_checkpoint_encode(&t->sessions, image->bytes, image->size_max);
    assert_true(image->size >= TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE);
    assert_true(image->size <= image->size_max);
}

static void put_u32_le(uint8_t *p, uint32_t v) {
    for (uint32_t i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static void put_u64_le(uint8_t *p, uint64_t v) {
    for (uint32_t i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static void image_free(struct image *image) {
    free(image->bytes);
    image->bytes = NULL;
}

static void assert_tables_equal(const struct table *a, const struct table *b) {
    assert_int_equal(a->sessions.capacity, b->sessions.capacity);
    assert_int_equal(a->sessions.count, b->sessions.count);
    for (uint32_t i = 0; i < a->sessions.capacity; i++) {
        const struct tc_client_session *x = &a->sessions.entries[i];
        const struct tc_client_session *y = &b->sessions.entries[i];
        assert_int_equal(x->client, y->client);
        assert_int_equal(x->session, y->session);
        assert_int_equal(x->last_op, y->last_op);
        assert_int_equal(x->request, y->request);
        assert_int_equal(x->reply_size, y->reply_size);
        assert_memory_equal(x->reply, y->reply, x->reply_size);
    }
    struct tc_checksum da;
    struct tc_checksum db;
    digest(a, &da);
    digest(b, &db);
    assert_memory_equal(&da, &db, sizeof(da));
    struct image ia;
    struct image ib;
    image_encode(&ia, a);
    image_encode(&ib, b);
    assert_int_equal(ia.size, ib.size);
    assert_memory_equal(ia.bytes, ib.bytes, ia.size);
    image_free(&ia);
    image_free(&ib);
}

// Encodes `from` and decodes it into `into`; both must then be equal.
static void checkpoint_copy(const struct table *from, struct table *into) {
    struct image image;
    image_encode(&image, from);
    assert_int_equal(
        tc_client_sessions_checkpoint_decode(&into->sessions, image.bytes, image.size), TC_OK);
    image_free(&image);
    assert_tables_equal(from, into);
}

// The table is as after init.
static void assert_table_empty(const struct table *t) {
    struct table fresh;
    table_create(&fresh, t->sessions.capacity);
    assert_tables_equal(&fresh, t);
    table_destroy(&fresh);
}

// One random step applied to every table: a commit for a registered client, else a register.
static void random_step(struct tc_prng *prng, struct table **tables, uint32_t count, uint64_t op) {
    uint64_t client = tc_prng_range(prng, 1, 10);
    struct tc_client_session *session = tc_client_sessions_find(&tables[0]->sessions, client);
    if (session == NULL) {
        uint64_t evicted_first = 0;
        for (uint32_t i = 0; i < count; i++) {
            uint64_t evicted = 0;
            register_client(tables[i], client, op, &evicted);
            if (i == 0) evicted_first = evicted;
            assert_int_equal(evicted, evicted_first);
        }
        return;
    }
    uint32_t request = session->request + 1;
    uint32_t body = (uint32_t)tc_prng_range(prng, 0, 300);
    uint8_t fill = (uint8_t)tc_prng_next(prng);
    for (uint32_t i = 0; i < count; i++) commit_request(tables[i], client, request, op, body, fill);
}

// A random history on `a`; at every `every` steps its checkpoint is decoded into `b`
// (alternately a fresh table and b's live state), and both go on alike.
static void test_checkpoint_round_trip(void **state) {
    (void)state;
    struct tc_prng prng;
    tc_prng_init(&prng, 4242);
    for (uint32_t round = 0; round < 30; round++) {
        uint32_t capacity = round == 0 ? TC_CLIENTS_MAX : (uint32_t)tc_prng_range(&prng, 1, 7);
        struct table a;
        struct table b;
        table_create(&a, capacity);
        table_create(&b, capacity);
        uint32_t every = (uint32_t)tc_prng_range(&prng, 1, 9);
        uint64_t op = 1;
        for (uint32_t step = 0; step < 80; step++, op++) {
            if (step % every == 0) {
                if ((step / every) % 2 == 0) {
                    table_destroy(&b);
                    table_create(&b, capacity);
                }
                checkpoint_copy(&a, &b);
            }
            struct table *both[2] = {&a, &b};
            random_step(&prng, both, 2, op);
        }
        assert_tables_equal(&a, &b);
        table_destroy(&a);
        table_destroy(&b);
    }
}

static void test_checkpoint_edge_states(void **state) {
    (void)state;
    // Empty, and a bare registration (no reply stored yet).
    struct table a;
    struct table b;
    table_create(&a, 3);
    table_create(&b, 3);
    checkpoint_copy(&a, &b);
    uint64_t evicted = 0;
    assert_non_null(tc_client_sessions_register(&a.sessions, 0xA, 1, &evicted));
    checkpoint_copy(&a, &b);
    // An empty checkpoint replaces a live table.
    struct table empty;
    table_create(&empty, 3);
    checkpoint_copy(&empty, &b);
    assert_table_empty(&b);
    table_destroy(&empty);
    table_destroy(&a);
    table_destroy(&b);

    // A full table of largest replies reaches size_max exactly.
    struct table full;
    table_create(&full, 4);
    for (uint64_t client = 1; client <= 4; client++) {
        register_client(&full, client, client, &evicted);
        commit_request(&full, client, 1, 10 + client, TC_REPLY_SIZE_MAX - TC_HEADER_SIZE, 3);
    }
    struct image image;
    image_encode(&image, &full);
    assert_int_equal(image.size, image.size_max);
    assert_int_equal(image.size_max, TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE +
                                         4u * (TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE +
                                               TC_REPLY_SIZE_MAX));
    image_free(&image);
    struct table copy;
    table_create(&copy, 4);
    checkpoint_copy(&full, &copy);
    table_destroy(&copy);
    // More entries than the decoding table holds, even with the capacity field patched to match.
    struct table five;
    table_create(&five, 5);
    for (uint64_t client = 1; client <= 5; client++) {
        register_client(&five, client, client, &evicted);
    }
    image_encode(&image, &five);
    put_u32_le(image.bytes + 16, 4);
    struct table four;
    table_create(&four, 4);
    assert_int_equal(tc_client_sessions_checkpoint_decode(&four.sessions, image.bytes, image.size),
                     TC_ECORRUPT);
    assert_table_empty(&four);
    table_destroy(&four);
    table_destroy(&five);
    image_free(&image);
    // Another capacity is a mismatch.
    image_encode(&image, &full);
    struct table other;
    table_create(&other, 5);
    register_client(&other, 0xA, 1, &evicted);
    assert_int_equal(tc_client_sessions_checkpoint_decode(&other.sessions, image.bytes, image.size),
                     TC_ECORRUPT);
    assert_table_empty(&other);
    table_destroy(&other);
    image_free(&image);
    table_destroy(&full);
}

// Clients 0xA (session 1, request 1 at op 3, 40-byte reply body), 0xB (session 2, register reply
// only), 0xC (bare registration at op 4), in a table of capacity 4.
static void known_table(struct table *t) {
    table_create(t, 4);
    uint64_t evicted = 0;
    register_client(t, 0xA, 1, &evicted);
    register_client(t, 0xB, 2, &evicted);
    commit_request(t, 0xA, 1, 3, 40, 5);
    assert_non_null(tc_client_sessions_register(&t->sessions, 0xC, 4, &evicted));
}

#define KNOWN_A TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE
#define KNOWN_A_REPLY (KNOWN_A + TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE)
#define KNOWN_B (KNOWN_A_REPLY + TC_HEADER_SIZE + 40u)
#define KNOWN_B_REPLY (KNOWN_B + TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE)
#define KNOWN_C (KNOWN_B_REPLY + TC_HEADER_SIZE + 16u)
#define KNOWN_SIZE (KNOWN_C + TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE)

struct session_edit {
    const char *name;
    uint64_t offset;
    uint32_t width; // 1: XOR the byte with value; 4 or 8: store value (little-endian)
    uint64_t value;
};

static const struct session_edit session_edits[] = {
    {"magic", 0, 1, 0x01},
    {"version", 4, 4, 2},
    {"size field", 8, 8, KNOWN_SIZE - 1u},
    {"capacity", 16, 4, 3},
    {"count + 1", 20, 4, 4},
    {"count - 1 (trailing bytes)", 20, 4, 2},
    {"count over capacity", 20, 4, 5},
    {"client 0", KNOWN_A, 8, 0},
    {"client 0 (bare)", KNOWN_C, 8, 0},
    {"client duplicate", KNOWN_B, 8, 0xA},
    {"client duplicate (bare)", KNOWN_C, 8, 0xA},
    {"session 0", KNOWN_B + 8, 8, 0},
    {"last_op below session", KNOWN_B + 16, 8, 1},
    {"last_op not the reply's op", KNOWN_A + 16, 8, 4},
    {"request not the reply's", KNOWN_A + 24, 4, 2},
    {"reply_size over max", KNOWN_A + 28, 4, TC_REPLY_SIZE_MAX + 1u},
    {"reply_size below a header", KNOWN_B + 28, 4, TC_HEADER_SIZE - 1u},
    {"reply_size 0 with a reply", KNOWN_B + 28, 4, 0},
    {"reply client", KNOWN_A_REPLY + offsetof(struct tc_header, client), 1, 0x01},
    {"reply request", KNOWN_A_REPLY + offsetof(struct tc_header, request), 1, 0x01},
    {"reply op", KNOWN_B_REPLY + offsetof(struct tc_header, op), 1, 0x01},
    {"bare registration with a request", KNOWN_C + 24, 4, 1},
    {"bare registration after its register", KNOWN_C + 16, 8, 5},
};

static void test_checkpoint_corrupt_fields(void **state) {
    (void)state;
    struct table a;
    known_table(&a);
    struct image good;
    image_encode(&good, &a);
    assert_int_equal(good.size, KNOWN_SIZE);
    uint8_t *bad = malloc(good.size + 1u);
    assert_non_null(bad);
    struct table b;
    table_create(&b, 4);
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(session_edits); i++) {
        const struct session_edit *edit = &session_edits[i];
        checkpoint_copy(&a, &b); // a live table the failed decode must empty
        memcpy(bad, good.bytes, good.size);
        if (edit->width == 1) bad[edit->offset] ^= (uint8_t)edit->value;
        if (edit->width == 4) put_u32_le(bad + edit->offset, (uint32_t)edit->value);
        if (edit->width == 8) put_u64_le(bad + edit->offset, edit->value);
        int rc = tc_client_sessions_checkpoint_decode(&b.sessions, bad, good.size);
        if (rc != TC_ECORRUPT) fail_msg("edit '%s': decode returned %d", edit->name, rc);
        assert_table_empty(&b);
    }
    // B's reply cut to 255 bytes (its header fields intact), sizes consistent.
    uint64_t cut = KNOWN_B_REPLY + TC_HEADER_SIZE - 1u;
    memcpy(bad, good.bytes, cut);
    memcpy(bad + cut, good.bytes + KNOWN_C, good.size - KNOWN_C);
    put_u32_le(bad + KNOWN_B + 28, TC_HEADER_SIZE - 1u);
    uint64_t cut_size = cut + good.size - KNOWN_C;
    put_u64_le(bad + 8, cut_size);
    assert_int_equal(tc_client_sessions_checkpoint_decode(&b.sessions, bad, cut_size), TC_ECORRUPT);
    assert_table_empty(&b);
    // A trailing byte, with a size field that tells the truth about it.
    memcpy(bad, good.bytes, good.size);
    bad[good.size] = 0;
    put_u64_le(bad + 8, good.size + 1u);
    assert_int_equal(tc_client_sessions_checkpoint_decode(&b.sessions, bad, good.size + 1u),
                     TC_ECORRUPT);
    assert_table_empty(&b);
    // Every truncation.
    assert_int_equal(tc_client_sessions_checkpoint_decode(&b.sessions, NULL, 0), TC_ECORRUPT);
    for (uint64_t size = 0; size < good.size; size++) {
        checkpoint_copy(&a, &b);
        memcpy(bad, good.bytes, good.size);
        assert_int_equal(tc_client_sessions_checkpoint_decode(&b.sessions, bad, size),
                         TC_ECORRUPT);
        assert_table_empty(&b);
        if (size < 16) continue;
        put_u64_le(bad + 8, size); // a size field that agrees
        assert_int_equal(tc_client_sessions_checkpoint_decode(&b.sessions, bad, size),
                         TC_ECORRUPT);
        assert_table_empty(&b);
    }
    free(bad);
    image_free(&good);
    table_destroy(&a);
    table_destroy(&b);
}

// Random byte flips: the decode fails (table empty) or gives a consistent table that re-encodes
// and decodes to an equal table, and both keep working alike.
static void test_checkpoint_random_flips(void **state) {
    (void)state;
    struct table a;
    known_table(&a);
    struct image good;
    image_encode(&good, &a);
    uint8_t *bad = malloc(good.size);
    assert_non_null(bad);
    struct tc_prng prng;
    tc_prng_init(&prng, 31);
    uint32_t decoded = 0;
    for (uint32_t round = 0; round < 4000; round++) {
        memcpy(bad, good.bytes, good.size);
        uint32_t flips = (uint32_t)tc_prng_range(&prng, 1, 3);
        for (uint32_t i = 0; i < flips; i++) {
            bad[tc_prng_below(&prng, good.size)] ^= (uint8_t)tc_prng_range(&prng, 1, 255);
        }
        struct table b;
        table_create(&b, 4);
        int rc = tc_client_sessions_checkpoint_decode(&b.sessions, bad, good.size);
        if (rc != TC_OK) {
            assert_int_equal(rc, TC_ECORRUPT);
            assert_table_empty(&b);
            table_destroy(&b);
            continue;
        }
        decoded += 1;
        struct table c;
        table_create(&c, 4);
        checkpoint_copy(&b, &c);
        uint64_t op = 1;
        for (uint32_t i = 0; i < b.sessions.count; i++) {
            op = b.sessions.entries[i].last_op > op ? b.sessions.entries[i].last_op : op;
        }
        struct table *both[2] = {&b, &c};
        for (uint32_t step = 0; step < 6; step++) random_step(&prng, both, 2, op + 1 + step);
        assert_tables_equal(&b, &c);
        table_destroy(&b);
        table_destroy(&c);
    }
    assert_true(decoded > 0); // reply body bytes and the register reply's unchecked header fields
    free(bad);
    image_free(&good);
    table_destroy(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_find),
        cmocka_unit_test(test_store_reply),
        cmocka_unit_test(test_asserts),
        cmocka_unit_test(test_eviction_oldest_last_op),
        cmocka_unit_test(test_capacity_one),
        cmocka_unit_test(test_capacity_max),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_digest_random),
        cmocka_unit_test(test_digest_registered_without_reply),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_checkpoint_edge_states),
        cmocka_unit_test(test_checkpoint_corrupt_fields),
        cmocka_unit_test(test_checkpoint_random_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
