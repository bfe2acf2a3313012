/*
 * bench_protocol.c - Bench wire protocol 1.0 (see bench_protocol.h, ../../PROTOCOL.md): CRC,
 * COBS, the incremental decoder and the framing of every encoder. The messages' encoders and
 * parsers are generated (bench_protocol_messages.c). C99, no malloc, no stdio, no global state.
 */
#include "bench_protocol.h"
#include "bench_protocol_wire.h"

#include <string.h>

/* ---- CRC-16/CCITT-FALSE -------------------------------------------------
 * Bitwise (no 512-byte table: flash and RAM matter on the AVR). Equivalent to
 * avr-libc's _crc_xmodem_update() started at 0xFFFF. */

uint16_t bp_crc16_update(uint16_t crc, uint8_t byte)
{
    uint8_t i;
    crc ^= (uint16_t)((uint16_t)byte << 8);
    for (i = 0; i < 8; i++) {
        if (crc & 0x8000u)
            crc = (uint16_t)(((unsigned)crc << 1) ^ 0x1021u);
        else
            crc = (uint16_t)((unsigned)crc << 1);
    }
    return crc;
}

uint16_t bp_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    while (len--)
        crc = bp_crc16_update(crc, *data++);
    return crc;
}

/* ---- COBS ----------------------------------------------------------------- */

size_t bp_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t code_pos = 0, o = 1, i;
    uint8_t code = 1;
    if (cap < 1)
        return BP_COBS_ERROR;
    for (i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_pos] = code;
            code = 1;
            code_pos = o;
            if (o++ >= cap)
                return BP_COBS_ERROR;
        } else {
            if (o >= cap)
                return BP_COBS_ERROR;
            dst[o++] = src[i];
            code++;
            /* A full block (254 data bytes) that ends the data gets no
             * extra 0x01 code byte (§2.2). */
            if (code == 0xFFu && i + 1 < len) {
                dst[code_pos] = code;
                code = 1;
                code_pos = o;
                if (o++ >= cap)
                    return BP_COBS_ERROR;
            }
        }
    }
    dst[code_pos] = code;
    return o;
}

size_t bp_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = src[i++];
        uint8_t k;
        if (code == 0 || (size_t)(code - 1) > len - i)
            return BP_COBS_ERROR;
        for (k = 1; k < code; k++) {
            if (src[i] == 0 || o >= cap)
                return BP_COBS_ERROR;
            dst[o++] = src[i++];
        }
        if (code != 0xFFu && i < len) {
            if (o >= cap)
                return BP_COBS_ERROR;
            dst[o++] = 0;
        }
    }
    return o;
}

/* ---- Incremental decoder ------------------------------------------------ */

#define F_HUNT 0x01u         /* waiting for a delimiter */
#define F_SKIPPED 0x02u      /* skipped >= 1 byte in this hunt */
#define F_HAVE_SEQ 0x04u     /* last_seq is valid */
#define F_PENDING_ZERO 0x08u /* current group (code < 0xFF) ends with a zero if another code follows */
#define F_DONE 0x10u         /* a body ended: clear buf on the next byte */

void bp_decoder_init(bp_decoder_t *d, uint8_t *buf, size_t cap)
{
    memset(d, 0, sizeof *d);
    d->buf = buf;
    d->max_body = (uint8_t)(cap >= BP_MAX_BODY - 1u ? BP_MAX_BODY : cap + 1u);
    d->flags = F_HUNT;
}

static void reset_body(bp_decoder_t *d)
{
    d->body_len = 0;
    d->remaining = 0;
    d->flags &= (uint8_t)~F_PENDING_ZERO;
}

static uint8_t end_of_body(bp_decoder_t *d)
{
    uint8_t n = d->len;
    uint16_t seq, gap;

    if (d->remaining != 0) {
        d->count.cobs_errors++;
        return BP_EV_COBS_ERROR;
    }
    if (n < BP_MIN_FRAME) {
        d->count.short_frames++;
        return BP_EV_SHORT;
    }
    if (bp_crc16(d->buf, (size_t)n - BP_CRC_LEN) != bp_get16(d->buf + n - BP_CRC_LEN)) {
        d->count.crc_errors++;
        return BP_EV_CRC_ERROR;
    }
    if (d->buf[0] != BP_PROTOCOL_MAJOR) {
        d->count.version_errors++;
        return BP_EV_VERSION;
    }
    d->count.frames_ok++;
    seq = bp_get16(d->buf + 2);
    if (d->flags & F_HAVE_SEQ) {
        gap = (uint16_t)(seq - d->last_seq - 1u);
        if (gap < 0x8000u)
            d->count.frames_lost += gap;
        else
            d->count.seq_resets++;
    }
    d->last_seq = seq;
    d->flags |= F_HAVE_SEQ;
    return BP_EV_FRAME;
}

