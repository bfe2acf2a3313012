/*
 * acq.c - sample clock, ADC, DAC, stimulus player and heartbeat watchdog.
 *
 * Timer1 runs in CTC mode with TOP = OCR1A = OCR1B = period - 1: each compare
 * match is a sample-clock edge, the start of a sample period. At that edge, in
 * hardware, with no interrupt latency:
 *   - the ADC starts converting ADC0 (auto trigger on Timer1 compare match B);
 *   - OC1A (D9, stimulus enable) is set or cleared, as armed for this edge;
 *   - OC1B (D10, MCP4822 /LDAC) falls if a new DAC code was loaded for this edge,
 *     which moves the code to the DAC output.
 * So every stimulus change happens exactly on the sample grid. The interrupts
 * only prepare the next edge, and have a whole sample period to do it:
 *   - compare B (every edge): reads the conversion of the previous period into
 *     the sample acq_ring (entering it clears OCF1B, which re-arms the ADC trigger),
 *     and watches the heartbeat while a stimulus is scheduled;
 *   - compare A (higher priority, enabled only around stimulus changes): restores
 *     /LDAC, plays the stimulus one period ahead, loads the DAC's input register
 *     over SPI and arms the compare outputs for the next edge. Between changes it
 *     sleeps and compare B counts the edges down to the next one.
 * No interrupt does 64-bit arithmetic (slow on the AVR); indices are extended to
 * 64 bits in the main loop.
 */
#include "acq.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <string.h>

#define A_SET (_BV(COM1A1) | _BV(COM1A0)) /* OC1A set on compare match */
#define A_CLR (_BV(COM1A1))               /* OC1A cleared on compare match */
#define B_SET (_BV(COM1B1) | _BV(COM1B0))
#define B_CLR (_BV(COM1B1))

#define RING_MASK ((uint8_t)(RIG_RING_SAMPLES - 1u))
#if RIG_RING_SAMPLES != 128
#error "acq_isr.S masks ring indices with 0x7F: update it with RIG_RING_SAMPLES"
#endif
#define EVQ_MASK ((uint8_t)(RIG_EVENT_QUEUE - 1u))

enum { SEG_WAIT, SEG_P1, SEG_GAP, SEG_P2 };
#define EV_PHASE2 0x80u /* internal event flag: phase 2 was played */

typedef union {
    uint64_t u;
    uint32_t w[2]; /* little-endian halves: no 64-bit shifts */
} u64_halves;

/* A pulse that ended (or was cut short), as the interrupt records it; the main
 * loop turns it into a StimulusEvent. */
typedef struct {
    uint8_t train;
    uint8_t flags; /* BP_EVENT_FLAG_* | EV_PHASE2 */
    uint16_t pulse;
} ev_t;

/* The sample clock counts edges: acq_ticks (low 32 bits) and acq_ticks_hi. Sample
 * indices are tick counts relative to start_tick, the tick of period 0. */
volatile uint32_t acq_ticks;
volatile uint32_t acq_ticks_hi;

/* configuration */
static uint32_t period_ticks;
static uint32_t wd_ticks; /* heartbeat timeout in sample periods */
static uint32_t cfg_tick; /* acq_ticks at the last Configure */

/* acquisition */
volatile uint8_t acq_running; /* 0 stopped, 2 starting (next edge is period 0), 1 running */
static uint64_t start_tick;      /* tick of period 0 */
static uint64_t stop_index;      /* Status.sample_index after Stop */
uint16_t acq_ring[RIG_RING_SAMPLES];
volatile uint8_t acq_r_head, acq_r_tail;
static volatile uint32_t r_first_tick; /* tick of the sample at acq_r_tail */
volatile uint8_t acq_dropping;
static volatile uint8_t gap_pending, gap_pos;
static volatile uint32_t gap_tick;
volatile uint8_t acq_high_water;
static volatile uint32_t overruns, dropped;

/* outputs */
static uint8_t tccr1a_a; /* COM1A mode armed for the coming edge */
static uint8_t ldac_low; /* /LDAC falls (fell) at arm_tick: restore after that edge */
static int16_t cur_code; /* code in the DAC input register */
static int16_t out_code; /* code of the period being prepared */
static uint8_t out_en;
static uint32_t arm_tick;          /* tick of the edge compare A armed last */

