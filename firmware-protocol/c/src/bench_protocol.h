/*
 * bench_protocol.h - Bench wire protocol 1.0, C99 implementation.
 *
 * The specification is ../../PROTOCOL.md; section numbers below (§n) refer to it.
 * This library is meant for the ATmega328P firmware and for host tests:
 *   - no malloc, no stdio, no global state; only <stdint.h>/<stddef.h>/<string.h>;
 *   - the decoder uses one caller-provided frame buffer (BP_MAX_FRAME = 254 bytes)
 *     plus sizeof(bp_decoder_t) bytes (29 on AVR);
 *   - encoders write the finished wire bytes (delimiters included) straight into
 *     a caller buffer of BP_MAX_WIRE = 257 bytes; COBS is applied in place.
 *
 * Typical device loop:
 *
 *     static uint8_t rx_buf[BP_MAX_FRAME], tx[BP_MAX_WIRE];
 *     static bp_decoder_t dec;
 *     bp_decoder_init(&dec, rx_buf, sizeof rx_buf);
 *     ...
 *     uint8_t ev = bp_decoder_push(&dec, uart_byte);
 *     if (ev == BP_EV_FRAME) {
 *         switch (bp_frame_kind(&dec)) {
 *         case BP_KIND_CONFIGURE: {
 *             bp_configure_t cfg;
 *             uint8_t err = bp_parse_configure(bp_frame_payload(&dec),
 *                                              bp_frame_payload_len(&dec), &cfg);
 *             ...
 *         }
 *         }
 *     }
 *
 * Compile-time options (define before including, identically for every unit):
 *   BP_MAX_TRAINS   trains held by bp_stimulus_t (default 11, the protocol maximum);
 *                   a Stimulus with more trains parses as BP_NACK_OUT_OF_RANGE.
 *   BP_MAX_OUTPUTS  outputs held by bp_device_info_t (default 8, the protocol maximum).
 *   BP_COUNTER_T    type of the decoder's error counters (default uint16_t on AVR,
 *                   uint32_t elsewhere; counters wrap).
 */
#ifndef BENCH_PROTOCOL_H
#define BENCH_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Sizes (§2) -------------------------------------------------------- */

#define BP_HEADER_LEN 4u     /* version, kind, seq (u16 LE) */
#define BP_CRC_LEN 2u        /* CRC-16/CCITT-FALSE, little-endian */
#define BP_MIN_FRAME 6u      /* decoded frame with an empty payload */
#define BP_MAX_FRAME 254u    /* decoded frame: header + payload + CRC */
#define BP_MAX_PAYLOAD 248u
#define BP_MAX_BODY 255u     /* COBS-encoded frame between delimiters */
#define BP_MAX_WIRE 257u     /* 0x00 + body + 0x00 */
#define BP_PAYLOAD_OFFSET 6u /* where bp_frame_finish() expects the payload */
#define BP_WIRE_OVERHEAD 9u  /* wire length = payload length + 9 */

#ifndef BP_COUNTER_T
#if defined(__AVR__)
#define BP_COUNTER_T uint16_t
#else
#define BP_COUNTER_T uint32_t
#endif
#endif

/* ---- Messages (§5): kinds, Nack codes, flag bits, structs, lengths, offsets,
 * encoders and parsers, all generated from ../../messages.json ---------- */

#include "bench_protocol_messages.h"

/* ---- CRC and COBS (§2) ------------------------------------------------- */

/* CRC-16/CCITT-FALSE of data (poly 0x1021, init 0xFFFF; "123456789" -> 0x29B1). */
uint16_t bp_crc16(const uint8_t *data, size_t len);
uint16_t bp_crc16_update(uint16_t crc, uint8_t byte); /* one byte, start with 0xFFFF */

#define BP_COBS_ERROR ((size_t)-1)
/* Plain COBS of any length (no delimiters). Returns the encoded length, or
 * BP_COBS_ERROR if it does not fit in cap. */
size_t bp_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);
/* Decodes one body (without delimiters). Returns the decoded length, or
 * BP_COBS_ERROR if src holds a 0x00, a group runs past the end, or dst is full. */
size_t bp_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* ---- Incremental decoder (§4) ------------------------------------------ */

/* Events returned by bp_decoder_push(). Each completed body yields exactly one. */
enum {
    BP_EV_NONE = 0,   /* byte consumed, nothing completed */
    BP_EV_FRAME,      /* a frame is in the buffer (see bp_frame_*) */
    BP_EV_CRC_ERROR,
    BP_EV_COBS_ERROR,
    BP_EV_SHORT,
    BP_EV_OVERSIZED,  /* reported when the body passes BP_MAX_BODY bytes */
    BP_EV_VERSION     /* CRC-valid frame with another version byte; the frame is
                         in the buffer like for BP_EV_FRAME (a device answers it
                         with Nack unsupported_version, §7) */
};