uint8_t bp_decoder_push(bp_decoder_t *d, uint8_t byte)
{
    uint8_t ev;

    if (d->flags & F_DONE) {
        d->len = 0;
        d->flags &= (uint8_t)~F_DONE;
    }
    if (d->flags & F_HUNT) {
        if (byte == 0) {
            if (d->flags & F_SKIPPED)
                d->count.resyncs++;
            d->flags &= (uint8_t)~(F_HUNT | F_SKIPPED);
            reset_body(d);
            d->len = 0;
        } else {
            d->count.bytes_skipped++;
            d->flags |= F_SKIPPED;
        }
        return BP_EV_NONE;
    }
    if (byte != 0) {
        if (d->body_len >= d->max_body) {
            d->count.oversized++;
            d->count.bytes_skipped++;
            d->flags |= F_HUNT | F_SKIPPED;
            reset_body(d);
            d->len = 0;
            return BP_EV_OVERSIZED;
        }
        d->body_len++;
        if (d->remaining == 0) { /* a COBS code byte */
            if (d->flags & F_PENDING_ZERO)
                d->buf[d->len++] = 0;
            d->remaining = (uint8_t)(byte - 1u);
            if (byte != 0xFFu)
                d->flags |= F_PENDING_ZERO;
            else
                d->flags &= (uint8_t)~F_PENDING_ZERO;
        } else {
            d->buf[d->len++] = byte;
            d->remaining--;
        }
        return BP_EV_NONE;
    }
    /* delimiter */
    if (d->body_len == 0)
        return BP_EV_NONE; /* idle / resync byte: not an error */
    ev = end_of_body(d);
    reset_body(d);
    d->flags |= F_DONE;
    return ev;
}

size_t bp_decoder_feed(bp_decoder_t *d, const uint8_t *data, size_t len, uint8_t *event)
{
    size_t i = 0;
    uint8_t ev = BP_EV_NONE;
    while (i < len) {
        ev = bp_decoder_push(d, data[i++]);
        if (ev != BP_EV_NONE)
            break;
    }
    if (event)
        *event = ev;
    return i;
}

/* ---- Encoding ------------------------------------------------------------ */

size_t bp_frame_finish(uint8_t *out, size_t cap, uint8_t kind, uint16_t seq, size_t payload_len)
{
    uint8_t *f = out + 2; /* the frame is built at out + 2, then COBS-encoded in place */
    size_t n, i, next;
    uint16_t crc;

    if (payload_len > BP_MAX_PAYLOAD || cap < payload_len + BP_WIRE_OVERHEAD)
        return 0;
    f[0] = BP_PROTOCOL_MAJOR;
    f[1] = kind;
    bp_put16(f + 2, seq);
    n = BP_HEADER_LEN + payload_len;
    crc = bp_crc16(f, n);
    bp_put16(f + n, crc);
    n += BP_CRC_LEN; /* n <= 254 */

    /* In-place COBS: with at most 254 bytes the encoding is the frame shifted
     * right by one (the first code goes to out[1]) with every zero replaced by
     * the distance to the next zero or to the end. */
    next = n;
    for (i = n; i-- > 0;) {
        if (f[i] == 0) {
            f[i] = (uint8_t)(next - i);
            next = i;
        }
    }
    out[1] = (uint8_t)(next + 1u);
    out[0] = 0;
    f[n] = 0;
    return n + 3u;
}

size_t bp_encode_frame(uint8_t *out, size_t cap, uint8_t kind, uint16_t seq,
                       const uint8_t *payload, size_t len)
{
    if (len > BP_MAX_PAYLOAD || cap < len + BP_WIRE_OVERHEAD)
        return 0;
    if (len && payload != out + BP_PAYLOAD_OFFSET)
        memmove(out + BP_PAYLOAD_OFFSET, payload, len);
    return bp_frame_finish(out, cap, kind, seq, len);
}

/* The messages' encoders and parsers are generated: bench_protocol_messages.c. */
