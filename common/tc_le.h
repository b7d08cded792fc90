#ifndef TC_LE_H
#define TC_LE_H

// Little-endian integer encoding, byte by byte (no alignment or host-order assumptions): the one
// set of helpers every wire and disk codec uses (room batches and replies, checkpoints).

#include <stdint.h>

static inline void tc_le_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void tc_le_put_u32(uint8_t *p, uint32_t v) {
    for (uint32_t i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static inline void tc_le_put_u64(uint8_t *p, uint64_t v) {
    for (uint32_t i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static inline uint16_t tc_le_get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (uint32_t)p[1] << 8);
}

static inline uint32_t tc_le_get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (uint32_t i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8u * i);
    return v;
}

static inline uint64_t tc_le_get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8u * i);
    return v;
}

#endif