/* stimulus player */
static acq_stim_t stim;
static uint64_t train_start[RIG_MAX_TRAINS]; /* first onset of each train (main loop only) */
static uint32_t rest[RIG_MAX_TRAINS];        /* interval - pulse width */
static uint32_t tw_left[RIG_MAX_TRAINS];     /* train i >= 1: countdown from the end of train i-1 */
static uint32_t tw_far[RIG_MAX_TRAINS];      /* to its first onset (0/0: the same edge) */
static volatile uint8_t stim_on;             /* playing or scheduled */
volatile uint8_t acq_stim_sleeping;       /* compare A off, compare B counts down to it */
volatile uint8_t acq_adc_pre_valid;          /* compare A read this edge's ADC result */
volatile uint16_t acq_adc_pre;
static uint8_t sleep_fix;                    /* ... and restores /LDAC, reports a pulse at arm_tick */
static uint8_t seg, s_train;
static uint16_t s_pulse;
static const bp_train_t *cur_t;
static uint32_t left;            /* compare-A interrupts until the next segment starts, */
static uint32_t far_hi;          /* plus this many times 2^32 */
static uint64_t onset_tick;      /* a new stimulus: tick of its first onset edge, */
static uint8_t fresh;            /* from which compare A's first run sets its countdown */
static uint8_t fresh_far;        /* the onset is 2^31 edges away or more (rare: 64-bit) */
static uint32_t onset_lo;        /* low word of onset_tick (the usual, 32-bit case) */
static uint32_t wake;            /* while compare A sleeps: edges until it is needed */
static uint32_t pulse_tick;      /* edge of the current pulse's onset */
static uint32_t p2_tick;         /* edge of its phase 2 */
static ev_t pend;                /* pulse that ends at arm_tick */
static volatile uint8_t pend_valid;
static ev_t evq[RIG_EVENT_QUEUE];
static volatile uint8_t ev_head, ev_tail;

/* heartbeat watchdog */
static uint32_t wd_deadline;       /* first edge at which the heartbeat is too old */
static volatile uint8_t hb_valid, wd_tripped, status_req;

static inline void dac_write(uint16_t word)
{
    CS_PORT &= (uint8_t)~_BV(CS_BIT);
    SPDR = (uint8_t)(word >> 8);
    while (!(SPSR & _BV(SPIF)))
        ;
    SPDR = (uint8_t)word;
    while (!(SPSR & _BV(SPIF)))
        ;
    CS_PORT |= _BV(CS_BIT);
}

void acq_outputs_off_early(void)
{
    /* enable low (the board's pull-down already holds it), /LDAC high, /CS high */
    PORTB = _BV(LDAC_BIT);
    DDRB = _BV(EN_BIT) | _BV(LDAC_BIT) | _BV(MOSI_BIT) | _BV(SCK_BIT);
    CS_PORT |= _BV(CS_BIT);
    CS_DDR |= _BV(CS_BIT);
    SPCR = _BV(SPE) | _BV(MSTR); /* mode 0, F_CPU / 2 */
    SPSR = _BV(SPI2X);
    /* both channels to mid-scale (zero current), then latch */
    dac_write(MCP4822_B | RIG_DAC_MID);
    dac_write(MCP4822_A | RIG_DAC_MID);
    PORTB = 0;
    __asm__ __volatile__("nop\n\tnop\n\t");
    PORTB = _BV(LDAC_BIT);
}

/* ---- time ------------------------------------------------------------------ */

/* Tick of the period in progress (interrupts off). An edge whose interrupt is
 * still pending has happened: it counts. */
static uint32_t now_tick32_locked(void)
{
    return acq_ticks + ((TIFR1 & _BV(OCF1B)) ? 1u : 0u);
}

static uint64_t now_tick_locked(void)
{
    u64_halves t;
    t.w[0] = acq_ticks;
    t.w[1] = acq_ticks_hi;
    if (TIFR1 & _BV(OCF1B))
        t.u++;
    return t.u;
}

/* A 32-bit tick from the recent past, extended to 64 bits. */
static uint64_t extend_tick(uint64_t now, uint32_t t)
{
    return now - (uint32_t)((uint32_t)now - t);
}

/* Index of the sample period in progress (interrupts off). */
static uint64_t cur_index_locked(void)
{
    if (!acq_running)
        return stop_index - 1u;
    return now_tick_locked() - start_tick;
}

