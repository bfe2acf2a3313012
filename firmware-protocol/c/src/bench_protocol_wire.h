/*
 * bench_protocol_wire.h - little-endian field access and payload placement, shared by
 * bench_protocol.c and the generated bench_protocol_messages.c. Internal to the library.
 */
#ifndef BENCH_PROTOCOL_WIRE_H
#define BENCH_PROTOCOL_WIRE_H

#include "bench_protocol.h"

static inline uint8_t *bp_put8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static inline uint8_t *bp_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static inline uint8_t *bp_put32(uint8_t *p, uint32_t v)
{
    p = bp_put16(p, (uint16_t)v);
    return bp_put16(p, (uint16_t)(v >> 16));
}

static inline uint8_t *bp_put64(uint8_t *p, uint64_t v)
{
    p = bp_put32(p, (uint32_t)v);
    return bp_put32(p, (uint32_t)(v >> 32));
}

static inline uint16_t bp_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

static inline uint32_t bp_get32(const uint8_t *p)
{
    return (uint32_t)bp_get16(p) | ((uint32_t)bp_get16(p + 2) << 16);
}

static inline uint64_t bp_get64(const uint8_t *p)
{
    return (uint64_t)bp_get32(p) | ((uint64_t)bp_get32(p + 4) << 32);
}

/* Checks that cap holds a payload of len bytes; returns where it goes or NULL. */
static inline uint8_t *bp_payload_at(uint8_t *out, size_t cap, size_t len)
{
    if (len > BP_MAX_PAYLOAD || cap < len + BP_WIRE_OVERHEAD)
        return NULL;
    return out + BP_PAYLOAD_OFFSET;
}

static inline uint8_t bp_popcount16(uint16_t v)
{
    uint8_t n = 0;
    while (v) {
        v &= (uint16_t)(v - 1u);
        n++;
    }
    return n;
}

#endif /* BENCH_PROTOCOL_WIRE_H */
