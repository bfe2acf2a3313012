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
#define TX_MASK ((uint8_t)(RIG_TX_RING - 1u))
#define STAMPS 8u
#define STAMP_MASK ((uint8_t)(STAMPS - 1u))

static volatile uint8_t rx_buf[RIG_RX_RING];
static volatile uint8_t rx_head, rx_tail;
static volatile uint8_t tx_buf[RIG_TX_RING];
static volatile uint8_t tx_head, tx_tail;
static volatile uint32_t stamps[STAMPS];
static volatile uint8_t stamp_w;
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

ISR(USART_RX_vect)
{
    uint8_t status = UCSR0A;
    uint8_t b = UDR0;
    uint8_t next;
    (void)status;
    next = (uint8_t)((rx_head + 1u) & RX_MASK);
    if (next == rx_tail) {
        link_rx_dropped++;
        return;
    }
    if (b == 0) { /* a frame delimiter: remember when it arrived */
        stamps[stamp_w & STAMP_MASK] = acq_ticks;
        stamp_w++;
    }
    rx_buf[rx_head] = b;
    rx_head = next;
}

uint8_t link_get(uint8_t *byte)
{
    uint8_t t = rx_tail;
    if (t == rx_head)
        return 0;
    *byte = rx_buf[t];
    rx_tail = (uint8_t)((t + 1u) & RX_MASK);
    return 1;
}

uint32_t link_delimiter_stamp(void)
{
    uint32_t s;
    uint8_t w;
    cli();
    w = stamp_w;
    /* more than STAMPS delimiters waiting: the oldest stamps were overwritten;
     * use the oldest one still held (later than the truth: errs towards
     * tripping the watchdog early, never late) */
    if ((uint8_t)(w - stamp_r) > STAMPS)
        stamp_r = (uint8_t)(w - STAMPS);
    if (stamp_r == w) { /* no stamp (cannot happen): now */
        s = acq_ticks;
    } else {
        s = stamps[stamp_r & STAMP_MASK];
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