/* ---- stimulus: events and abort ------------------------------------------------- */

static inline void queue_event(ev_t e)
{
    uint8_t h = ev_head, next = (uint8_t)((h + 1u) & EVQ_MASK);
    if (next == ev_tail)
        return; /* pulses faster than the link can report them: the event is lost */
    evq[h] = e;
    ev_head = next;
}

static inline void restore_ldac(void)
{
    TCCR1A = tccr1a_a | B_SET;
    TCCR1C = _BV(FOC1B);
    ldac_low = 0;
}

/* Outputs to zero now (not at the next edge), pulses cancelled. Interrupts off. */
static __attribute__((noinline)) void abort_locked(void)
{
    uint32_t now;
    if (!stim_on && !pend_valid)
        return;
    TCCR1A = A_CLR | B_SET; /* force enable low first: the output stage is cut off */
    TCCR1C = _BV(FOC1A);
    dac_write(MCP4822_A | RIG_DAC_MID);
    TCCR1A = A_CLR | B_CLR; /* force /LDAC low: the DAC output goes to mid-scale (zero) */
    TCCR1C = _BV(FOC1B);
    TCCR1A = A_CLR | B_SET; /* and /LDAC high again */
    TCCR1C = _BV(FOC1B);
    tccr1a_a = A_CLR;
    ldac_low = 0;
    cur_code = out_code = 0;
    out_en = 0;
    now = now_tick32_locked();
    if (pend_valid) { /* a pulse in its last period: cut short */
        pend.flags |= BP_EVENT_FLAG_LAST | BP_EVENT_FLAG_ABORTED;
        queue_event(pend);
        pend_valid = 0;
    } else if (stim_on && seg != SEG_WAIT && (int32_t)(now - pulse_tick) >= 0) { /* in progress */
        ev_t e;
        e.train = s_train;
        e.pulse = s_pulse;
        e.flags = BP_EVENT_FLAG_LAST | BP_EVENT_FLAG_ABORTED;
        if (seg == SEG_P2 && (int32_t)(now - p2_tick) >= 0)
            e.flags |= EV_PHASE2;
        queue_event(e);
    }
    stim_on = 0;
    acq_stim_sleeping = 0;
    sleep_fix = 0;
}

/* ---- the acquisition interrupt (compare match B, every edge) ------------------- */

static void sleep_fixup(void);

/* The acquisition interrupt is acq_isr.S: its fast path (read the ADC, count the
 * edge, store the sample) takes about 75 cycles; everything else comes here, with
 * the edge already counted: a stimulus waiting (compare A asleep), Start, a full
 * or empty ring, a loss, or a conversion read too late (late != 0). */
void acq_compb_slow(uint16_t v, uint8_t late)
{
    uint32_t t = acq_ticks;
    uint8_t h, next;
    if (acq_stim_sleeping) { /* compare A's duties while it sleeps (cheap, every edge) */
        if (sleep_fix && t == arm_tick)
            sleep_fixup();
        if (stim_on && --wake == 0) { /* compare A arms the next edge */
            acq_stim_sleeping = 0;
            TIFR1 = _BV(OCF1A);
            TIMSK1 |= _BV(OCIE1A);
        }
    }
    if (acq_running != 1) {
        if (acq_running == 2) /* this edge starts period 0; v is from before Start */
            acq_running = 1;
        return;
    }
    t--; /* the tick of sample v */
    h = acq_r_head;
    next = (uint8_t)((h + 1u) & RING_MASK);
    if (late || next == acq_r_tail) {
        /* full, or read too late (the next conversion had already replaced it):
         * the sample is lost, and counted; its index is skipped, never reused */
        dropped++;
        if (!acq_dropping) {
            overruns++;
            acq_dropping = 1;
        }
        return;
    }
    if (h == acq_r_tail) { /* empty: the run restarts at this tick */
        r_first_tick = t;
        acq_dropping = 0;
    } else if (acq_dropping) { /* after a loss: remember where the index jumps */
        if (gap_pending) { /* one jump at a time: drop until it is consumed */
            dropped++;
            return;
        }
        gap_pending = 1;
        gap_pos = h;
        gap_tick = t;
        acq_dropping = 0;
    }
    acq_ring[h] = v;
    acq_r_head = next;
    h = (uint8_t)((next - acq_r_tail) & RING_MASK);
    if (h > acq_high_water)
        acq_high_water = h;
}

