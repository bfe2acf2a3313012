/*
 * link.c - UART0 at 1 000 000 baud, 8N1, U2X (PROTOCOL.md 9).
 * Receive: the RX interrupt stores each byte in a ring (and stamps delimiters);
 * the main loop runs the protocol decoder, so that the CRC of a whole frame never
 * runs inside an interrupt. Transmit: the UDRE interrupt empties a ring.
 */
#include "link.h"

#include <avr/interrupt.h>
#include <avr/io.h>

#include "acq.h"
#include "rig_config.h"

#define RX_MASK ((uint8_t)(RIG_RX_RING - 1u))
#if RIG_RX_RING != 128
#error "link_isr.S masks receive indices with 0x7F: update it with RIG_RX_RING"
#endif
#define TX_MASK ((uint8_t)(RIG_TX_RING - 1u))
#define STAMPS 8u
#define STAMP_MASK ((uint8_t)(STAMPS - 1u))

volatile uint8_t link_rx_buf[RIG_RX_RING];
volatile uint8_t link_rx_head;
volatile uint8_t link_rx_tail;
static volatile uint8_t tx_buf[RIG_TX_RING];
static volatile uint8_t tx_head, tx_tail;
volatile uint32_t link_stamps[STAMPS];
volatile uint8_t link_stamp_w;
static uint8_t stamp_r;
volatile uint16_t link_rx_dropped;

void link_init(void)
{
    UBRR0H = 0;
    UBRR0L = RIG_UBRR;
    UCSR0A = _BV(U2X0);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); /* 8N1 */
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

/* The receive interrupt is link_isr.S (it runs for every byte: 100 000 a second at
 * full line rate). It stores the byte in link_rx_buf at link_rx_head, counts a
 * byte lost when the ring is full in link_rx_dropped, and stamps each 0x00 in
 * link_stamps[link_stamp_w & 7] with acq_ticks. */

uint8_t link_read(uint8_t *dst, uint8_t max)
{
    uint8_t t = link_rx_tail, h = link_rx_head, n = 0;
    while (t != h && n < max) {
        dst[n++] = link_rx_buf[t];
        t = (uint8_t)((t + 1u) & RX_MASK);
    }
    link_rx_tail = t;
    return n;
}

uint8_t link_rx_pending(void)
{
    return link_rx_tail != link_rx_head;
}

uint32_t link_delimiter_stamp(void)
{
    uint32_t s;
    uint8_t w;
    cli();
    w = link_stamp_w;
    /* more than STAMPS delimiters waiting: the oldest stamps were overwritten;
     * use the oldest one still held (later than the truth: errs towards
     * tripping the watchdog early, never late) */
    if ((uint8_t)(w - stamp_r) > STAMPS)
        stamp_r = (uint8_t)(w - STAMPS);
    if (stamp_r == w) { /* no stamp (cannot happen): now */
        s = acq_ticks;
    } else {
        s = link_stamps[stamp_r & STAMP_MASK];
        stamp_r++;
    }
    sei();
    return s;
}

ISR(USART_UDRE_vect)
{
    uint8_t t = tx_tail;
    if (t == tx_head) {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
        return;
    }
    UDR0 = tx_buf[t];
    tx_tail = (uint8_t)((t + 1u) & TX_MASK);
}

uint8_t link_tx_free(void)
{
    return (uint8_t)((tx_tail - tx_head - 1u) & TX_MASK);
}

uint8_t link_tx_busy(void)
{
    return tx_head != tx_tail;
}

uint8_t link_put(const uint8_t *data, uint8_t n)
{
    uint8_t h = tx_head, put = 0;
    uint8_t room = link_tx_free();
    if (n > room)
        n = room;
    while (put < n) {
        tx_buf[h] = data[put++];
        h = (uint8_t)((h + 1u) & TX_MASK);
    }
    if (put) {
        tx_head = h;
        UCSR0B |= _BV(UDRIE0);
    }
    return put;
}
