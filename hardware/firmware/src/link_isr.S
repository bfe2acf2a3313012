/*
 * link_isr.S - the UART receive interrupt, in assembly: at full line rate it runs
 * every 160 cycles, and the C version took 85 of them. About 40 cycles here.
 *
 * Stores the byte in the receive ring (link.c): link_rx_buf[link_rx_head], unless
 * the ring is full (then link_rx_dropped += 1). A frame delimiter (0x00) that is
 * stored also gets its arrival stamp: link_stamps[link_stamp_w & 7] = acq_ticks,
 * link_stamp_w += 1 (the heartbeat watchdog measures from it).
 */
#include <avr/io.h>

#define RX_MASK 0x7F    /* RIG_RX_RING - 1 (rig_config.h: 128) */
#define STAMP_MASK 0x07 /* 8 stamps */

    .section .text.link_rx_isr, "ax", @progbits
    .global USART_RX_vect
    .type USART_RX_vect, @function
USART_RX_vect:
    push r0
    in   r0, _SFR_IO_ADDR(SREG)
    push r0
    push r24
    push r25
    push r30
    push r31
    lds  r24, _SFR_MEM_ADDR(UDR0)
    lds  r30, link_rx_head
    mov  r25, r30
    subi r25, 0xFF
    andi r25, RX_MASK               /* next */
    lds  r31, link_rx_tail
    cp   r25, r31
    breq .Lfull
    sts  link_rx_head, r25
    ldi  r31, 0                     /* Z = link_rx_buf + head */
    subi r30, lo8(-(link_rx_buf))
    sbci r31, hi8(-(link_rx_buf))
    st   Z, r24
    tst  r24
    brne .Ldone
    lds  r30, link_stamp_w          /* a delimiter: stamp it */
    mov  r25, r30
    subi r25, 0xFF
    sts  link_stamp_w, r25
    andi r30, STAMP_MASK
    ldi  r31, 0
    lsl  r30
    lsl  r30                        /* 4 bytes per stamp */
    subi r30, lo8(-(link_stamps))
    sbci r31, hi8(-(link_stamps))
    lds  r24, acq_ticks
    st   Z+, r24
    lds  r24, acq_ticks+1
    st   Z+, r24
    lds  r24, acq_ticks+2
    st   Z+, r24
    lds  r24, acq_ticks+3
    st   Z, r24
.Ldone:
    pop  r31
    pop  r30
    pop  r25
    pop  r24
    pop  r0
    out  _SFR_IO_ADDR(SREG), r0
    pop  r0
    reti
.Lfull:                             /* the byte is lost, and counted */
    lds  r24, link_rx_dropped
    lds  r25, link_rx_dropped+1
    adiw r24, 1
    sts  link_rx_dropped, r24
    sts  link_rx_dropped+1, r25
    rjmp .Ldone
    .size USART_RX_vect, . - USART_RX_vect