/* After the edge compare A armed last, while it sleeps: restore /LDAC (the edge
 * latched a new code) and report the pulse that ended there. */
static __attribute__((noinline)) void sleep_fixup(void)
{
    if (ldac_low)
        restore_ldac();
    if (pend_valid) {
        queue_event(pend);
        pend_valid = 0;
    }
    sleep_fix = 0;
    if (!stim_on)
        acq_stim_sleeping = 0;
}

/* ---- the stimulus interrupt (compare match A) ------------------------------------ */

/* The last pulse of a train has ended: the next train (its countdown was
 * computed when the stimulus was armed), or the end. */
static __attribute__((noinline)) void next_train(void)
{
    if (++s_train < stim.train_count) {
        cur_t = &stim.trains[s_train];
        s_pulse = 0;
        /* d = far_hi:left compare-A interrupts; d = 0: the next train starts at
         * this same edge; left = 0 with far_hi > 0 counts 2^32 first */
        left = tw_left[s_train];
        far_hi = tw_far[s_train];
        if (left == 0 && far_hi) {
            far_hi--;
            tw_far[s_train] = 1; /* not 0/0: see advance() */
        }
    } else {
        pend.flags |= BP_EVENT_FLAG_LAST;
        stim_on = 0;
    }
}

/* The edge being armed (arm_tick) starts the next segment: what happens there. */
static inline void advance(void)
{
    for (;;) {
        const bp_train_t *t = cur_t;
        switch (seg) {
        case SEG_WAIT: /* onset */
            seg = SEG_P1;
            out_code = t->phase1_code;
            out_en = 1;
            left = t->phase1_samples;
            pulse_tick = arm_tick;
            return;
        case SEG_P1:
            if (t->interphase_samples) {
                seg = SEG_GAP;
                out_code = 0;
                out_en = 0;
                left = t->interphase_samples;
                return;
            }
            /* fall through */
        case SEG_GAP:
            if (t->phase2_samples) {
                seg = SEG_P2;
                out_code = t->phase2_code;
                out_en = 1;
                left = t->phase2_samples;
                p2_tick = arm_tick;
                return;
            }
            /* fall through */
        default: /* the pulse ends at this edge; it is reported after the edge */
            out_code = 0;
            out_en = 0;
            pend.train = s_train;
            pend.pulse = s_pulse;
            pend.flags = t->phase2_samples ? EV_PHASE2 : 0;
            pend_valid = 1;
            seg = SEG_WAIT;
            if (++s_pulse < t->pulse_count) {
                left = rest[s_train];
            } else {
                next_train();
                if (!stim_on || left || tw_far[s_train])
                    return;
            }
            if (left)
                return;
            /* the next pulse starts at this same edge */
        }
    }
}

