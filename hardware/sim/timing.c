/*
 * timing.c - Timer1 as the ATmega328P has it where simavr 1.6 differs, and the cycle checks: the exact cycle of a
 * Timer1 edge (the stimulus and the sample clock), the FOC1A/FOC1B force strobes, TIFR1 clearing only the flags
 * written as 1, TIMSK1 firing an interrupt whose flag is already set; and each interrupt's duration and latency
 * (--isr-stats).
 */
#include <stdio.h>

#include "avr_timer.h"
#include "bench_sim.h"
#include "sim_interrupts.h"
#include "sim_io.h"
#include "sim_irq.h"
#include "sim_regbit.h"

static avr_t *avr;

/* ---- Timer1 compare outputs, force strobes ------------------------------------------ */
static avr_timer_t *timer1;
static avr_irq_t *oc1_irq[2];
static int in_foc;

uint64_t edge_cycle(void)
{
    /* compare matches at TOP are dispatched with the timer's overflow: its base is
     * the exact cycle of the edge (avr->cycle is the end of the current instruction) */
    if (!in_foc && timer1 && timer1->tov_base && timer1->tov_base <= avr->cycle)
        return timer1->tov_base;
    return avr->cycle;
}

/* D9 (PB1) is OC1A: its edges come from Timer1 only while COM1A is set; otherwise an instruction wrote PORTB (an
 * Arduino sketch's digitalWrite), and the edge is that instruction's cycle, not Timer1's last overflow. */
uint64_t d9_edge_cycle(void)
{
    return (avr->data[R_TCCR1A] & 0xC0) ? edge_cycle() : avr->cycle;
}

/* A conversion started by the auto trigger (ADATE) starts on Timer1's edge; one started by writing ADSC (Arduino's
 * analogRead) starts at that instruction. */
uint64_t adc_start_cycle(void)
{
    return (avr->data[R_ADCSRA] & 0x20) ? edge_cycle() : avr->cycle;
}

static void tccr1c_write(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)addr;
    (void)param;
    a->data[R_TCCR1C] = 0; /* strobes read as zero */
    for (int i = 0; i < 2; i++) {
        if (!(v & (0x80 >> i)))
            continue;
        uint8_t com = (a->data[R_TCCR1A] >> (6 - 2 * i)) & 3;
        in_foc = 1;
        if (com == 2)
            avr_raise_irq(oc1_irq[i], 0);
        else if (com == 3)
            avr_raise_irq(oc1_irq[i], 1);
        in_foc = 0;
    }
}

/* TIFR1: writing 1 clears a flag, writing 0 leaves it (simavr 1.6 clears them all,
 * which loses a pending sample-clock interrupt when the firmware clears OCF1A) */
static void tifr1_write(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    avr_timer_t *t = param;
    avr_int_vector_t *vecs[4] = {&t->overflow, &t->comp[0].interrupt, &t->comp[1].interrupt, &t->icr};
    for (int i = 0; i < 4; i++) {
        avr_int_vector_t *vec = vecs[i];
        if (vec->raised.reg == addr && (v & (1u << vec->raised.bit)) && avr_regbit_get(a, vec->raised))
            avr_clear_interrupt(a, vec);
    }
}

/* TIMSK1: enabling an interrupt whose flag is already set fires it (simavr 1.6
 * only queues an interrupt when its flag is raised while enabled) */
static avr_io_write_t timsk1_orig;
static void *timsk1_orig_param;
static void timsk1_write(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    avr_timer_t *t = param;
    avr_int_vector_t *vecs[4] = {&t->overflow, &t->comp[0].interrupt, &t->comp[1].interrupt, &t->icr};
    uint8_t was[4];
    for (int i = 0; i < 4; i++)
        was[i] = avr_regbit_get(a, vecs[i]->enable);
    if (timsk1_orig)
        timsk1_orig(a, addr, v, timsk1_orig_param);
    else
        a->data[addr] = v;
    for (int i = 0; i < 4; i++)
        if (!was[i] && avr_regbit_get(a, vecs[i]->enable) && avr_regbit_get(a, vecs[i]->raised) && !vecs[i]->pending)
            avr_raise_interrupt(a, vecs[i]);
}

