/*
 * bench_protocol.h - Bench wire protocol 1.0, C99 implementation.
 *
 * The specification is ../PROTOCOL.md; section numbers below (§n) refer to it.
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

#define BP_PROTOCOL_MAJOR 1u /* the version byte of every frame */
#define BP_PROTOCOL_MINOR 0u
#define BP_HEADER_LEN 4u     /* version, kind, seq (u16 LE) */
#define BP_CRC_LEN 2u        /* CRC-16/CCITT-FALSE, little-endian */
#define BP_MIN_FRAME 6u      /* decoded frame with an empty payload */
#define BP_MAX_FRAME 254u    /* decoded frame: header + payload + CRC */
#define BP_MAX_PAYLOAD 248u
#define BP_MAX_BODY 255u     /* COBS-encoded frame between delimiters */
#define BP_MAX_WIRE 257u     /* 0x00 + body + 0x00 */
#define BP_PAYLOAD_OFFSET 6u /* where bp_frame_finish() expects the payload */
#define BP_WIRE_OVERHEAD 9u  /* wire length = payload length + 9 */

#ifndef BP_MAX_TRAINS
#define BP_MAX_TRAINS 11u
#endif
#ifndef BP_MAX_OUTPUTS
#define BP_MAX_OUTPUTS 8u
#endif
#define BP_MAX_CHANNELS 16u
#define BP_BOARD_LEN 8u
#define BP_MAX_SAMPLES 119u /* channel_count * sample_count in one SampleBlock */

#ifndef BP_COUNTER_T
#if defined(__AVR__)
#define BP_COUNTER_T uint16_t
#else
#define BP_COUNTER_T uint32_t
#endif
#endif

/* ---- Message kinds (§5); bit 7 set = device to host ------------------- */

enum {
    BP_KIND_HELLO = 0x01,
    BP_KIND_CONFIGURE = 0x02,
    BP_KIND_START = 0x03,
    BP_KIND_STOP = 0x04,
    BP_KIND_STIMULUS = 0x05,
    BP_KIND_STOP_ALL = 0x06,
    BP_KIND_HEARTBEAT = 0x07,
    BP_KIND_DEVICE_INFO = 0x81,
    BP_KIND_ACK = 0x82,
    BP_KIND_NACK = 0x83,
    BP_KIND_STATUS = 0x84,
    BP_KIND_SAMPLE_BLOCK = 0x85,
    BP_KIND_STIMULUS_EVENT = 0x86
};

/* Nack codes (§5.8); the parse functions return these too (0 = success). */
enum {
    BP_OK = 0,
    BP_NACK_UNKNOWN_KIND = 1,
    BP_NACK_BAD_LENGTH = 2,
    BP_NACK_OUT_OF_RANGE = 3,
    BP_NACK_BUSY = 4,
    BP_NACK_NOT_CONFIGURED = 5,
    BP_NACK_OVERRUN = 6,
    BP_NACK_BAD_CRC = 7,
    BP_NACK_TOO_LATE = 8,
    BP_NACK_NOT_RUNNING = 9,
    BP_NACK_UNSUPPORTED_VERSION = 10,
    BP_NACK_WATCHDOG = 11
};

/* Flag bits */
#define BP_STIM_FLAG_AT_INDEX 0x01u   /* Stimulus.flags: start at start_index */
#define BP_EVENT_FLAG_LAST 0x01u      /* StimulusEvent.flags */
#define BP_EVENT_FLAG_ABORTED 0x02u
#define BP_STATUS_REPLY 0x01u         /* Status.flags */
#define BP_STATUS_CONFIGURED 0x02u
#define BP_STATUS_RUNNING 0x04u
#define BP_STATUS_STIMULATING 0x08u
#define BP_STATUS_WATCHDOG_TRIPPED 0x10u
#define BP_UNIT_CURRENT 1u /* output unit codes: base unit nA (shown as uA) */
#define BP_UNIT_VOLTAGE 2u /* base unit uV (shown as mV) */

/* ---- Message structs (§5). Field names match the vectors' JSON. -------- */

typedef struct {
    uint8_t protocol_major, protocol_minor;
} bp_hello_t;

typedef struct {
    uint32_t sample_rate_hz;
    uint16_t channel_mask;
    uint8_t block_samples;
    uint8_t gains[BP_MAX_CHANNELS]; /* one per set bit of channel_mask, ascending */
} bp_configure_t;

typedef struct {
    uint32_t delay_samples;
    int16_t phase1_code;
    uint16_t phase1_samples;
    uint16_t interphase_samples;
    int16_t phase2_code;
    uint16_t phase2_samples;
    uint32_t interval_samples;
    uint16_t pulse_count;
} bp_train_t;

typedef struct {
    uint16_t stim_id;
    uint8_t output;
    uint8_t flags;
    uint64_t start_index;
    uint8_t train_count;
    bp_train_t trains[BP_MAX_TRAINS];
} bp_stimulus_t;

typedef struct {
    uint8_t unit;
    uint8_t dac_bits;
    uint16_t max_amplitude_code;
    uint32_t scale;        /* base units (nA or uV) per DAC code */
    uint32_t max_phase_us;
    uint32_t max_charge;   /* base unit * ms per phase (pC for current); 0 = none */
} bp_output_t;

