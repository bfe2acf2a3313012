/*
 * main.c - Bench reference rig firmware (ATmega328P, Arduino Uno R3).
 *
 * The device side of firmware-protocol/PROTOCOL.md, on the C protocol library
 * (the Arduino library firmware-protocol/c: its encoders, parsers, offsets). The main loop decodes received bytes, answers
 * commands, and sends StimulusEvents, watchdog Status and SampleBlocks, in that
 * order of priority; acq.c does everything tied to the sample clock.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>
#include <string.h>

#include "acq.h"
#include "bench_protocol.h"
#include "ident.h"
#include "link.h"
#include "rig_config.h"

/* ---- After any reset, before .data/.bss are set up: outputs off ---------- */
void early_init(void) __attribute__((naked, used, section(".init3")));
void early_init(void)
{
    MCUSR = 0;     /* a watchdog reset leaves the watchdog running: stop it first */
    wdt_disable();
    acq_outputs_off_early();
}

/* ---- millisecond clock (Timer2), for uptime and rate limits ---------------- */
static volatile uint32_t ms_count;

ISR(TIMER2_COMPA_vect)
{
    ms_count++;
}

static void clock_init(void)
{
    TCCR2A = _BV(WGM21); /* CTC */
    OCR2A = 249;         /* 16 MHz / 64 / 250 = 1 kHz */
    TIMSK2 = _BV(OCIE2A);
    TCCR2B = _BV(CS22);  /* / 64: 4 us per count */
}

static uint32_t now_ms(void)
{
    uint32_t m;
    cli();
    m = ms_count;
    sei();
    return m;
}

static uint64_t uptime_us(void)
{
    uint32_t m;
    uint8_t t;
    cli();
    m = ms_count;
    t = TCNT2;
    if ((TIFR2 & _BV(OCF2A)) && t < 125) /* wrapped, interrupt not yet taken */
        m++;
    sei();
    return (uint64_t)m * 1000u + (uint16_t)t * 4u;
}

/* ---- state ------------------------------------------------------------------ */
static uint8_t rx_frame[BP_MAX_FRAME];
static bp_decoder_t dec;
static uint8_t txf[BP_MAX_WIRE];    /* frame being moved into the transmit ring */
static uint16_t tx_len, tx_pos;
static uint16_t tx_seq;
static uint8_t host_spoke, sent_any;
static uint64_t unique_id;
static uint8_t configured;
static uint8_t block_samples;
static uint32_t period = 800;       /* limits use 20 kHz until configured */
static uint32_t nmax, qmax;         /* PROTOCOL.md 6.4 rules P and Q at this period */
static uint32_t last_bad_crc_ms;
static uint8_t bad_crc_sent;

static void compute_limits(void)
{
    nmax = (uint32_t)(((uint64_t)RIG_MAX_PHASE_US * RIG_CLOCK_HZ) / ((uint64_t)period * 1000000UL));
    qmax = (uint32_t)(((uint64_t)RIG_MAX_CHARGE_PC * RIG_CLOCK_HZ) /
                      ((uint64_t)RIG_SCALE_NA * period * 1000UL));
}

/* ---- transmit ------------------------------------------------------------- */

static void tx_pump(void)
{
    if (tx_len) {
        uint16_t left = tx_len - tx_pos;
        tx_pos += link_put(txf + tx_pos, left > 255 ? 255 : (uint8_t)left);
        if (tx_pos >= tx_len)
            tx_len = tx_pos = 0;
    }
}

static void tx_wait_free(void)
{
    while (tx_len) {
        tx_pump();
        wdt_reset();
    }
}

static void tx_commit(size_t n)
{
    if (!n)
        return;
    if (!sent_any) { /* resync byte before the first frame (PROTOCOL.md 9) */
        static const uint8_t zero = 0;
        while (!link_put(&zero, 1))
            ;
        sent_any = 1;
    }
    tx_seq++;
    tx_len = (uint16_t)n;
    tx_pos = 0;
    tx_pump();
}

static void send_ack(uint16_t seq, uint8_t kind, uint32_t info)
{
    bp_ack_t a;
    a.acked_seq = seq;
    a.acked_kind = kind;
    a.info = info;
    tx_wait_free();
    tx_commit(bp_encode_ack(txf, sizeof txf, tx_seq, &a));
}