typedef struct {
    BP_COUNTER_T frames_ok;
    BP_COUNTER_T crc_errors;
    BP_COUNTER_T cobs_errors;
    BP_COUNTER_T short_frames;
    BP_COUNTER_T oversized;
    BP_COUNTER_T version_errors;
    BP_COUNTER_T bytes_skipped;
    BP_COUNTER_T resyncs;
    BP_COUNTER_T frames_lost;
    BP_COUNTER_T seq_resets;
} bp_counters_t;

typedef struct {
    uint8_t *buf;      /* caller's frame buffer */
    uint8_t max_body;  /* min(BP_MAX_BODY, capacity + 1) */
    uint8_t len;       /* decoded bytes in buf */
    uint8_t body_len;  /* encoded bytes of the current body */
    uint8_t remaining; /* data bytes left in the current COBS group */
    uint8_t flags;     /* internal state bits */
    uint16_t last_seq;
    bp_counters_t count; /* read freely; reset with bp_decoder_init */
} bp_decoder_t;

/* buf must hold BP_MAX_FRAME (254) bytes for a conforming receiver; with a
 * smaller buffer, longer bodies are counted as oversized. Starts hunting (§4). */
void bp_decoder_init(bp_decoder_t *d, uint8_t *buf, size_t cap);
/* Feeds one wire byte; returns a BP_EV_* event. */
uint8_t bp_decoder_push(bp_decoder_t *d, uint8_t byte);
/* Feeds bytes until one produces an event other than BP_EV_NONE, or all are
 * consumed. Returns the number of bytes consumed; *event gets the event of the
 * last byte consumed (BP_EV_NONE if none). Call again with the rest. */
size_t bp_decoder_feed(bp_decoder_t *d, const uint8_t *data, size_t len, uint8_t *event);

/* Valid after BP_EV_FRAME or BP_EV_VERSION, until the next byte is pushed. */
static inline const uint8_t *bp_frame(const bp_decoder_t *d) { return d->buf; }
static inline size_t bp_frame_len(const bp_decoder_t *d) { return d->len; }
static inline uint8_t bp_frame_version(const bp_decoder_t *d) { return d->buf[0]; }
static inline uint8_t bp_frame_kind(const bp_decoder_t *d) { return d->buf[1]; }
static inline uint16_t bp_frame_seq(const bp_decoder_t *d)
{
    return (uint16_t)(d->buf[2] | ((uint16_t)d->buf[3] << 8));
}
static inline const uint8_t *bp_frame_payload(const bp_decoder_t *d) { return d->buf + BP_HEADER_LEN; }
static inline size_t bp_frame_payload_len(const bp_decoder_t *d)
{
    return (size_t)d->len - BP_HEADER_LEN - BP_CRC_LEN;
}

static inline uint16_t bp_get_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

/* ---- Encoding (§3) ------------------------------------------------------
 * Every encoder writes a complete wire frame (0x00, COBS body, 0x00) to out
 * and returns its length (payload length + 9), or 0 if cap is too small or
 * the message breaks a codec limit (e.g. more than BP_MAX_TRAINS trains).
 * BP_MAX_WIRE bytes are always enough. */

/* Zero-copy: write the payload at out + BP_PAYLOAD_OFFSET, then call this. */
size_t bp_frame_finish(uint8_t *out, size_t cap, uint8_t kind, uint16_t seq, size_t payload_len);
/* Any kind with a raw payload (payload may be NULL when len is 0). */
size_t bp_encode_frame(uint8_t *out, size_t cap, uint8_t kind, uint16_t seq,
                       const uint8_t *payload, size_t len);

/* bp_encode_<message>(out, cap, seq, &m) for every message: bench_protocol_messages.h. */

/* ---- Parsing (§5) -------------------------------------------------------
 * p/len: a frame's payload (bp_frame_payload / bp_frame_payload_len).
 * Return BP_OK, BP_NACK_BAD_LENGTH (payload shorter than the kind needs) or
 * BP_NACK_OUT_OF_RANGE (a count above this build's BP_MAX_*). Trailing bytes
 * are ignored (§7). Start, Stop, StopAll and Heartbeat have nothing to parse. */

/* bp_parse_<message>(p, len, &m) for every message with a payload, and
 * bp_parse_train(p, len, i, &t): train i of a Stimulus alone (for a device that
 * checks a Stimulus in place): bench_protocol_messages.h. */

#ifdef __cplusplus
}
#endif

#endif /* BENCH_PROTOCOL_H */
