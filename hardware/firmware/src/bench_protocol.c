/*
 * bench_protocol.c - Bench wire protocol 1.0 (see bench_protocol.h, ../PROTOCOL.md).
 * C99, no malloc, no stdio, no global state.
 */
#include "bench_protocol.h"

#include <string.h>

/* ---- Little-endian helpers --------------------------------------------- */

static uint8_t *put8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p = put16(p, (uint16_t)v);
    return put16(p, (uint16_t)(v >> 16));
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)v);
    return put32(p, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

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
    if (bp_crc16(d->buf, (size_t)n - BP_CRC_LEN) != get16(d->buf + n - BP_CRC_LEN)) {
        d->count.crc_errors++;
        return BP_EV_CRC_ERROR;
    }
    if (d->buf[0] != BP_PROTOCOL_MAJOR) {
        d->count.version_errors++;
        return BP_EV_VERSION;
    }
    d->count.frames_ok++;
    seq = get16(d->buf + 2);
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
    put16(f + 2, seq);
    n = BP_HEADER_LEN + payload_len;
    crc = bp_crc16(f, n);
    put16(f + n, crc);
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

/* Checks that cap holds a payload of len bytes; returns where it goes or NULL. */
static uint8_t *payload_at(uint8_t *out, size_t cap, size_t len)
{
    if (len > BP_MAX_PAYLOAD || cap < len + BP_WIRE_OVERHEAD)
        return NULL;
    return out + BP_PAYLOAD_OFFSET;
}

static uint8_t popcount16(uint16_t v)
{
    uint8_t n = 0;
    while (v) {
        v &= (uint16_t)(v - 1u);
        n++;
    }
    return n;
}

size_t bp_encode_hello(uint8_t *out, size_t cap, uint16_t seq, const bp_hello_t *m)
{
    uint8_t *p = payload_at(out, cap, 2);
    if (!p)
        return 0;
    p = put8(p, m->protocol_major);
    put8(p, m->protocol_minor);
    return bp_frame_finish(out, cap, BP_KIND_HELLO, seq, 2);
}

size_t bp_encode_configure(uint8_t *out, size_t cap, uint16_t seq, const bp_configure_t *m)
{
    uint8_t k = popcount16(m->channel_mask), i;
    uint8_t *p = payload_at(out, cap, 7u + k);
    if (!p)
        return 0;
    p = put32(p, m->sample_rate_hz);
    p = put16(p, m->channel_mask);
    p = put8(p, m->block_samples);
    for (i = 0; i < k; i++)
        p = put8(p, m->gains[i]);
    return bp_frame_finish(out, cap, BP_KIND_CONFIGURE, seq, 7u + k);
}

size_t bp_encode_stimulus(uint8_t *out, size_t cap, uint16_t seq, const bp_stimulus_t *m)
{
    size_t len = 13u + 20u * (size_t)m->train_count;
    uint8_t *p, i;
    if (m->train_count > BP_MAX_TRAINS || !(p = payload_at(out, cap, len)))
        return 0;
    p = put16(p, m->stim_id);
    p = put8(p, m->output);
    p = put8(p, m->flags);
    p = put64(p, m->start_index);
    p = put8(p, m->train_count);
    for (i = 0; i < m->train_count; i++) {
        const bp_train_t *t = &m->trains[i];
        p = put32(p, t->delay_samples);
        p = put16(p, (uint16_t)t->phase1_code);
        p = put16(p, t->phase1_samples);
        p = put16(p, t->interphase_samples);
        p = put16(p, (uint16_t)t->phase2_code);
        p = put16(p, t->phase2_samples);
        p = put32(p, t->interval_samples);
        p = put16(p, t->pulse_count);
    }
    return bp_frame_finish(out, cap, BP_KIND_STIMULUS, seq, len);
}

size_t bp_encode_device_info(uint8_t *out, size_t cap, uint16_t seq, const bp_device_info_t *m)
{
    size_t len = 39u + 16u * (size_t)m->output_count;
    uint8_t *p, i, end = 0;
    if (m->output_count > BP_MAX_OUTPUTS || !(p = payload_at(out, cap, len)))
        return 0;
    p = put8(p, m->protocol_major);
    p = put8(p, m->protocol_minor);
    p = put8(p, m->fw_major);
    p = put8(p, m->fw_minor);
    p = put16(p, m->fw_patch);
    for (i = 0; i < BP_BOARD_LEN; i++) { /* NUL-padded */
        if (m->board[i] == '\0')
            end = 1;
        p = put8(p, end ? 0 : (uint8_t)m->board[i]);
    }
    p = put64(p, m->unique_id);
    p = put32(p, m->clock_hz);
    p = put32(p, m->max_sample_rate_hz);
    p = put16(p, m->adc_ref_mv);
    p = put8(p, m->adc_bits);
    p = put8(p, m->input_channels);
    p = put8(p, m->gain_count);
    p = put8(p, m->max_trains);
    p = put16(p, m->watchdog_ms);
    p = put8(p, m->output_count);
    for (i = 0; i < m->output_count; i++) {
        const bp_output_t *o = &m->outputs[i];
        p = put8(p, o->unit);
        p = put8(p, o->dac_bits);
        p = put16(p, o->max_amplitude_code);
        p = put32(p, o->scale);
        p = put32(p, o->max_phase_us);
        p = put32(p, o->max_charge);
    }
    return bp_frame_finish(out, cap, BP_KIND_DEVICE_INFO, seq, len);
}

size_t bp_encode_ack(uint8_t *out, size_t cap, uint16_t seq, const bp_ack_t *m)
{
    uint8_t *p = payload_at(out, cap, 7);
    if (!p)
        return 0;
    p = put16(p, m->acked_seq);
    p = put8(p, m->acked_kind);
    put32(p, m->info);
    return bp_frame_finish(out, cap, BP_KIND_ACK, seq, 7);
}

size_t bp_encode_nack(uint8_t *out, size_t cap, uint16_t seq, const bp_nack_t *m)
{
    uint8_t *p = payload_at(out, cap, 6);
    if (!p)
        return 0;
    p = put16(p, m->acked_seq);
    p = put8(p, m->acked_kind);
    p = put8(p, m->code);
    put16(p, m->detail);
    return bp_frame_finish(out, cap, BP_KIND_NACK, seq, 6);
}

size_t bp_encode_status(uint8_t *out, size_t cap, uint16_t seq, const bp_status_t *m)
{
    uint8_t *p = payload_at(out, cap, 38);
    if (!p)
        return 0;
    p = put64(p, m->sample_index);
    p = put64(p, m->uptime_us);
    p = put16(p, m->reply_seq);
    p = put8(p, m->flags);
    p = put8(p, m->stim_active_mask);
    p = put16(p, m->buffer_high_water);
    p = put16(p, m->buffer_capacity);
    p = put32(p, m->overruns);
    p = put32(p, m->dropped_samples);
    p = put16(p, m->rx_crc_errors);
    p = put16(p, m->rx_framing_errors);
    put16(p, m->rx_frames_lost);
    return bp_frame_finish(out, cap, BP_KIND_STATUS, seq, 38);
}

size_t bp_encode_sample_block(uint8_t *out, size_t cap, uint16_t seq, const bp_sample_block_t *m)
{
    uint16_t k = (uint16_t)((uint16_t)m->channel_count * m->sample_count);
    size_t bytes = 2u * (size_t)k;
    uint8_t *p;
    if (k > BP_MAX_SAMPLES || !(p = payload_at(out, cap, 10u + bytes)))
        return 0;
    /* move the samples first: they may already sit in out (zero-copy) */
    if (bytes && m->samples != p + 10)
        memmove(p + 10, m->samples, bytes);
    p = put64(p, m->first_sample_index);
    p = put8(p, m->channel_count);
    put8(p, m->sample_count);
    return bp_frame_finish(out, cap, BP_KIND_SAMPLE_BLOCK, seq, 10u + bytes);
}

size_t bp_encode_stimulus_event(uint8_t *out, size_t cap, uint16_t seq, const bp_stimulus_event_t *m)
{
    uint8_t *p = payload_at(out, cap, 19);
    if (!p)
        return 0;
    p = put64(p, m->onset_index);
    p = put16(p, m->stim_id);
    p = put8(p, m->output);
    p = put8(p, m->train);
    p = put16(p, m->pulse);
    p = put16(p, (uint16_t)m->phase1_code);
    p = put16(p, (uint16_t)m->phase2_code);
    put8(p, m->flags);
    return bp_frame_finish(out, cap, BP_KIND_STIMULUS_EVENT, seq, 19);
}

/* ---- Parsing --------------------------------------------------------------- */

uint8_t bp_parse_hello(const uint8_t *p, size_t len, bp_hello_t *m)
{
    if (len < 2)
        return BP_NACK_BAD_LENGTH;
    m->protocol_major = p[0];
    m->protocol_minor = p[1];
    return BP_OK;
}

uint8_t bp_parse_configure(const uint8_t *p, size_t len, bp_configure_t *m)
{
    uint8_t k, i;
    if (len < 7)
        return BP_NACK_BAD_LENGTH;
    m->sample_rate_hz = get32(p);
    m->channel_mask = get16(p + 4);
    m->block_samples = p[6];
    k = popcount16(m->channel_mask);
    if (len < 7u + k)
        return BP_NACK_BAD_LENGTH;
    for (i = 0; i < BP_MAX_CHANNELS; i++)
        m->gains[i] = i < k ? p[7 + i] : 0;
    return BP_OK;
}

uint8_t bp_parse_stimulus(const uint8_t *p, size_t len, bp_stimulus_t *m)
{
    uint8_t i;
    if (len < 13)
        return BP_NACK_BAD_LENGTH;
    m->stim_id = get16(p);
    m->output = p[2];
    m->flags = p[3];
    m->start_index = get64(p + 4);
    m->train_count = p[12];
    if (len < 13u + 20u * (size_t)m->train_count)
        return BP_NACK_BAD_LENGTH;
    if (m->train_count > BP_MAX_TRAINS)
        return BP_NACK_OUT_OF_RANGE;
    for (i = 0; i < m->train_count; i++) {
        const uint8_t *q = p + 13 + 20 * (size_t)i;
        bp_train_t *t = &m->trains[i];
        t->delay_samples = get32(q);
        t->phase1_code = (int16_t)get16(q + 4);
        t->phase1_samples = get16(q + 6);
        t->interphase_samples = get16(q + 8);
        t->phase2_code = (int16_t)get16(q + 10);
        t->phase2_samples = get16(q + 12);
        t->interval_samples = get32(q + 14);
        t->pulse_count = get16(q + 18);
    }
    return BP_OK;
}

uint8_t bp_parse_device_info(const uint8_t *p, size_t len, bp_device_info_t *m)
{
    uint8_t i;
    if (len < 39)
        return BP_NACK_BAD_LENGTH;
    m->protocol_major = p[0];
    m->protocol_minor = p[1];
    m->fw_major = p[2];
    m->fw_minor = p[3];
    m->fw_patch = get16(p + 4);
    for (i = 0; i < BP_BOARD_LEN && p[6 + i] != 0; i++)
        m->board[i] = (char)p[6 + i];
    for (; i <= BP_BOARD_LEN; i++)
        m->board[i] = '\0';
    m->unique_id = get64(p + 14);
    m->clock_hz = get32(p + 22);
    m->max_sample_rate_hz = get32(p + 26);
    m->adc_ref_mv = get16(p + 30);
    m->adc_bits = p[32];
    m->input_channels = p[33];
    m->gain_count = p[34];
    m->max_trains = p[35];
    m->watchdog_ms = get16(p + 36);
    m->output_count = p[38];
    if (len < 39u + 16u * (size_t)m->output_count)
        return BP_NACK_BAD_LENGTH;
    if (m->output_count > BP_MAX_OUTPUTS)
        return BP_NACK_OUT_OF_RANGE;
    for (i = 0; i < m->output_count; i++) {
        const uint8_t *q = p + 39 + 16 * (size_t)i;
        bp_output_t *o = &m->outputs[i];
        o->unit = q[0];
        o->dac_bits = q[1];
        o->max_amplitude_code = get16(q + 2);
        o->scale = get32(q + 4);
        o->max_phase_us = get32(q + 8);
        o->max_charge = get32(q + 12);
    }
    return BP_OK;
}

uint8_t bp_parse_ack(const uint8_t *p, size_t len, bp_ack_t *m)
{
    if (len < 7)
        return BP_NACK_BAD_LENGTH;
    m->acked_seq = get16(p);
    m->acked_kind = p[2];
    m->info = get32(p + 3);
    return BP_OK;
}

uint8_t bp_parse_nack(const uint8_t *p, size_t len, bp_nack_t *m)
{
    if (len < 6)
        return BP_NACK_BAD_LENGTH;
    m->acked_seq = get16(p);
    m->acked_kind = p[2];
    m->code = p[3];
    m->detail = get16(p + 4);
    return BP_OK;
}

uint8_t bp_parse_status(const uint8_t *p, size_t len, bp_status_t *m)
{
    if (len < 38)
        return BP_NACK_BAD_LENGTH;
    m->sample_index = get64(p);
    m->uptime_us = get64(p + 8);
    m->reply_seq = get16(p + 16);
    m->flags = p[18];
    m->stim_active_mask = p[19];
    m->buffer_high_water = get16(p + 20);
    m->buffer_capacity = get16(p + 22);
    m->overruns = get32(p + 24);
    m->dropped_samples = get32(p + 28);
    m->rx_crc_errors = get16(p + 32);
    m->rx_framing_errors = get16(p + 34);
    m->rx_frames_lost = get16(p + 36);
    return BP_OK;
}

uint8_t bp_parse_sample_block(const uint8_t *p, size_t len, bp_sample_block_t *m)
{
    if (len < 10)
        return BP_NACK_BAD_LENGTH;
    m->first_sample_index = get64(p);
    m->channel_count = p[8];
    m->sample_count = p[9];
    m->samples = p + 10;
    /* 32-bit arithmetic: size_t is 16 bits on the AVR */
    if ((uint32_t)len < 10u + 2u * (uint32_t)m->channel_count * m->sample_count)
        return BP_NACK_BAD_LENGTH;
    return BP_OK;
}

uint8_t bp_parse_stimulus_event(const uint8_t *p, size_t len, bp_stimulus_event_t *m)
{
    if (len < 19)
        return BP_NACK_BAD_LENGTH;
    m->onset_index = get64(p);
    m->stim_id = get16(p + 8);
    m->output = p[10];
    m->train = p[11];
    m->pulse = get16(p + 12);
    m->phase1_code = (int16_t)get16(p + 14);
    m->phase2_code = (int16_t)get16(p + 16);
    m->flags = p[18];
    return BP_OK;
}