static void send_nack(uint16_t seq, uint8_t kind, uint8_t code, uint16_t detail)
{
    bp_nack_t n;
    n.acked_seq = seq;
    n.acked_kind = kind;
    n.code = code;
    n.detail = detail;
    tx_wait_free();
    tx_commit(bp_encode_nack(txf, sizeof txf, tx_seq, &n));
}

static void send_status(uint8_t reply, uint16_t reply_seq)
{
    bp_status_t s;
    acq_stats_t st;
    uint8_t stim = acq_stim_active();
    acq_stats(&st);
    s.sample_index = acq_next_index();
    s.uptime_us = uptime_us();
    s.reply_seq = reply ? reply_seq : 0;
    s.flags = (uint8_t)((reply ? BP_STATUS_REPLY : 0) | (configured ? BP_STATUS_CONFIGURED : 0) |
                        (acq_is_running() ? BP_STATUS_RUNNING : 0) | (stim ? BP_STATUS_STIMULATING : 0) |
                        (acq_watchdog_tripped() ? BP_STATUS_WATCHDOG_TRIPPED : 0));
    s.stim_active_mask = stim ? 1 : 0;
    s.buffer_high_water = st.high_water;
    s.buffer_capacity = st.capacity;
    s.overruns = st.overruns;
    s.dropped_samples = st.dropped;
    s.rx_crc_errors = (uint16_t)dec.count.crc_errors;
    s.rx_framing_errors = (uint16_t)(dec.count.cobs_errors + dec.count.short_frames + dec.count.oversized +
                                     dec.count.version_errors);
    s.rx_frames_lost = (uint16_t)dec.count.frames_lost;
    tx_wait_free();
    tx_commit(bp_encode_status(txf, sizeof txf, tx_seq, &s));
}

static void send_device_info(void)
{
    bp_device_info_t d;
    memset(&d, 0, sizeof d);
    d.protocol_major = BP_PROTOCOL_MAJOR;
    d.protocol_minor = BP_PROTOCOL_MINOR;
    d.fw_major = RIG_FW_MAJOR;
    d.fw_minor = RIG_FW_MINOR;
    d.fw_patch = RIG_FW_PATCH;
    memcpy(d.board, RIG_BOARD, sizeof RIG_BOARD);
    d.unique_id = unique_id;
    d.clock_hz = RIG_CLOCK_HZ;
    d.max_sample_rate_hz = RIG_MAX_SAMPLE_RATE_HZ;
    d.adc_ref_mv = RIG_ADC_REF_MV;
    d.adc_bits = RIG_ADC_BITS;
    d.input_channels = RIG_INPUT_CHANNELS;
    d.gain_count = RIG_GAIN_COUNT;
    d.max_trains = RIG_MAX_TRAINS;
    d.watchdog_ms = RIG_WATCHDOG_MS;
    d.output_count = 1;
    d.outputs[0].unit = RIG_UNIT;
    d.outputs[0].dac_bits = RIG_DAC_BITS;
    d.outputs[0].max_amplitude_code = RIG_MAX_AMPLITUDE_CODE;
    d.outputs[0].scale = RIG_SCALE_NA;
    d.outputs[0].max_phase_us = RIG_MAX_PHASE_US;
    d.outputs[0].max_charge = RIG_MAX_CHARGE_PC;
    tx_wait_free();
    tx_commit(bp_encode_device_info(txf, sizeof txf, tx_seq, &d));
}

/* ---- commands ------------------------------------------------------------------ */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static uint16_t magnitude(int16_t c)
{
    return c < 0 ? (uint16_t)(-(int32_t)c) : (uint16_t)c;
}

/* PROTOCOL.md 6.4 rule P and rule Q for one phase */
static uint8_t phase_ok(int16_t code, uint16_t n)
{
    return n <= nmax && (uint32_t)magnitude(code) * n <= qmax;
}

