/*
 * analog.c - the reference rig's analog side as the firmware drives it: the SPI master (8 SCK periods a byte), the
 * MCP4822 on it (/CS = PD7, /LDAC = PB2), the stimulus enable pin (PB1) and the Howland pump's current into the
 * preparation; ADC0, auto-triggered by Timer1's compare match B, sampled when a conversion starts and handed over when
 * it ends; and the pin log (--pin-log) of every change, which also goes to an external preparation.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "avr_adc.h"
#include "avr_ioport.h"
#include "bench_sim.h"
#include "sim_io.h"
#include "sim_irq.h"

static avr_t *avr;
static const struct bench_options *opt;

/* ---- pin log ------------------------------------------------------------------ */
static FILE *pin_log;

void pin_log_open(const char *path)
{
    pin_log = fopen(path, "w");
    if (!pin_log)
        die("--pin-log %s: %s", path, strerror(errno));
    setvbuf(pin_log, NULL, _IOFBF, 1 << 16);
    fprintf(pin_log, "cycle,time_us,signal,value\n");
}

void pin_log_close(void)
{
    if (pin_log)
        fclose(pin_log);
}

void log_signal(uint64_t cycle, const char *signal, long value)
{
    if (pin_log) {
        fprintf(pin_log, "%llu,%.4f,%s,%ld\n", (unsigned long long)cycle, cycle_us(cycle), signal, value);
        if (!strcmp(signal, "enable"))
            fflush(pin_log); /* a few edges a second at most: a test can watch D9 while the board runs */
    }
    prep_output(cycle, signal, value);
}

/* ---- the DAC, enable, stimulus current --------------------------------------------- */
static struct {
    int enable;             /* PB1 level */
    int ldac;               /* PB2 level */
    int cs;                 /* PD7 level */
    uint16_t word;          /* bits shifted in since /CS fell */
    int nbits;
    uint16_t input[2];      /* MCP4822 input registers (command words) */
    int out_code[2];        /* output codes, 0 when shut down */
    int out_ga2[2];         /* gain 2x */
} dac = {.ldac = 1, .cs = 1};

static double dac_volts(int ch)
{
    return dac.out_code[ch] * (dac.out_ga2[ch] ? 4.096 : 2.048) / 4096.0;
}

static double stim_current_na(void)
{
    if (!dac.enable)
        return 0.0;
    /* improved Howland pump: I = (V_A - V_B) / R_set */
    return (dac_volts(0) - dac_volts(1)) / (opt->rset_kohm * 1e3) * 1e9;
}

static void dac_transfer(uint64_t cycle)
{
    for (int ch = 0; ch < 2; ch++) {
        uint16_t w = dac.input[ch];
        int code = (w & 0x1000) ? (w & 0x0FFF) : 0; /* /SHDN = 0: output off */
        int ga2 = !(w & 0x2000);
        if (code != dac.out_code[ch] || ga2 != dac.out_ga2[ch]) {
            prep_advance(cycle);
            dac.out_code[ch] = code;
            dac.out_ga2[ch] = ga2;
            prep_set_current(stim_current_na());
            log_signal(cycle, ch ? "dac_b" : "dac_a", code);
        }
    }
}

static void dac_spi_byte(uint8_t b)
{
    if (dac.cs)
        return; /* not selected */
    dac.word = (uint16_t)((dac.word << 8) | b);
    dac.nbits += 8;
}

static void on_enable(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    int v = (value & 0xFF) != 0;
    if (v == dac.enable)
        return;
    uint64_t c = d9_edge_cycle();
    prep_advance(c);
    dac.enable = v;
    prep_set_current(stim_current_na());
    log_signal(c, "enable", v);
}

static void on_ldac(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    int v = (value & 0xFF) != 0;
    if (v == dac.ldac)
        return;
    dac.ldac = v;
    if (!v)
        dac_transfer(edge_cycle()); /* falling /LDAC: input registers to the outputs */
}

static void on_cs(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    int v = (value & 0xFF) != 0;
    if (v == dac.cs)
        return;
    dac.cs = v;
    if (!v) {
        dac.word = 0;
        dac.nbits = 0;
    } else if (dac.nbits == 16) { /* rising /CS: a command word */
        dac.input[dac.word >> 15] = dac.word;
        if (!dac.ldac)
            dac_transfer(avr->cycle);
    }
}

/* ---- SPI master: 8 SCK periods per byte ----------------------------------------------- */
static avr_spi_t *spi;
static int spi_busy;
static uint8_t spi_byte;