typedef struct {
    uint8_t protocol_major, protocol_minor;
    uint8_t fw_major, fw_minor;
    uint16_t fw_patch;
    char board[BP_BOARD_LEN + 1]; /* NUL-terminated; up to 8 ASCII characters */
    uint64_t unique_id;
    uint32_t clock_hz;
    uint32_t max_sample_rate_hz;
    uint16_t adc_ref_mv;
    uint8_t adc_bits;
    uint8_t input_channels;
    uint8_t gain_count;
    uint8_t max_trains;
    uint16_t watchdog_ms;
    uint8_t output_count;
    bp_output_t outputs[BP_MAX_OUTPUTS];
} bp_device_info_t;

typedef struct {
    uint16_t acked_seq;
    uint8_t acked_kind;
    uint32_t info;
} bp_ack_t;

typedef struct {
    uint16_t acked_seq;
    uint8_t acked_kind;
    uint8_t code;
    uint16_t detail;
} bp_nack_t;

typedef struct {
    uint64_t sample_index;
    uint64_t uptime_us;
    uint16_t reply_seq;
    uint8_t flags;
    uint8_t stim_active_mask;
    uint16_t buffer_high_water;
    uint16_t buffer_capacity;
    uint32_t overruns;
    uint32_t dropped_samples;
    uint16_t rx_crc_errors;
    uint16_t rx_framing_errors;
    uint16_t rx_frames_lost;
} bp_status_t;

/* samples: channel_count * sample_count unsigned 16-bit values, little-endian,
 * interleaved by channel (period 0: ch a, ch b, ...; period 1: ...). It is not
 * copied by the parser: it points into the parsed payload. Read value i with
 * bp_get_u16le(samples + 2 * i). */
typedef struct {
    uint64_t first_sample_index;
    uint8_t channel_count;
    uint8_t sample_count;
    const uint8_t *samples;
} bp_sample_block_t;

typedef struct {
    uint64_t onset_index;
    uint16_t stim_id;
    uint8_t output;
    uint8_t train;
    uint16_t pulse;
    int16_t phase1_code;
    int16_t phase2_code;
    uint8_t flags;
} bp_stimulus_event_t;

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

size_t bp_encode_hello(uint8_t *out, size_t cap, uint16_t seq, const bp_hello_t *m);
size_t bp_encode_configure(uint8_t *out, size_t cap, uint16_t seq, const bp_configure_t *m);
size_t bp_encode_stimulus(uint8_t *out, size_t cap, uint16_t seq, const bp_stimulus_t *m);
size_t bp_encode_device_info(uint8_t *out, size_t cap, uint16_t seq, const bp_device_info_t *m);
size_t bp_encode_ack(uint8_t *out, size_t cap, uint16_t seq, const bp_ack_t *m);
size_t bp_encode_nack(uint8_t *out, size_t cap, uint16_t seq, const bp_nack_t *m);
size_t bp_encode_status(uint8_t *out, size_t cap, uint16_t seq, const bp_status_t *m);
size_t bp_encode_sample_block(uint8_t *out, size_t cap, uint16_t seq, const bp_sample_block_t *m);
size_t bp_encode_stimulus_event(uint8_t *out, size_t cap, uint16_t seq, const bp_stimulus_event_t *m);
#define bp_encode_start(out, cap, seq) bp_encode_frame((out), (cap), BP_KIND_START, (seq), NULL, 0)
#define bp_encode_stop(out, cap, seq) bp_encode_frame((out), (cap), BP_KIND_STOP, (seq), NULL, 0)
#define bp_encode_stop_all(out, cap, seq) bp_encode_frame((out), (cap), BP_KIND_STOP_ALL, (seq), NULL, 0)
#define bp_encode_heartbeat(out, cap, seq) bp_encode_frame((out), (cap), BP_KIND_HEARTBEAT, (seq), NULL, 0)

/* ---- Parsing (§5) -------------------------------------------------------
 * p/len: a frame's payload (bp_frame_payload / bp_frame_payload_len).
 * Return BP_OK, BP_NACK_BAD_LENGTH (payload shorter than the kind needs) or
 * BP_NACK_OUT_OF_RANGE (a count above this build's BP_MAX_*). Trailing bytes
 * are ignored (§7). Start, Stop, StopAll and Heartbeat have nothing to parse. */

uint8_t bp_parse_hello(const uint8_t *p, size_t len, bp_hello_t *m);
uint8_t bp_parse_configure(const uint8_t *p, size_t len, bp_configure_t *m);
uint8_t bp_parse_stimulus(const uint8_t *p, size_t len, bp_stimulus_t *m);
uint8_t bp_parse_device_info(const uint8_t *p, size_t len, bp_device_info_t *m);
uint8_t bp_parse_ack(const uint8_t *p, size_t len, bp_ack_t *m);
uint8_t bp_parse_nack(const uint8_t *p, size_t len, bp_nack_t *m);
uint8_t bp_parse_status(const uint8_t *p, size_t len, bp_status_t *m);
uint8_t bp_parse_sample_block(const uint8_t *p, size_t len, bp_sample_block_t *m);
uint8_t bp_parse_stimulus_event(const uint8_t *p, size_t len, bp_stimulus_event_t *m);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_PROTOCOL_H */