static void do_configure(uint16_t seq, const uint8_t *p, size_t len)
{
    bp_configure_t c;
    uint8_t k, i;
    uint32_t t;
    if (bp_parse_configure(p, len, &c) != BP_OK) {
        uint16_t need = BP_CONFIGURE_FIXED_LEN;
        if (len >= BP_CONFIGURE_FIXED_LEN) { /* the gains the mask announces are missing */
            uint16_t m = get16(p + BP_CONFIGURE_CHANNEL_MASK_OFFSET);
            while (m) {
                m &= (uint16_t)(m - 1u);
                need++;
            }
        }
        send_nack(seq, BP_KIND_CONFIGURE, BP_NACK_BAD_LENGTH, need);
        return;
    }
    for (k = 0, i = 0; i < BP_MAX_CHANNELS; i++)
        k += (uint8_t)((c.channel_mask >> i) & 1u);
    if (c.channel_mask == 0 || (c.channel_mask >> RIG_INPUT_CHANNELS) != 0) {
        send_nack(seq, BP_KIND_CONFIGURE, BP_NACK_OUT_OF_RANGE, BP_CONFIGURE_CHANNEL_MASK_OFFSET);
        return;
    }
    if (c.sample_rate_hz < 1 || (uint64_t)c.sample_rate_hz * k > RIG_MAX_SAMPLE_RATE_HZ) {
        send_nack(seq, BP_KIND_CONFIGURE, BP_NACK_OUT_OF_RANGE, BP_CONFIGURE_SAMPLE_RATE_HZ_OFFSET);
        return;
    }
    if ((uint16_t)c.block_samples * k > BP_MAX_SAMPLES || c.block_samples >= RIG_RING_SAMPLES) {
        send_nack(seq, BP_KIND_CONFIGURE, BP_NACK_OUT_OF_RANGE, BP_CONFIGURE_BLOCK_SAMPLES_OFFSET);
        return;
    }
    for (i = 0; i < k; i++) {
        if (c.gains[i] >= (RIG_GAIN_COUNT > 1 ? RIG_GAIN_COUNT : 1)) {
            send_nack(seq, BP_KIND_CONFIGURE, BP_NACK_OUT_OF_RANGE, (uint16_t)(BP_CONFIGURE_GAINS_OFFSET + i));
            return;
        }
    }
    if (acq_is_running()) {
        send_nack(seq, BP_KIND_CONFIGURE, BP_NACK_BUSY, 0);
        return;
    }
    t = acq_configure(c.sample_rate_hz);
    period = t;
    compute_limits();
    if (c.block_samples) {
        block_samples = c.block_samples;
    } else { /* about 2 ms of samples per block */
        uint32_t b = (RIG_CLOCK_HZ / 500u) / t;
        block_samples = (uint8_t)(b < 1 ? 1 : b > RIG_BLOCK_MAX_DEFAULT ? RIG_BLOCK_MAX_DEFAULT : b);
    }
    configured = 1;
    send_ack(seq, BP_KIND_CONFIGURE, t);
}

/* PROTOCOL.md 6.4, in order; the payload is read in place, a train at a time
 * (bp_parse_train), so no second copy of the Stimulus is held in RAM. */
