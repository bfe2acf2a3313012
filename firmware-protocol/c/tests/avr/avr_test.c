/* Runs the golden vectors through the library on an ATmega328P (simavr):
 * 16-bit int and size_t, uint16_t counters, 2 KB of RAM. Prints
 * "AVR PASS <n>" or "AVR FAIL ..." on UART0, then sleeps with interrupts off
 * (which ends simavr). */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <string.h>

#include "bench_protocol.h"
#include "avr_vectors.h"

static uint8_t rx[BP_MAX_FRAME], rx2[BP_MAX_FRAME], tx[BP_MAX_WIRE];
static bp_decoder_t dec, dec2;
static union {
    bp_hello_t hello;
    bp_configure_t configure;
    bp_stimulus_t stimulus;
    bp_device_info_t device_info;
    bp_ack_t ack;
    bp_nack_t nack;
    bp_status_t status;
    bp_sample_block_t sample_block;
    bp_stimulus_event_t stimulus_event;
} msg;

static void put(char c)
{
    while (!(UCSR0A & (1 << UDRE0)))
        ;
    UDR0 = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) put(*s++); }
static void puts_P_(const char *s) { char c; while ((c = (char)pgm_read_byte(s++))) put(c); }
static void putu(uint16_t v)
{
    char b[6];
    uint8_t i = 0;
    do { b[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) put(b[--i]);
}

static uint16_t failures;

static void fail(const char *name, const char *what, uint16_t a, uint16_t b)
{
    failures++;
    puts_("AVR FAIL ");
    puts_P_(name);
    put(' ');
    puts_(what);
    put(' ');
    putu(a);
    put(' ');
    putu(b);
    put('\n');
}

/* parse the delivered frame and encode it again into tx; returns the parse code */
static uint8_t parse_and_encode(size_t *n)
{
    const uint8_t *p = bp_frame_payload(&dec);
    size_t len = bp_frame_payload_len(&dec);
    uint16_t seq = bp_frame_seq(&dec);
    uint8_t err = BP_OK;
    *n = 0;
    switch (bp_frame_kind(&dec)) {
    case BP_KIND_HELLO:
        if (!(err = bp_parse_hello(p, len, &msg.hello))) *n = bp_encode_hello(tx, sizeof tx, seq, &msg.hello);
        break;
    case BP_KIND_CONFIGURE:
        if (!(err = bp_parse_configure(p, len, &msg.configure))) *n = bp_encode_configure(tx, sizeof tx, seq, &msg.configure);
        break;
    case BP_KIND_START: *n = bp_encode_start(tx, sizeof tx, seq); break;
    case BP_KIND_STOP: *n = bp_encode_stop(tx, sizeof tx, seq); break;
    case BP_KIND_STOP_ALL: *n = bp_encode_stop_all(tx, sizeof tx, seq); break;
    case BP_KIND_HEARTBEAT: *n = bp_encode_heartbeat(tx, sizeof tx, seq); break;
    case BP_KIND_STIMULUS:
        if (!(err = bp_parse_stimulus(p, len, &msg.stimulus))) *n = bp_encode_stimulus(tx, sizeof tx, seq, &msg.stimulus);
        break;
    case BP_KIND_DEVICE_INFO:
        if (!(err = bp_parse_device_info(p, len, &msg.device_info))) *n = bp_encode_device_info(tx, sizeof tx, seq, &msg.device_info);
        break;
    case BP_KIND_ACK:
        if (!(err = bp_parse_ack(p, len, &msg.ack))) *n = bp_encode_ack(tx, sizeof tx, seq, &msg.ack);
        break;
    case BP_KIND_NACK:
        if (!(err = bp_parse_nack(p, len, &msg.nack))) *n = bp_encode_nack(tx, sizeof tx, seq, &msg.nack);
        break;
    case BP_KIND_STATUS:
        if (!(err = bp_parse_status(p, len, &msg.status))) *n = bp_encode_status(tx, sizeof tx, seq, &msg.status);
        break;
    case BP_KIND_SAMPLE_BLOCK:
        if (!(err = bp_parse_sample_block(p, len, &msg.sample_block))) *n = bp_encode_sample_block(tx, sizeof tx, seq, &msg.sample_block);
        break;
    case BP_KIND_STIMULUS_EVENT:
        if (!(err = bp_parse_stimulus_event(p, len, &msg.stimulus_event))) *n = bp_encode_stimulus_event(tx, sizeof tx, seq, &msg.stimulus_event);
        break;
    default:
        err = BP_NACK_UNKNOWN_KIND;
    }
    return err;
}

static void run(const avr_vector_t *vp)
{
    avr_vector_t v;
    const uint8_t *fp;
    uint8_t frame = 0;
    uint16_t i;
    memcpy_P(&v, vp, sizeof v);
    fp = v.frames;
    bp_decoder_init(&dec, rx, sizeof rx);
    for (i = 0; i < v.wire_len; i++) {
        uint8_t ev = bp_decoder_push(&dec, pgm_read_byte(v.wire + i));
        uint8_t len, code, exact;
        size_t n, j;
        if (ev != BP_EV_FRAME)
            continue;
        if (frame++ >= v.nframes) {
            fail(v.name, "extra frame", frame, v.nframes);
            return;
        }
        len = pgm_read_byte(fp);
        code = pgm_read_byte(fp + 1);
        exact = pgm_read_byte(fp + 2);
        fp += 3;
        if (bp_frame_len(&dec) != len || memcmp_P(bp_frame(&dec), fp, len) != 0)
            fail(v.name, "frame bytes", (uint16_t)bp_frame_len(&dec), len);
        if (parse_and_encode(&n) != code)
            fail(v.name, "parse code", frame, code);
        if (exact) {
            /* the re-encoded frame decodes to the same bytes, length n = len + 3 */
            uint8_t got = 0;
            if (n != (size_t)len + 3u)
                fail(v.name, "encoded length", (uint16_t)n, len);
            bp_decoder_init(&dec2, rx2, sizeof rx2);
            for (j = 0; j < n; j++)
                if (bp_decoder_push(&dec2, tx[j]) == BP_EV_FRAME)
                    got = bp_frame_len(&dec2) == len && memcmp_P(rx2, fp, len) == 0;
            if (!got)
                fail(v.name, "re-encode", frame, 0);
        }
        fp += len;
    }
    if (frame != v.nframes)
        fail(v.name, "frame count", frame, v.nframes);
    {
        const BP_COUNTER_T got[10] = {dec.count.frames_ok, dec.count.crc_errors, dec.count.cobs_errors,
                                      dec.count.short_frames, dec.count.oversized, dec.count.version_errors,
                                      dec.count.bytes_skipped, dec.count.resyncs, dec.count.frames_lost,
                                      dec.count.seq_resets};
        uint8_t k;
        for (k = 0; k < 10; k++)
            if (got[k] != v.counters[k])
                fail(v.name, "counter", k, v.counters[k]);
    }
}

int main(void)
{
    uint16_t i;
    const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    UCSR0A = 1 << U2X0;
    UBRR0 = 1; /* 1 000 000 baud at 16 MHz */
    UCSR0B = 1 << TXEN0;
    if (bp_crc16(check, sizeof check) != 0x29B1u)
        fail(PSTR("crc"), "check", bp_crc16(check, sizeof check), 0x29B1u);
    for (i = 0; i < VECTOR_COUNT; i++)
        run(&VECTORS[i]);
    if (failures) {
        puts_("AVR FAIL total ");
        putu(failures);
    } else {
        puts_("AVR PASS ");
        putu(VECTOR_COUNT);
    }
    put('\n');
    while (!(UCSR0A & (1 << TXC0)))
        ;
    cli();
    sleep_mode();
    for (;;)
        ;
}
