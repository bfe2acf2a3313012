/*
 * acq_isr.S - the acquisition interrupt (Timer1 compare match B, every sample-clock
 * edge), fast path in assembly: it runs 20 000 times a second, and the C version
 * spent over half of its ~175 cycles saving registers.
 *
 * Entering the interrupt clears OCF1B, which re-arms the ADC's auto trigger.
 * Fast path (about 80 cycles, 7 registers): read the conversion started at the
 * previous edge, count this edge in acq_ticks, and append the sample to the ring
 * when acquisition runs, no stimulus is waiting, and the ring is neither empty
 * nor full nor recovering from a loss. Any other case calls acq_compb_slow(v, late)
 * in acq.c (the edge already counted), with the C calling convention; late is 1
 * when ADSC was already clear, i.e. this edge's conversion had ended and replaced
 * the previous one's result (the interrupt came too late): that sample is lost.
 */
#include <avr/io.h>

#define RING_MASK 0x7F /* RIG_RING_SAMPLES - 1 (rig_config.h: 128) */

    .section .text.acq_compb_isr, "ax", @progbits
    .global TIMER1_COMPB_vect
    .type TIMER1_COMPB_vect, @function
TIMER1_COMPB_vect:
    push r0
    in   r0, _SFR_IO_ADDR(SREG)
    push r0
    push r24
    push r25
    push r26
    push r27
    push r30
    push r31
    lds  r26, acq_adc_pre_valid      /* compare A ran first at this edge and read it */
    tst  r26
    brne 5f
    lds  r24, _SFR_MEM_ADDR(ADCL)    /* ADCL first: it locks ADCH */
    lds  r25, _SFR_MEM_ADDR(ADCH)
    lds  r26, _SFR_MEM_ADDR(ADCSRA)  /* ADSC still set: this edge's conversion runs, so */
    andi r26, _BV(ADSC)              /* the result read is the previous edge's (r26 = 0: late) */
    rjmp 6f
5:  lds  r24, acq_adc_pre
    lds  r25, acq_adc_pre+1
    ldi  r26, 0
    sts  acq_adc_pre_valid, r26
    ldi  r26, 1                      /* in time */
6:

    /* acq_ticks += 1, a byte at a time: a byte carries only when it wraps to 0 */
    lds  r30, acq_ticks
    subi r30, 0xFF
    sts  acq_ticks, r30
    brne .Lcounted
    lds  r30, acq_ticks+1
    subi r30, 0xFF
    sts  acq_ticks+1, r30
    brne .Lcounted
    lds  r30, acq_ticks+2
    subi r30, 0xFF
    sts  acq_ticks+2, r30
    brne .Lcounted
    lds  r30, acq_ticks+3
    subi r30, 0xFF
    sts  acq_ticks+3, r30
    brne .Lcounted
    ldi  r26, lo8(acq_ticks_hi)      /* 2^32 edges (48 h at 25 kHz): carry into the high word */
    ldi  r27, hi8(acq_ticks_hi)
    ldi  r31, 4
1:  ld   r30, X
    subi r30, 0xFF
    st   X+, r30
    brne .Lcounted
    dec  r31
    brne 1b
.Lcounted:

    clt                              /* T: the read was late (SREG is restored on exit) */
    tst  r26
    brne 4f
    set
    rjmp .Lslow                      /* read too late: the sample is lost (counted in C) */
4:  lds  r30, acq_stim_sleeping
    tst  r30
    brne .Lslow                      /* a stimulus is waiting: its countdown is in C */
    lds  r30, acq_running
    tst  r30
    breq .Ldone                      /* not acquiring */
    cpi  r30, 1
    brne .Lslow                      /* starting */
    lds  r30, acq_dropping
    tst  r30
    brne .Lslow                      /* after a loss */

    lds  r26, acq_r_head             /* h */
    lds  r27, acq_r_tail
    cp   r26, r27
    breq .Lslow                      /* empty: the run's first index is recorded in C */
    mov  r30, r26
    subi r30, 0xFF
    andi r30, RING_MASK              /* next */
    cp   r30, r27
    breq .Lslow                      /* full: the loss is counted in C */
    sts  acq_r_head, r30
    sub  r30, r27
    andi r30, RING_MASK              /* fill */
    lds  r31, acq_high_water
    cp   r31, r30
    brsh 2f
    sts  acq_high_water, r30
2:  ldi  r27, 0                      /* X = acq_ring + 2 h */
    lsl  r26
    rol  r27
    subi r26, lo8(-(acq_ring))
    sbci r27, hi8(-(acq_ring))
    st   X+, r24
    st   X, r25

.Ldone:
    pop  r31
    pop  r30
    pop  r27
    pop  r26
    pop  r25
    pop  r24
    pop  r0
    out  _SFR_IO_ADDR(SREG), r0
    pop  r0
    reti

.Lslow:                              /* C: save what it may clobber, r1 = 0 */
    push r1
    clr  r1
    push r18
    push r19
    push r20
    push r21
    push r22
    push r23
    ldi  r22, 0                      /* late = T */
    brtc 3f
    ldi  r22, 1
3:  call acq_compb_slow              /* v in r25:r24, late in r22 */
    pop  r23
    pop  r22
    pop  r21
    pop  r20
    pop  r19
    pop  r18
    pop  r1
    rjmp .Ldone
    .size TIMER1_COMPB_vect, . - TIMER1_COMPB_vect