ISR(TIMER1_COMPA_vect)
{
    uint8_t a, b;
    /* The previous conversion's result, read now for the acquisition interrupt,
     * which runs after us and could come after the next conversion has ended. */
    acq_adc_pre = ADC;
    acq_adc_pre_valid = 1;
    arm_tick = acq_ticks + 2u; /* the edge being armed (this edge's compare B has not run) */
    if (ldac_low) /* the last edge latched a new code */
        restore_ldac();
    if (pend_valid) { /* the pulse that ended at the last edge */
        queue_event(pend);
        pend_valid = 0;
    }
    if (fresh) { /* first run for a new stimulus: count down to its onset from here */
        if (!fresh_far) {
            left = onset_lo - arm_tick + 1u; /* >= 1: acq_stim_arm checked */
            far_hi = 0;
        } else {
            u64_halves dd, now;
            now.w[0] = acq_ticks;
            now.w[1] = acq_ticks_hi;
            dd.u = onset_tick - (now.u + 2u) + 1u;
            left = dd.w[0];
            far_hi = dd.w[1];
            if (left == 0)
                far_hi--; /* left = 0 counts 2^32 */
        }
        fresh = 0;
    }
    if (stim_on) {
        if ((int32_t)(arm_tick - wd_deadline) >= 0) {
            /* no heartbeat for watchdog_ms at the edge being armed: outputs off at
             * that edge, exactly, and the stimulus cancelled */
            if (seg != SEG_WAIT) { /* a pulse in progress is cut there */
                pend.train = s_train;
                pend.pulse = s_pulse;
                pend.flags = BP_EVENT_FLAG_LAST | BP_EVENT_FLAG_ABORTED | (seg == SEG_P2 ? EV_PHASE2 : 0);
                pend_valid = 1;
            }
            out_code = 0;
            out_en = 0;
            stim_on = 0;
            wd_tripped = 1;
            status_req = 1;
        } else if (--left == 0) {
            if (far_hi)
                far_hi--; /* another 2^32 */
            else
                advance();
        }
    }
    a = out_en ? A_SET : A_CLR;
    b = B_SET;
    if (out_code != cur_code) {
        dac_write(MCP4822_A | (uint16_t)((int16_t)RIG_DAC_MID + out_code));
        cur_code = out_code;
        b = B_CLR;
        ldac_low = 1;
    }
    TCCR1A = a | b;
    tccr1a_a = a;
    sleep_fix = pend_valid | ldac_low;
    if (!stim_on) { /* done: compare B finishes after the next edge if needed */
        TIMSK1 &= (uint8_t)~_BV(OCIE1A);
        acq_stim_sleeping = sleep_fix;
    } else {
        /* sleep until the edge before the next change or the heartbeat deadline;
         * compare B counts the edges (this one too) and does the duties above */
        uint32_t k = wd_deadline - arm_tick; /* > 0 here */
        if (left < k)
            k = left;
        if (k >= 2) {
            wake = k;
            left -= k - 1u;
            acq_stim_sleeping = 1;
            TIMSK1 &= (uint8_t)~_BV(OCIE1A);
        }
    }
}

/* ---- the sample acq_ring (main loop) -------------------------------------------------- */

uint8_t acq_take_block(uint8_t max, uint16_t *dst, uint64_t *first)
{
    uint8_t t, h, avail, contig, n, i;
    uint8_t gap_limited = 0;
    uint32_t ft;
    uint64_t now;
    /* cheap test first: the main loop polls this whenever it has nothing else to do */
    if (!gap_pending && (uint8_t)((acq_r_head - acq_r_tail) & RING_MASK) < max)
        return 0;
    cli();
    t = acq_r_tail;
    h = acq_r_head;
    avail = (uint8_t)((h - t) & RING_MASK);
    contig = avail;
    if (gap_pending) {
        contig = (uint8_t)((gap_pos - t) & RING_MASK);
        if (contig == 0) { /* reached the jump */
            r_first_tick = gap_tick;
            gap_pending = 0;
            contig = avail;
        } else {
            gap_limited = 1;
        }
    }
    ft = r_first_tick;
    now = now_tick_locked();
    sei();
    n = contig < max ? contig : max;
    if (n == 0 || (n < max && !gap_limited))
        return 0;
    for (i = 0; i < n; i++) {
        *dst++ = acq_ring[t];
        t = (uint8_t)((t + 1u) & RING_MASK);
    }
    cli();
    acq_r_tail = t;
    r_first_tick = ft + n;
    sei();
    *first = extend_tick(now, ft) - start_tick;
    return n;
}

/* ---- configuration and control ------------------------------------------------ */