void timing_init(avr_t *mcu, avr_timer_t *t1)
{
    avr = mcu;
    timer1 = t1;
    oc1_irq[0] = avr_io_getirq(avr, AVR_IOCTL_TIMER_GETIRQ('1'), TIMER_IRQ_OUT_COMP + 0);
    oc1_irq[1] = avr_io_getirq(avr, AVR_IOCTL_TIMER_GETIRQ('1'), TIMER_IRQ_OUT_COMP + 1);
    avr_register_io_write(avr, R_TCCR1C, tccr1c_write, NULL);
    avr->io[AVR_DATA_TO_IO(R_TIFR1)].w.c = tifr1_write;
    avr->io[AVR_DATA_TO_IO(R_TIFR1)].w.param = timer1;
    timsk1_orig = avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.c;
    timsk1_orig_param = avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.param;
    avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.c = timsk1_write;
    avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.param = timer1;
}

/* ---- interrupt timing (--isr-stats) -------------------------------------------------- */
static const uint8_t isr_vecs[] = {7, 11, 12, 18, 19};
static const char *const isr_names[] = {"TIMER2_COMPA (1 ms clock)", "TIMER1_COMPA (stimulus)",
                                        "TIMER1_COMPB (acquisition)", "USART_RX", "USART_UDRE"};
static struct {
    avr_int_vector_t *vec;
    uint64_t raised, entered, count, total, max, max_latency, max_latency_at, max_at;
    int pending;
} isr[5];

static void isr_pending(avr_irq_t *irq, uint32_t value, void *param)
{
    int i = (int)(intptr_t)param;
    (void)irq;
    if (value && !isr[i].pending) {
        /* only an interrupt raised while enabled has a latency; counted once the
         * sample clock runs (the first boot's id generation keeps interrupts off) */
        if (avr_regbit_get(avr, isr[i].vec->enable) && isr[2].count) {
            isr[i].raised = avr->cycle;
            isr[i].pending = 1;
        }
    } else if (!value) {
        isr[i].pending = 0; /* serviced (RUNNING came first) or cleared by software */
    }
}

static void isr_running(avr_irq_t *irq, uint32_t value, void *param)
{
    int i = (int)(intptr_t)param;
    (void)irq;
    if (value) {
        isr[i].entered = avr->cycle;
        if (isr[i].pending) {
            uint64_t lat = avr->cycle - isr[i].raised;
            if (lat > isr[i].max_latency) {
                isr[i].max_latency = lat;
                isr[i].max_latency_at = avr->cycle;
            }
        }
        isr[i].pending = 0;
    } else if (isr[i].entered) {
        uint64_t d = avr->cycle - isr[i].entered;
        isr[i].count++;
        isr[i].total += d;
        if (d > isr[i].max) {
            isr[i].max = d;
            isr[i].max_at = avr->cycle;
        }
        isr[i].entered = 0;
    }
}

void isr_stats_init(void)
{
    for (int i = 0; i < 5; i++) {
        for (int v = 0; v < avr->interrupts.vector_count; v++)
            if (avr->interrupts.vector[v]->vector == isr_vecs[i])
                isr[i].vec = avr->interrupts.vector[v];
        if (!isr[i].vec)
            continue;
        avr_irq_register_notify(isr[i].vec->irq + AVR_INT_IRQ_PENDING, isr_pending, (void *)(intptr_t)i);
        avr_irq_register_notify(isr[i].vec->irq + AVR_INT_IRQ_RUNNING, isr_running, (void *)(intptr_t)i);
    }
}

void isr_stats_print(void)
{
    for (int i = 0; i < 5; i++)
        if (isr[i].count)
            fprintf(stderr, "bench-sim: isr %-28s n=%llu mean %.1f max %llu cycles (at %llu), max latency %llu cycles (at %llu)\n",
                    isr_names[i], (unsigned long long)isr[i].count, (double)isr[i].total / isr[i].count,
                    (unsigned long long)isr[i].max, (unsigned long long)isr[i].max_at,
                    (unsigned long long)isr[i].max_latency, (unsigned long long)isr[i].max_latency_at);
}