static void do_stimulus(uint16_t seq, const uint8_t *p, size_t len)
{
    acq_stim_t s;
    uint8_t tc, i, code;
    if (len < BP_STIMULUS_FIXED_LEN) {
        send_nack(seq, BP_KIND_STIMULUS, BP_NACK_BAD_LENGTH, BP_STIMULUS_FIXED_LEN);
        return;
    }
    tc = p[BP_STIMULUS_TRAIN_COUNT_OFFSET];
    if (len < BP_STIMULUS_FIXED_LEN + BP_TRAIN_LEN * (size_t)tc) {
        send_nack(seq, BP_KIND_STIMULUS, BP_NACK_BAD_LENGTH,
                  (uint16_t)(BP_STIMULUS_FIXED_LEN + BP_TRAIN_LEN * tc));
        return;
    }
    if (p[BP_STIMULUS_OUTPUT_OFFSET] >= 1) { /* one output */
        send_nack(seq, BP_KIND_STIMULUS, BP_NACK_OUT_OF_RANGE, BP_STIMULUS_OUTPUT_OFFSET);
        return;
    }
    if (p[BP_STIMULUS_FLAGS_OFFSET] & (uint8_t)~BP_STIM_FLAG_AT_INDEX) {
        send_nack(seq, BP_KIND_STIMULUS, BP_NACK_OUT_OF_RANGE, BP_STIMULUS_FLAGS_OFFSET);
        return;
    }
    if (tc < 1 || tc > RIG_MAX_TRAINS) {
        send_nack(seq, BP_KIND_STIMULUS, BP_NACK_OUT_OF_RANGE, BP_STIMULUS_TRAIN_COUNT_OFFSET);
        return;
    }
    for (i = 0; i < tc; i++) {
        bp_train_t *t = &s.trains[i];
        uint16_t b = (uint16_t)(BP_STIMULUS_TRAINS_OFFSET + BP_TRAIN_LEN * i), bad = 0;
        bp_parse_train(p, len, i, t); /* BP_OK: the length was checked above */
        if (magnitude(t->phase1_code) > RIG_MAX_AMPLITUDE_CODE)
            bad = b + BP_TRAIN_PHASE1_CODE_OFFSET;
        else if (t->phase1_samples < 1 || !phase_ok(t->phase1_code, t->phase1_samples))
            bad = b + BP_TRAIN_PHASE1_SAMPLES_OFFSET;
        else if (magnitude(t->phase2_code) > RIG_MAX_AMPLITUDE_CODE ||
                 (t->phase2_samples == 0 && t->phase2_code != 0))
            bad = b + BP_TRAIN_PHASE2_CODE_OFFSET;
        else if (t->phase2_samples > 0 && !phase_ok(t->phase2_code, t->phase2_samples))
            bad = b + BP_TRAIN_PHASE2_SAMPLES_OFFSET;
        else if (t->interval_samples <
                 (uint32_t)t->phase1_samples + t->interphase_samples + t->phase2_samples)
            bad = b + BP_TRAIN_INTERVAL_SAMPLES_OFFSET;
        else if (t->pulse_count < 1)
            bad = b + BP_TRAIN_PULSE_COUNT_OFFSET;
        if (bad) {
            send_nack(seq, BP_KIND_STIMULUS, BP_NACK_OUT_OF_RANGE, bad);
            return;
        }
    }
    if (!acq_is_running()) {
        send_nack(seq, BP_KIND_STIMULUS, BP_NACK_NOT_RUNNING, 0);
        return;
    }
    if (acq_watchdog_tripped() || !acq_heartbeat_fresh()) {
        send_nack(seq, BP_KIND_STIMULUS, BP_NACK_WATCHDOG, 0);
        return;
    }
    /* the StimulusEvents still queued describe the previous stimulus: send them first */
    {
        bp_stimulus_event_t e;
        while (acq_take_event(&e)) {
            tx_wait_free();
            tx_commit(bp_encode_stimulus_event(txf, sizeof txf, tx_seq, &e));
        }
    }
    s.stim_id = get16(p + BP_STIMULUS_STIM_ID_OFFSET);
    s.flags = p[BP_STIMULUS_FLAGS_OFFSET];
    s.start_index = (uint64_t)get32(p + BP_STIMULUS_START_INDEX_OFFSET) |
                    ((uint64_t)get32(p + BP_STIMULUS_START_INDEX_OFFSET + 4) << 32);
    s.train_count = tc;
    code = acq_stim_arm(&s);
    if (code)
        send_nack(seq, BP_KIND_STIMULUS, code, 0);
    else
        send_ack(seq, BP_KIND_STIMULUS, 0);
}

static void do_frame(uint32_t stamp)
{
    uint8_t kind = bp_frame_kind(&dec);
    uint16_t seq = bp_frame_seq(&dec);
    const uint8_t *p = bp_frame_payload(&dec);
    size_t len = bp_frame_payload_len(&dec);
    host_spoke = 1;
    switch (kind) {
    case BP_KIND_HELLO: {
        bp_hello_t h;
        if (bp_parse_hello(p, len, &h) != BP_OK)
            send_nack(seq, kind, BP_NACK_BAD_LENGTH, 2);
        else
            send_device_info();
        break;
    }
    case BP_KIND_CONFIGURE:
        do_configure(seq, p, len);
        break;
    case BP_KIND_START:
        if (!configured) {
            send_nack(seq, kind, BP_NACK_NOT_CONFIGURED, 0);
        } else {
            acq_start();
            send_ack(seq, kind, 0);
        }
        break;
    case BP_KIND_STOP:
        acq_stop();
        send_ack(seq, kind, 0);
        break;
    case BP_KIND_STIMULUS:
        do_stimulus(seq, p, len);
        break;
    case BP_KIND_STOP_ALL:
        acq_stim_abort();
        acq_watchdog_clear();
        send_ack(seq, kind, 0);
        break;
    case BP_KIND_HEARTBEAT:
        acq_heartbeat(stamp);
        send_status(1, seq);
        break;
    default:
        send_nack(seq, kind, BP_NACK_UNKNOWN_KIND, 0);
        break;
    }
}