uint32_t acq_configure(uint32_t rate_hz)
{
    static const uint16_t prescale[5] = {1, 8, 64, 256, 1024};
    uint32_t top = 0;
    uint8_t i, adps;
    for (i = 0; i < 5; i++) {
        top = (F_CPU / prescale[i] + rate_hz / 2u) / rate_hz;
        if (top <= 65536UL)
            break;
    }
    if (i == 5) {
        i = 4;
        top = 65536UL;
    }
    if (top < 2)
        top = 2;
    period_ticks = top * prescale[i];
    /* ADC clock: the slowest (most accurate) whose conversion (13.5 ADC clocks
     * after the trigger) ends well before the next edge: prescaler p, 16 p <= period.
     * 20 kHz: p = 32 (500 kHz ADC clock); 7.8 kHz and below: p = 128 (125 kHz). */
    adps = 7; /* /128 */
    while (adps > 2 && (16UL << adps) > period_ticks)
        adps--;

    cli();
    TIMSK1 = 0;
    TCCR1B = 0; /* sample clock stopped */
    TCCR1A = 0; /* pins follow PORTB: enable low, /LDAC high */
    TCNT1 = 0;
    OCR1A = (uint16_t)(top - 1u);
    OCR1B = (uint16_t)(top - 1u);
    ADMUX = _BV(REFS0);               /* AVcc reference, ADC0 */
    DIDR0 = _BV(ADC0D);
    ADCSRB = _BV(ADTS2) | _BV(ADTS0); /* trigger: Timer1 compare match B */
    ADCSRA = _BV(ADEN) | _BV(ADATE) | _BV(ADIF) | adps;
    TIFR1 = _BV(ICF1) | _BV(OCF1B) | _BV(OCF1A) | _BV(TOV1);
    /* hand the pins to the compare outputs with known levels */
    TCCR1A = A_CLR | B_SET;
    TCCR1C = _BV(FOC1A) | _BV(FOC1B);
    tccr1a_a = A_CLR;
    ldac_low = 0;
    cur_code = out_code = 0;
    out_en = 0;
    acq_stim_sleeping = 0;
    wd_ticks = (uint32_t)((RIG_WATCHDOG_MS * (F_CPU / 1000UL) + period_ticks - 1u) / period_ticks);
    cfg_tick = acq_ticks;
    hb_valid = 0;
    TIMSK1 = _BV(OCIE1B);
    TCCR1B = (uint8_t)(_BV(WGM12) | (i + 1u)); /* CTC, prescaler */
    sei();
    return period_ticks;
}

uint32_t acq_period_ticks(void)
{
    return period_ticks;
}

void acq_start(void)
{
    cli();
    if (!acq_running) {
        /* Period 0 starts at the edge whose interrupt runs next: tick acq_ticks + 1,
         * whether that edge is still to come or has already happened (OCF1B
         * pending). No look at OCF1B here: the flag can rise between two reads of
         * it, and a second read would then label every sample one index late. */
        u64_halves t;
        t.w[0] = acq_ticks;
        t.w[1] = acq_ticks_hi;
        start_tick = t.u + 1u;
        acq_running = 2;
        acq_r_head = acq_r_tail = 0;
        acq_dropping = gap_pending = 0;
        acq_high_water = 0;
        overruns = dropped = 0;
    }
    sei();
}

void acq_stop(void)
{
    cli();
    abort_locked();
    if (acq_running)
        stop_index = cur_index_locked() + 1u;
    acq_running = 0;
    acq_r_head = acq_r_tail = 0;
    gap_pending = 0;
    sei();
}

uint8_t acq_is_running(void)
{
    return acq_running != 0;
}

uint64_t acq_next_index(void)
{
    uint64_t n;
    cli();
    n = cur_index_locked() + 1u;
    sei();
    return n;
}

void acq_stats(acq_stats_t *s)
{
    cli();
    s->high_water = acq_high_water;
    s->overruns = overruns;
    s->dropped = dropped;
    sei();
    s->capacity = RIG_RING_SAMPLES - 1u;
}

