/*
 * link.h - the UART at 1 Mbaud (PROTOCOL.md 9): interrupt-driven receive into a
 * ring the main loop feeds to the protocol decoder, transmit from a ring.
 */
#ifndef LINK_H
#define LINK_H

#include <stdint.h>

void link_init(void);

/* Receive ring: copies up to max received bytes to dst, returns how many. */
uint8_t link_read(uint8_t *dst, uint8_t max);
/* True while received bytes wait in the ring. */
uint8_t link_rx_pending(void);
/* Bytes lost because the receive ring was full (counted, never silent). */
extern volatile uint16_t link_rx_dropped;

/* Arrival stamps of received frame delimiters (0x00 bytes), in sample-clock
 * ticks (acq_ticks): the heartbeat watchdog measures from the moment a frame's
 * last byte arrived, not from when the main loop decoded it. One stamp per
 * 0x00 byte, in order; link_delimiter_stamp() returns the stamp of the next
 * delimiter the main loop consumes. */
uint32_t link_delimiter_stamp(void);

/* Transmit ring: copies up to n bytes, returns how many fit. */
uint8_t link_put(const uint8_t *data, uint8_t n);
/* Free space in the transmit ring. */
uint8_t link_tx_free(void);
/* True while bytes wait in the ring. */
uint8_t link_tx_busy(void);

#endif