static void on_event(uint8_t ev, uint32_t stamp)
{
    switch (ev) {
    case BP_EV_FRAME:
        do_frame(stamp);
        break;
    case BP_EV_VERSION: /* answered in our own version (PROTOCOL.md 7) */
        host_spoke = 1;
        send_nack(bp_frame_seq(&dec), bp_frame_kind(&dec), BP_NACK_UNSUPPORTED_VERSION,
                  bp_frame_version(&dec));
        break;
    default: { /* a damaged body: advisory Nack, at most one per 100 ms */
        uint32_t now = now_ms();
        uint16_t detail = ev == BP_EV_CRC_ERROR ? 1 : ev == BP_EV_COBS_ERROR ? 2 : ev == BP_EV_SHORT ? 3 : 4;
        if (host_spoke && (!bad_crc_sent || now - last_bad_crc_ms >= 100)) {
            send_nack(0xFFFF, 0xFF, BP_NACK_BAD_CRC, detail);
            last_bad_crc_ms = now;
            bad_crc_sent = 1;
        }
        break;
    }
    }
}

int main(void)
{
    bp_stimulus_event_t e;
    clock_init();
    unique_id = ident_load(); /* first: the free RAM still holds its power-up pattern */
    {
        /* paint the free RAM, so that the deepest stack use can be read back
         * (bench-sim --stack-report; on a board, with a debugger) */
        extern uint8_t __heap_start;
        uint8_t *p = &__heap_start;
        while (p < (uint8_t *)(SP - 32))
            *p++ = 0xA5;
    }
    bp_decoder_init(&dec, rx_frame, sizeof rx_frame);
    compute_limits();
    link_init();
    wdt_enable(WDTO_250MS); /* a hung firmware resets, and resets to outputs off */
    sei();

    for (;;) {
        uint8_t in[16], n, i;
        wdt_reset();
        /* received bytes, 16 at a time, so that sending keeps pace with a long
         * command arriving at full line rate */
        n = link_read(in, sizeof in);
        for (i = 0; i < n; i++) {
            uint32_t stamp = 0;
            uint8_t ev;
            if (in[i] == 0)
                stamp = link_delimiter_stamp();
            ev = bp_decoder_push(&dec, in[i]);
            if (ev != BP_EV_NONE)
                on_event(ev, stamp);
        }
        tx_pump();
        if (!tx_len && host_spoke) {
            if (acq_take_status_request()) {
                send_status(0, 0);
            } else if (acq_take_event(&e)) {
                tx_commit(bp_encode_stimulus_event(txf, sizeof txf, tx_seq, &e));
            } else if (acq_is_running()) {
                uint64_t first;
                uint16_t *dst = (uint16_t *)(void *)(txf + BP_PAYLOAD_OFFSET + BP_SAMPLE_BLOCK_SAMPLES_OFFSET);
                uint8_t got = acq_take_block(block_samples, dst, &first);
                if (got) {
                    bp_sample_block_t blk;
                    blk.first_sample_index = first;
                    blk.channel_count = 1;
                    blk.sample_count = got;
                    blk.samples = (const uint8_t *)dst;
                    tx_commit(bp_encode_sample_block(txf, sizeof txf, tx_seq, &blk));
                }
            }
        }
        /* No idle sleep: a USB-powered rig gains nothing from it, and polling keeps
         * the loop's timing the same on the board and in simavr (which delays an
         * interrupt that is pending when SLEEP executes until its next timer event). */
    }
}