uint8_t acq_stim_arm(const acq_stim_t *s)
{
    uint64_t rel[RIG_MAX_TRAINS], start, cur;
    u64_halves d;
    uint32_t cur_tick, moved;
    uint8_t i, at_index = (s->flags & BP_STIM_FLAG_AT_INDEX) != 0;
    /* busy only ever ends by itself: once seen idle, the player stays idle until
     * stim_on is set below, so its state can be written without a lock. The caller
     * has sent the StimulusEvents of the previous stimulus (they refer to stim). */
    if (stim_on || pend_valid)
        return BP_NACK_BUSY;
    stim = *s;
    for (i = 0; i < s->train_count; i++) {
        const bp_train_t *p = &s->trains[i];
        rest[i] = p->interval_samples - p->phase1_samples - p->interphase_samples - p->phase2_samples;
    }
    /* each train's first onset relative to S, and the countdown from the end of
     * the previous train's last pulse (no 64-bit work in the interrupt) */
    rel[0] = s->trains[0].delay_samples;
    for (i = 1; i < s->train_count; i++) {
        const bp_train_t *p = &s->trains[i - 1];
        rel[i] = rel[i - 1] + (uint64_t)p->pulse_count * p->interval_samples + s->trains[i].delay_samples;
        d.u = (uint64_t)rest[i - 1] + s->trains[i].delay_samples;
        tw_left[i] = d.w[0];
        tw_far[i] = d.w[1];
    }
    s_train = 0;
    s_pulse = 0;
    seg = SEG_WAIT;
    cur_t = &stim.trains[0];
    /* the last stimulus's compare A turns itself off at the next edge */
    while (TIMSK1 & _BV(OCIE1A))
        ;
    /* Compare A, at its first run (the next edge, or an edge that comes while we
     * arm), counts down to the onset tick from wherever it is, so no edge can be
     * miscounted here; interrupts are off only for a few 32-bit operations (held
     * off for a whole period, the acquisition interrupt would lose an edge). */
    cli();
    cur = cur_index_locked();
    sei();
    start = at_index ? s->start_index : cur + 2u;
    if (start < cur + 2u)
        return BP_NACK_TOO_LATE;
    onset_tick = start_tick + start + rel[0];
    fresh_far = (start + rel[0] - cur) >= 0x80000000ULL;
    onset_lo = (uint32_t)onset_tick;
    cur_tick = (uint32_t)start_tick + (uint32_t)cur;
    cli();
    TIFR1 = _BV(OCF1A); /* stale flag: edges before now are not ours */
    /* after the clear, an edge from here on runs compare A for it */
    moved = now_tick32_locked() - cur_tick;
    if (!at_index) {
        onset_lo += moved; /* immediately: the first period free now */
        if (fresh_far)
            onset_tick += moved; /* (rel[0] >= 2^31: rare) */
    } else if (!fresh_far && (int32_t)(onset_lo - (cur_tick + moved + 2u)) < 0) {
        sei(); /* the clock passed the onset meanwhile */
        return BP_NACK_TOO_LATE;
    }
    fresh = 1;
    acq_stim_sleeping = 0;
    TIMSK1 |= _BV(OCIE1A);
    stim_on = 1;
    sei();
    if (!at_index)
        start += moved;
    for (i = 0; i < s->train_count; i++)
        train_start[i] = start + rel[i]; /* read by the main loop only */
    return 0;
}

void acq_stim_abort(void)
{
    cli();
    abort_locked();
    sei();
}

uint8_t acq_stim_active(void)
{
    return stim_on;
}

uint8_t acq_take_event(bp_stimulus_event_t *e)
{
    uint8_t t;
    ev_t r;
    const bp_train_t *tr;
    cli();
    t = ev_tail;
    if (t == ev_head) {
        sei();
        return 0;
    }
    r = evq[t];
    ev_tail = (uint8_t)((t + 1u) & EVQ_MASK);
    sei();
    tr = &stim.trains[r.train];
    e->onset_index = train_start[r.train] + (uint64_t)r.pulse * tr->interval_samples;
    e->stim_id = stim.stim_id;
    e->output = 0;
    e->train = r.train;
    e->pulse = r.pulse;
    e->phase1_code = tr->phase1_code;
    e->phase2_code = (r.flags & EV_PHASE2) ? tr->phase2_code : 0;
    e->flags = r.flags & (BP_EVENT_FLAG_LAST | BP_EVENT_FLAG_ABORTED);
    return 1;
}

/* ---- heartbeat watchdog ---------------------------------------------------------- */

void acq_heartbeat(uint32_t stamp)
{
    uint32_t deadline;
    cli();
    if ((int32_t)(stamp - cfg_tick) < 0) /* arrived before the last Configure */
        stamp = acq_ticks;
    /* too old at the first edge more than wd_ticks periods after its arrival */
    deadline = stamp + wd_ticks + 1u;
    if (!hb_valid || (int32_t)(deadline - wd_deadline) > 0)
        wd_deadline = deadline;
    hb_valid = 1;
    sei();
}

uint8_t acq_heartbeat_fresh(void)
{
    uint8_t ok;
    cli();
    ok = hb_valid && (int32_t)(now_tick32_locked() - wd_deadline) < 0;
    sei();
    return ok;
}

uint8_t acq_watchdog_tripped(void)
{
    return wd_tripped;
}

void acq_watchdog_clear(void)
{
    wd_tripped = 0;
}

uint8_t acq_take_status_request(void)
{
    uint8_t r;
    cli();
    r = status_req;
    status_req = 0;
    sei();
    return r;
}