static avr_cycle_count_t spi_done(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)when;
    (void)param;
    spi_busy = 0;
    dac_spi_byte(spi_byte);
    spi->input_data_register = 0xFF; /* MISO idles high: the MCP4822 has no output */
    a->data[R_SPDR] = 0xFF;
    avr_raise_interrupt(a, &spi->spi);
    return 0;
}

static void spdr_write(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    static const uint8_t div[4] = {4, 16, 64, 128};
    (void)addr;
    (void)param;
    uint8_t spcr = a->data[R_SPCR];
    if (!(spcr & 0x40) || !(spcr & 0x10)) /* SPE, MSTR */
        return;
    if (spi_busy) { /* write collision: WCOL, the byte is ignored */
        a->data[R_SPSR] |= 0x40;
        return;
    }
    avr_clear_interrupt(a, &spi->spi);
    a->data[R_SPSR] &= (uint8_t)~0x40;
    uint32_t d = div[spcr & 3];
    if (a->data[R_SPSR] & 1)
        d /= 2;
    spi_byte = v;
    spi_busy = 1;
    avr_cycle_timer_register(a, 8 * d, spi_done, NULL);
}

/* ---- ADC: auto trigger on Timer1 compare match B, sample at conversion start --------- */
static avr_irq_t *adc_irq;
static int ocf1b_state;
static uint32_t adc_pending_mv;
static unsigned long conversions;

unsigned long adc_conversions(void)
{
    return conversions;
}

static avr_cycle_count_t adc_apply(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)a;
    (void)when;
    (void)param;
    avr_raise_irq(adc_irq + ADC_IRQ_ADC0, adc_pending_mv);
    return 0;
}

static void on_adc_start(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    avr_adc_mux_t mux;
    union {
        avr_adc_mux_t mux;
        uint32_t v;
    } u = {.v = value};
    mux = u.mux;
    if (mux.kind != ADC_MUX_SINGLE || mux.src != 0)
        return; /* only ADC0 is wired (the id's noise source reads the temperature sensor) */
    uint64_t now = adc_start_cycle();
    double pin_mv = prep_pin_mv(now);
    /* quantize as the ATmega's ADC does (code = floor(V * 1024 / Vref)), then hand
     * simavr the millivolts that its own scaling (mV * 1023 / 5000) maps to that code */
    long code = (long)floor(pin_mv * 1024.0 / 5000.0);
    if (code < 0)
        code = 0;
    if (code > 1023)
        code = 1023;
    adc_pending_mv = (uint32_t)((code * 5000 + 1022) / 1023);
    if (opt->log_adc && pin_log)
        fprintf(pin_log, "%llu,%.4f,adc,%ld\n", (unsigned long long)now, cycle_us(now), code);
    conversions++;
    /* the result appears when the conversion ends (13 ADC clocks) */
    uint8_t adps = avr->data[R_ADCSRA] & 7;
    if (!adps)
        adps = 1;
    uint32_t adc_hz = (avr->frequency >> adps) / 13;
    avr_cycle_count_t conv = avr->frequency / adc_hz;
    avr_cycle_timer_register(avr, conv > 2 ? conv - 1 : 1, adc_apply, NULL);
}

static void on_ocf1b(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value && !ocf1b_state) /* rising edge of OCF1B: the auto trigger */
        avr_raise_irq(adc_irq + ADC_IRQ_IN_TRIGGER, 1);
    ocf1b_state = value != 0;
}

/* ---- wiring ----------------------------------------------------------------------------- */
/* The MCU was reset: a byte in flight on SPI and the auto trigger's edge are gone with it. */
void analog_reset(void)
{
    spi_busy = 0;
    ocf1b_state = 0;
}

void analog_init(avr_t *mcu, const struct bench_options *options, avr_spi_t *spi_port)
{
    avr = mcu;
    opt = options;
    spi = spi_port;
    /* pins */
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 1), on_enable, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 2), on_ldac, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 7), on_cs, NULL);
    /* SPI */
    avr->io[AVR_DATA_TO_IO(R_SPDR)].w.c = spdr_write;
    avr->io[AVR_DATA_TO_IO(R_SPDR)].w.param = spi;
    /* ADC */
    adc_irq = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, 0);
    avr_irq_register_notify(adc_irq + ADC_IRQ_OUT_TRIGGER, on_adc_start, NULL);
    avr_irq_register_notify(avr_get_interrupt_irq(avr, VEC_TIMER1_COMPB), on_ocf1b, NULL);
}
