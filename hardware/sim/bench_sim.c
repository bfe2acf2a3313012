/*
 * bench_sim.c - runs the unmodified Bench rig firmware ELF on a simulated
 * ATmega328P (Debian's libsimavr) at 16 MHz, paced to real time, with:
 *   - the UART on a pseudo-terminal (its own openpty bridge; the path is the first
 *     stdout line, {"port":"/dev/pts/N"}), at the firmware's baud rate;
 *   - an MCP4822 on the SPI bus (/CS = PD7, /LDAC = PB2) and the stimulus enable
 *     pin (PB1), logged cycle-stamped with --pin-log;
 *   - ADC0 fed at each conversion from a membrane model: built in (a leaky
 *     integrator with a stereotyped spike) or an external process on a Unix
 *     socket (--analog-socket, protocol in README.md).
 *
 * Where simavr 1.6 does not model the ATmega328P closely enough for a cycle-level
 * test, the harness supplies the hardware behaviour (each documented in README.md):
 * SPI transfers take 8 SCK periods (simavr: a fixed 100 us per byte); the UART sends
 * 10-bit frames from a double-buffered transmitter (simavr: 11 bits, no buffer);
 * Timer1 compare match B auto-triggers the ADC (simavr: not implemented); the
 * FOC1A/FOC1B strobes force the compare outputs (simavr: ignored); writing TIFR1
 * clears only the flags written as 1 (simavr: all of them); enabling a Timer1
 * interrupt whose flag is set fires it (simavr: not until the flag is raised again);
 * the ADC result is the input sampled when the conversion started (simavr: when
 * ADCL is read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_adc.h"
#include "avr_eeprom.h"
#include "avr_ioport.h"
#include "avr_spi.h"
#include "avr_timer.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_irq.h"
#include "sim_regbit.h"

#define F_CPU 16000000u
/* ATmega328P data-space addresses */
#define R_TIFR1 0x36
#define R_TIMSK1 0x6F
#define R_TCCR1A 0x80
#define R_TCCR1C 0x82
#define R_ADCSRA 0x7A
#define R_SPDR 0x4E
#define R_SPSR 0x4D
#define R_SPCR 0x4C
#define R_UDR0 0xC6
#define R_UBRR0L 0xC4
#define R_UBRR0H 0xC5
#define R_UCSR0A 0xC0
#define R_UCSR0B 0xC1
#define R_UCSR0C 0xC2
#define VEC_TIMER1_COMPB 12
#define VEC_USART_RX 18

/* ---- options --------------------------------------------------------------- */
static struct {
    const char *elf;
    const char *pin_log;
    const char *analog_socket;
    const char *eeprom;
    const char *profile;
    int log_adc;
    int isr_stats;
    int stack_report;
    double speed;        /* 1 = real time, 0 = as fast as possible */
    double exit_after;   /* simulated seconds, 0 = run until stopped */
    uint64_t seed;
    int verbose;
    /* built-in preparation */
    double rest_mv, tau_ms, r_mohm, threshold_mv, noise_mv, rset_kohm;
    int spikes;
} opt = {
    .speed = 1.0, .seed = 1, .rest_mv = -65.0, .tau_ms = 10.0, .r_mohm = 1.0,
    .threshold_mv = -50.0, .noise_mv = 0.1, .rset_kohm = 500.0, .spikes = 1,
};

static avr_t *avr;
static volatile sig_atomic_t stop_requested;
static int stdout_fd = -1;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-sim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double cycle_us(uint64_t c)
{
    return (double)c / (F_CPU / 1000000.0);
}

/* ---- deterministic randomness (xorshift64*, Box-Muller) ------------------------ */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static double rng_uniform(void)
{
    return ((rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static double rng_gauss(void)
{
    return sqrt(-2.0 * log(rng_uniform())) * cos(2.0 * M_PI * rng_uniform());
}

/* ---- pin log ------------------------------------------------------------------ */
static FILE *pin_log;
static void analog_out(uint64_t cycle, const char *signal, long value);

static void log_signal(uint64_t cycle, const char *signal, long value)
{
    if (pin_log) {
        fprintf(pin_log, "%llu,%.4f,%s,%ld\n", (unsigned long long)cycle, cycle_us(cycle), signal, value);
        if (!strcmp(signal, "enable"))
            fflush(pin_log); /* a few edges a second at most: a test can watch D9 while the board runs */
    }
    analog_out(cycle, signal, value);
}

/* ---- the analog side: DAC, enable, stimulus current --------------------------------- */
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

static void model_advance(uint64_t cycle);
static void model_set_current(void);
static uint64_t edge_cycle(void);
static uint64_t adc_start_cycle(void);

static void dac_transfer(uint64_t cycle)
{
    for (int ch = 0; ch < 2; ch++) {
        uint16_t w = dac.input[ch];
        int code = (w & 0x1000) ? (w & 0x0FFF) : 0; /* /SHDN = 0: output off */
        int ga2 = !(w & 0x2000);
        if (code != dac.out_code[ch] || ga2 != dac.out_ga2[ch]) {
            model_advance(cycle);
            dac.out_code[ch] = code;
            dac.out_ga2[ch] = ga2;
            model_set_current();
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

/* ---- the preparation: built-in stand-in ---------------------------------------------- */
/* C dV/dt = -(V - rest)/R + I; at threshold a stereotyped action potential
 * (0.4 ms rise to +30 mV, 1 ms fall to -80 mV), then the integrator resumes. */
#define SPIKE_RISE_MS 0.4
#define SPIKE_FALL_MS 1.0
#define SPIKE_PEAK_MV 30.0
#define SPIKE_AHP_MV -80.0
static struct {
    double v;           /* integrator state, mV */
    double i_na;        /* stimulus current now */
    uint64_t t;         /* cycle of v */
    int in_spike;
    uint64_t spike_t;   /* cycle of the threshold crossing */
    unsigned long spikes;
} prep;

static double stim_current_na(void)
{
    if (!dac.enable)
        return 0.0;
    /* improved Howland pump: I = (V_A - V_B) / R_set */
    return (dac_volts(0) - dac_volts(1)) / (opt.rset_kohm * 1e3) * 1e9;
}

static void model_set_current(void)
{
    prep.i_na = stim_current_na();
}

static void model_advance(uint64_t cycle)
{
    while (prep.t < cycle) {
        if (prep.in_spike) {
            uint64_t end = prep.spike_t + (uint64_t)((SPIKE_RISE_MS + SPIKE_FALL_MS) * F_CPU / 1000.0);
            if (cycle < end) {
                prep.t = cycle;
                return;
            }
            prep.in_spike = 0;
            prep.v = SPIKE_AHP_MV;
            prep.t = end;
            continue;
        }
        double tau = opt.tau_ms * (F_CPU / 1000.0); /* cycles */
        double vinf = opt.rest_mv + opt.r_mohm * prep.i_na; /* MOhm x nA = mV */
        double dt = (double)(cycle - prep.t);
        double v1 = vinf + (prep.v - vinf) * exp(-dt / tau);
        if (opt.spikes && v1 >= opt.threshold_mv && prep.v < opt.threshold_mv && vinf > opt.threshold_mv) {
            double tc = -tau * log((opt.threshold_mv - vinf) / (prep.v - vinf));
            prep.spike_t = prep.t + (uint64_t)tc;
            prep.t = prep.spike_t;
            prep.v = opt.threshold_mv;
            prep.in_spike = 1;
            prep.spikes++;
            continue;
        }
        prep.v = v1;
        prep.t = cycle;
    }
}

static double model_vm(uint64_t cycle)
{
    model_advance(cycle);
    if (prep.in_spike) {
        double s = (cycle - prep.spike_t) / (F_CPU / 1000.0);
        if (s < SPIKE_RISE_MS) {
            double x = sin(M_PI / 2 * s / SPIKE_RISE_MS);
            return opt.threshold_mv + (SPIKE_PEAK_MV - opt.threshold_mv) * x * x;
        }
        double x = sin(M_PI / 2 * (s - SPIKE_RISE_MS) / SPIKE_FALL_MS);
        return SPIKE_PEAK_MV + (SPIKE_AHP_MV - SPIKE_PEAK_MV) * x * x;
    }
    return prep.v;
}

/* the reference rig's front end: -100 ... +60 mV onto 0 ... 5000 mV */
static double front_end_mv(double vm)
{
    return (vm + 100.0) * 5000.0 / 160.0;
}

/* ---- external preparation on a Unix socket (README.md, "Analog socket") --------------- */
static int analog_fd = -1;
static char analog_out_buf[1 << 16];
static size_t analog_out_len;

static void analog_write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(analog_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("analog socket: write: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
}

static void analog_queue(const char *fmt, ...)
{
    va_list ap;
    if (analog_fd < 0)
        return;
    if (analog_out_len > sizeof analog_out_buf - 256) {
        analog_write_all(analog_out_buf, analog_out_len);
        analog_out_len = 0;
    }
    va_start(ap, fmt);
    analog_out_len += (size_t)vsnprintf(analog_out_buf + analog_out_len, sizeof analog_out_buf - analog_out_len, fmt, ap);
    va_end(ap);
}

static void analog_out(uint64_t cycle, const char *signal, long value)
{
    if (!strcmp(signal, "enable") || !strcmp(signal, "dac_a") || !strcmp(signal, "dac_b") || !strcmp(signal, "reset"))
        analog_queue("out %llu %s %ld\n", (unsigned long long)cycle, signal, value);
}

static char analog_in_buf[4096];
static size_t analog_in_len;

static double analog_request(uint64_t cycle, int channel)
{
    analog_queue("adc %llu %d\n", (unsigned long long)cycle, channel);
    analog_write_all(analog_out_buf, analog_out_len);
    analog_out_len = 0;
    for (;;) {
        char *nl = memchr(analog_in_buf, '\n', analog_in_len);
        if (nl) {
            char *end;
            double mv;
            *nl = 0;
            mv = strtod(analog_in_buf, &end);
            if (end == analog_in_buf)
                die("analog socket: expected millivolts, got \"%s\"", analog_in_buf);
            analog_in_len -= (size_t)(nl + 1 - analog_in_buf);
            memmove(analog_in_buf, nl + 1, analog_in_len);
            return mv;
        }
        if (analog_in_len == sizeof analog_in_buf)
            die("analog socket: line too long");
        ssize_t r = read(analog_fd, analog_in_buf + analog_in_len, sizeof analog_in_buf - analog_in_len);
        if (r == 0)
            die("analog socket: the preparation closed the connection");
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("analog socket: read: %s", strerror(errno));
        }
        analog_in_len += (size_t)r;
    }
}

static void analog_connect(const char *path)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path)
        die("--analog-socket: path too long");
    strcpy(a.sun_path, path);
    for (int attempt = 0;; attempt++) {
        analog_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (analog_fd < 0)
            die("socket: %s", strerror(errno));
        if (connect(analog_fd, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        close(analog_fd);
        analog_fd = -1;
        if (attempt >= 100)
            die("--analog-socket %s: cannot connect: %s", path, strerror(errno));
        usleep(50000);
    }
    analog_queue("hello bench-sim 1 clock_hz=%u adc_ref_mv=5000 adc_bits=10 dac_ref_mv=2048 dac_bits=12\n", F_CPU);
}

/* ---- ADC: auto trigger on Timer1 compare match B, sample at conversion start --------- */
static avr_irq_t *adc_irq;
static int ocf1b_state;
static uint32_t adc_pending_mv;
static unsigned long adc_conversions;

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
    double pin_mv = analog_fd >= 0 ? analog_request(now, 0) : front_end_mv(model_vm(now)) + opt.noise_mv * 5000.0 / 160.0 * rng_gauss();
    /* quantize as the ATmega's ADC does (code = floor(V * 1024 / Vref)), then hand
     * simavr the millivolts that its own scaling (mV * 1023 / 5000) maps to that code */
    long code = (long)floor(pin_mv * 1024.0 / 5000.0);
    if (code < 0)
        code = 0;
    if (code > 1023)
        code = 1023;
    adc_pending_mv = (uint32_t)((code * 5000 + 1022) / 1023);
    if (opt.log_adc && pin_log)
        fprintf(pin_log, "%llu,%.4f,adc,%ld\n", (unsigned long long)now, cycle_us(now), code);
    adc_conversions++;
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

/* ---- Timer1 compare outputs, force strobes, pins ------------------------------------ */
static avr_timer_t *timer1;
static avr_irq_t *oc1_irq[2];
static int in_foc;

static uint64_t edge_cycle(void)
{
    /* compare matches at TOP are dispatched with the timer's overflow: its base is
     * the exact cycle of the edge (avr->cycle is the end of the current instruction) */
    if (!in_foc && timer1 && timer1->tov_base && timer1->tov_base <= avr->cycle)
        return timer1->tov_base;
    return avr->cycle;
}

/* D9 (PB1) is OC1A: its edges come from Timer1 only while COM1A is set; otherwise an instruction wrote PORTB (an
 * Arduino sketch's digitalWrite), and the edge is that instruction's cycle, not Timer1's last overflow. */
static uint64_t d9_edge_cycle(void)
{
    return (avr->data[R_TCCR1A] & 0xC0) ? edge_cycle() : avr->cycle;
}

/* A conversion started by the auto trigger (ADATE) starts on Timer1's edge; one started by writing ADSC (Arduino's
 * analogRead) starts at that instruction. */
static uint64_t adc_start_cycle(void)
{
    return (avr->data[R_ADCSRA] & 0x20) ? edge_cycle() : avr->cycle;
}

static void on_enable(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    int v = (value & 0xFF) != 0;
    if (v == dac.enable)
        return;
    uint64_t c = d9_edge_cycle();
    model_advance(c);
    dac.enable = v;
    model_set_current();
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

/* ---- UART: double-buffered transmitter, 10-bit frames, pty bridge -------------------- */
static avr_uart_t *uart;
static struct {
    int shift_busy, udr_full;
    uint8_t shift, udr;
} tx;
static int xoff;
static unsigned long rx_frames, tx_dropped, bytes_in, bytes_out, udr_overwrites;

static uint8_t tx_out[1 << 20];
static size_t tx_out_len;
static uint8_t rx_in[1 << 16];
static size_t rx_in_len, rx_in_pos;

static avr_cycle_count_t uart_cycles_per_byte(void)
{
    uint32_t ubrr = avr->data[R_UBRR0L] | ((avr->data[R_UBRR0H] & 0x0F) << 8);
    uint32_t per_bit = (ubrr + 1) * ((avr->data[R_UCSR0A] & 0x02) ? 8 : 16);
    uint8_t c = avr->data[R_UCSR0C];
    int bits = 1 + 5 + ((c >> 1) & 3) + ((c & 0x30) ? 1 : 0) + ((c & 0x08) ? 2 : 1);
    return per_bit * (avr_cycle_count_t)bits;
}

static void emit_byte(uint8_t b)
{
    if (tx_out_len < sizeof tx_out)
        tx_out[tx_out_len++] = b;
    else
        tx_dropped++;
    bytes_out++;
}

static avr_cycle_count_t tx_shift_done(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)param;
    emit_byte(tx.shift);
    if (tx.udr_full) {
        tx.shift = tx.udr;
        tx.udr_full = 0;
        avr_raise_interrupt(a, &uart->udrc); /* UDR empty again */
        return when + uart->cycles_per_byte;
    }
    tx.shift_busy = 0;
    avr_raise_interrupt(a, &uart->txc);
    return 0;
}

static void udr_write(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)addr;
    (void)param;
    if (!(a->data[R_UCSR0B] & 0x08)) /* TXEN */
        return;
    uart->cycles_per_byte = uart_cycles_per_byte();
    if (!tx.shift_busy) { /* straight into the shift register: UDR stays empty */
        tx.shift = v;
        tx.shift_busy = 1;
        avr_regbit_clear(a, uart->txc.raised);
        avr_cycle_timer_register(a, uart->cycles_per_byte, tx_shift_done, NULL);
        avr_raise_interrupt(a, &uart->udrc);
    } else if (!tx.udr_full) {
        tx.udr = v;
        tx.udr_full = 1;
        avr_clear_interrupt(a, &uart->udrc);
        avr_regbit_clear(a, uart->udrc.raised);
    } else {
        udr_overwrites++; /* the firmware wrote UDR0 while it was full: on the chip that byte is lost too */
        if (opt.verbose)
            fprintf(stderr, "bench-sim: UDR0 written while full (byte lost)\n");
    }
}

/* UCSR0B: simavr 1.6 raises the data-register-empty interrupt the moment UDRIE is set unless its own transmitter's
 * timer is running, which never runs here (this harness owns the transmitter). Arduino's HardwareSerial sets UDRIE
 * after queueing a byte while UDR0 is full, so the interrupt ran at once, wrote UDR0 while full and the byte was lost
 * (4 of 43 bytes of a Firmata reply passed). After simavr's own handler, the flag and a pending interrupt are made to
 * follow this transmitter: held off while UDR0 is full, raised while it is empty, whatever the baud rate. */
static unsigned long udre_held_off;

static void udre_follow_transmitter(avr_t *a)
{
    if (tx.udr_full) {
        if (avr_regbit_get(a, uart->udrc.raised) || uart->udrc.pending) {
            udre_held_off++;
            avr_clear_interrupt(a, &uart->udrc);
            avr_regbit_clear(a, uart->udrc.raised);
        }
    } else if (!avr_regbit_get(a, uart->udrc.raised) || (avr_regbit_get(a, uart->udrc.enable) && !uart->udrc.pending)) {
        avr_raise_interrupt(a, &uart->udrc); /* UDR0 empty: the flag is set, and fires if enabled */
    }
}

/* UCSR0B, and UCSR0A (whose UDRE0 bit is read-only on the chip, but a plain write would change it in simavr) */
static avr_io_write_t ucsr0_orig[2];
static void *ucsr0_orig_param[2];

static void ucsr0_write(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param)
{
    int i = (int)(intptr_t)param;
    if (ucsr0_orig[i])
        ucsr0_orig[i](a, addr, v, ucsr0_orig_param[i]);
    else
        a->data[addr] = v;
    udre_follow_transmitter(a);
}

/* Entry into the receive interrupt that takes a frame delimiter (the byte at the
 * head of the receive FIFO, which that interrupt reads from UDR0). Logged at the
 * entry rather than at the UDR0 read: no acquisition interrupt can run between the
 * two, so the firmware's arrival stamp (acq_ticks, read in that interrupt) counts
 * exactly the sample edges before this cycle, and the byte had arrived by then. */
static void on_rx_isr(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value && uart->input.read != uart->input.write && (uart->input.buffer[uart->input.read] & 0xFF) == 0)
        log_signal(avr->cycle, "rx_frame", (long)++rx_frames);
}

static void on_xon(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value)
        xoff = 0;
}

static void on_xoff(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    xoff = value != 0;
}

/* ---- pseudo-terminal ---------------------------------------------------------------------- */
static int pty_master = -1, pty_slave = -1;
static char pty_name[256];

static void pty_open(void)
{
    struct termios t;
    if (openpty(&pty_master, &pty_slave, pty_name, NULL, NULL) != 0)
        die("openpty: %s", strerror(errno));
    if (tcgetattr(pty_slave, &t) == 0) {
        cfmakeraw(&t);
        cfsetispeed(&t, B1000000);
        cfsetospeed(&t, B1000000);
        tcsetattr(pty_slave, TCSANOW, &t);
    }
    fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);
    fcntl(pty_master, F_SETFD, FD_CLOEXEC);
    fcntl(pty_slave, F_SETFD, FD_CLOEXEC);
    /* the slave stays open here too: a host may come and go without hanging up the line */
}

static void pty_io(void)
{
    /* simavr's receiver counts a parity bit in every frame: 10 bits for 8N1 */
    uart->cycles_per_byte = uart_cycles_per_byte();
    if (tx_out_len) {
        ssize_t w = write(pty_master, tx_out, tx_out_len);
        if (w > 0) {
            memmove(tx_out, tx_out + w, tx_out_len - (size_t)w);
            tx_out_len -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            tx_dropped += tx_out_len;
            tx_out_len = 0;
        }
        if (tx_out_len > (1 << 19)) { /* nobody reads: a USB bridge drops, so do we */
            tx_dropped += tx_out_len;
            tx_out_len = 0;
        }
    }
    if (rx_in_pos == rx_in_len) {
        ssize_t r = read(pty_master, rx_in, sizeof rx_in);
        rx_in_pos = 0;
        rx_in_len = r > 0 ? (size_t)r : 0;
    }
    avr_irq_t *in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    while (rx_in_pos < rx_in_len && !xoff && (avr->data[R_UCSR0B] & 0x10)) { /* RXEN */
        avr_raise_irq(in, rx_in[rx_in_pos++]);
        bytes_in++;
    }
    if (!(avr->data[R_UCSR0B] & 0x10))
        rx_in_pos = rx_in_len; /* receiver off: the bytes are lost, as on the wire */
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

static void isr_stats_init(void)
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

static void isr_stats_print(void)
{
    for (int i = 0; i < 5; i++)
        if (isr[i].count)
            fprintf(stderr, "bench-sim: isr %-28s n=%llu mean %.1f max %llu cycles (at %llu), max latency %llu cycles (at %llu)\n",
                    isr_names[i], (unsigned long long)isr[i].count, (double)isr[i].total / isr[i].count,
                    (unsigned long long)isr[i].max, (unsigned long long)isr[i].max_at,
                    (unsigned long long)isr[i].max_latency, (unsigned long long)isr[i].max_latency_at);
}

/* ---- reset and setup ---------------------------------------------------------------------- */
static unsigned long resets;

static void harness_reset(avr_io_t *io)
{
    (void)io;
    spi_busy = 0;
    memset(&tx, 0, sizeof tx);
    ocf1b_state = 0;
    if (avr && avr->cycle) {
        resets++;
        log_signal(avr->cycle, "reset", (long)resets);
    }
}

static avr_io_t harness_io = {.kind = "bench-harness", .reset = harness_reset};

static avr_io_t *find_io(const char *kind, char name)
{
    for (avr_io_t *p = avr->io_port; p; p = p->next) {
        if (strcmp(p->kind, kind))
            continue;
        if (!strcmp(kind, "timer") && ((avr_timer_t *)p)->name != name)
            continue;
        if (!strcmp(kind, "uart") && ((avr_uart_t *)p)->name != name)
            continue;
        return p;
    }
    return NULL;
}

static void no_sleep(avr_t *a, avr_cycle_count_t howlong)
{
    (void)a;
    (void)howlong; /* pacing is done by the main loop, not by usleep in simavr */
}

static void quiet_logger(avr_t *a, const int level, const char *fmt, va_list ap)
{
    if (!a || a->log >= level)
        vfprintf(stderr, fmt, ap);
}

static void eeprom_file(int save)
{
    static uint8_t ee[1024];
    avr_eeprom_desc_t d = {.ee = ee, .offset = 0, .size = sizeof ee};
    if (!opt.eeprom)
        return;
    if (save) {
        if (avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d) == 0 || d.ee) {
            FILE *f = fopen(opt.eeprom, "wb");
            if (!f || fwrite(d.ee, 1, sizeof ee, f) != sizeof ee)
                fprintf(stderr, "bench-sim: cannot save %s\n", opt.eeprom);
            if (f)
                fclose(f);
        }
        return;
    }
    FILE *f = fopen(opt.eeprom, "rb");
    if (!f)
        return; /* first run: an erased EEPROM */
    if (fread(ee, 1, sizeof ee, f) == sizeof ee)
        avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d);
    fclose(f);
}

static void on_signal(int s)
{
    (void)s;
    stop_requested = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-sim FIRMWARE.elf [options]\n"
            "  --pin-log FILE       write enable/dac_a/dac_b/rx_frame/reset changes: cycle,time_us,signal,value\n"
            "  --log-adc            also log each ADC0 conversion start (signal adc, value = the code fed)\n"
            "  --analog-socket PATH ADC0 from an external preparation on this Unix socket (README.md)\n"
            "  --speed X            1 = real time (default), 0 = as fast as possible (also --no-pace)\n"
            "  --exit-after SEC     stop after SEC simulated seconds\n"
            "  --eeprom FILE        keep the EEPROM (the rig's unique id) in FILE across runs\n"
            "  --seed N             power-up SRAM pattern and model noise (default 1)\n"
            "  built-in preparation: --rest-mv -65 --tau-ms 10 --r-mohm 1 --threshold-mv -50\n"
            "                        --noise-mv 0.1 --rset-kohm 500 --no-spikes\n"
            "  --profile FILE       cycles spent at each flash address (byte address, cycles), for CPU load figures\n"
            "  --isr-stats          at exit: duration and latency of each interrupt (cycles)\n"
            "  --stack-report       at exit: the deepest stack use (the firmware paints free RAM with 0xA5)\n"
            "  --verbose            simavr's trace messages on stderr\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    enum { O_PIN = 1, O_SOCK, O_SPEED, O_NOPACE, O_EXIT, O_EE, O_SEED, O_REST, O_TAU, O_R, O_TH, O_NOISE, O_RSET, O_NOSPIKE, O_VERB, O_HELP, O_PROF, O_LOGADC, O_ISR, O_STACK };
    static const struct option lo[] = {
        {"pin-log", 1, 0, O_PIN}, {"analog-socket", 1, 0, O_SOCK}, {"speed", 1, 0, O_SPEED},
        {"no-pace", 0, 0, O_NOPACE}, {"exit-after", 1, 0, O_EXIT}, {"eeprom", 1, 0, O_EE},
        {"seed", 1, 0, O_SEED}, {"rest-mv", 1, 0, O_REST}, {"tau-ms", 1, 0, O_TAU},
        {"r-mohm", 1, 0, O_R}, {"threshold-mv", 1, 0, O_TH}, {"noise-mv", 1, 0, O_NOISE},
        {"rset-kohm", 1, 0, O_RSET}, {"no-spikes", 0, 0, O_NOSPIKE}, {"verbose", 0, 0, O_VERB},
        {"help", 0, 0, O_HELP}, {"profile", 1, 0, O_PROF}, {"log-adc", 0, 0, O_LOGADC}, {"isr-stats", 0, 0, O_ISR}, {"stack-report", 0, 0, O_STACK}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_PIN: opt.pin_log = optarg; break;
        case O_SOCK: opt.analog_socket = optarg; break;
        case O_SPEED: opt.speed = atof(optarg); break;
        case O_NOPACE: opt.speed = 0; break;
        case O_EXIT: opt.exit_after = atof(optarg); break;
        case O_EE: opt.eeprom = optarg; break;
        case O_SEED: opt.seed = strtoull(optarg, NULL, 0); break;
        case O_REST: opt.rest_mv = atof(optarg); break;
        case O_TAU: opt.tau_ms = atof(optarg); break;
        case O_R: opt.r_mohm = atof(optarg); break;
        case O_TH: opt.threshold_mv = atof(optarg); break;
        case O_NOISE: opt.noise_mv = atof(optarg); break;
        case O_RSET: opt.rset_kohm = atof(optarg); break;
        case O_NOSPIKE: opt.spikes = 0; break;
        case O_VERB: opt.verbose = 1; break;
        case O_PROF: opt.profile = optarg; break;
        case O_LOGADC: opt.log_adc = 1; break;
        case O_ISR: opt.isr_stats = 1; break;
        case O_STACK: opt.stack_report = 1; break;
        default: usage();
        }
    }
    if (optind != argc - 1)
        usage();
    opt.elf = argv[optind];
    if (opt.speed < 0 || opt.tau_ms <= 0 || opt.r_mohm <= 0 || opt.rset_kohm <= 0)
        die("bad option value");
}

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    elf_firmware_t fw;
    parse_args(argc, argv);

    /* stdout carries only our JSON; simavr's chatter goes to stderr */
    stdout_fd = dup(1);
    dup2(2, 1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    avr_global_logger_set(quiet_logger);

    rng_state = opt.seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
    if (!rng_state)
        rng_state = 1;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(opt.elf, &fw) != 0)
        die("cannot read %s", opt.elf);
    avr = avr_make_mcu_by_name("atmega328p");
    if (!avr)
        die("simavr has no atmega328p");
    avr_init(avr);
    avr->log = opt.verbose ? LOG_TRACE : LOG_ERROR;
    fw.frequency = F_CPU;
    avr_load_firmware(avr, &fw);
    avr->frequency = F_CPU;
    avr->vcc = avr->avcc = avr->aref = 5000;
    avr->sleep = no_sleep;
    /* power-up SRAM holds a random pattern; the firmware's id seed reads it */
    for (int a = 0x100; a <= avr->ramend; a++)
        avr->data[a] = (uint8_t)rng_next();
    eeprom_file(0);

    avr_register_io(avr, &harness_io);
    timer1 = (avr_timer_t *)find_io("timer", '1');
    spi = (avr_spi_t *)find_io("spi", 0);
    uart = (avr_uart_t *)find_io("uart", '0');
    if (!timer1 || !spi || !uart)
        die("simavr's atmega328p lacks timer1, spi or uart0");

    /* pins */
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 1), on_enable, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 2), on_ldac, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 7), on_cs, NULL);
    oc1_irq[0] = avr_io_getirq(avr, AVR_IOCTL_TIMER_GETIRQ('1'), TIMER_IRQ_OUT_COMP + 0);
    oc1_irq[1] = avr_io_getirq(avr, AVR_IOCTL_TIMER_GETIRQ('1'), TIMER_IRQ_OUT_COMP + 1);
    avr_register_io_write(avr, R_TCCR1C, tccr1c_write, NULL);
    avr->io[AVR_DATA_TO_IO(R_TIFR1)].w.c = tifr1_write;
    avr->io[AVR_DATA_TO_IO(R_TIFR1)].w.param = timer1;
    timsk1_orig = avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.c;
    timsk1_orig_param = avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.param;
    avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.c = timsk1_write;
    avr->io[AVR_DATA_TO_IO(R_TIMSK1)].w.param = timer1;
    /* SPI */
    avr->io[AVR_DATA_TO_IO(R_SPDR)].w.c = spdr_write;
    avr->io[AVR_DATA_TO_IO(R_SPDR)].w.param = spi;
    /* ADC */
    adc_irq = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, 0);
    avr_irq_register_notify(adc_irq + ADC_IRQ_OUT_TRIGGER, on_adc_start, NULL);
    avr_irq_register_notify(avr_get_interrupt_irq(avr, VEC_TIMER1_COMPB), on_ocf1b, NULL);
    /* UART */
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr->io[AVR_DATA_TO_IO(R_UDR0)].w.c = udr_write;
    for (int i = 0; i < 2; i++) {
        avr_io_addr_t r = i ? R_UCSR0B : R_UCSR0A;
        ucsr0_orig[i] = avr->io[AVR_DATA_TO_IO(r)].w.c;
        ucsr0_orig_param[i] = avr->io[AVR_DATA_TO_IO(r)].w.param;
        avr->io[AVR_DATA_TO_IO(r)].w.c = ucsr0_write;
        avr->io[AVR_DATA_TO_IO(r)].w.param = (void *)(intptr_t)i;
    }
    avr->io[AVR_DATA_TO_IO(R_UDR0)].w.param = NULL;
    avr_irq_register_notify(avr_get_interrupt_irq(avr, VEC_USART_RX) + AVR_INT_IRQ_RUNNING, on_rx_isr, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);

    if (opt.isr_stats)
        isr_stats_init();
    if (opt.pin_log) {
        pin_log = fopen(opt.pin_log, "w");
        if (!pin_log)
            die("--pin-log %s: %s", opt.pin_log, strerror(errno));
        setvbuf(pin_log, NULL, _IOFBF, 1 << 16);
        fprintf(pin_log, "cycle,time_us,signal,value\n");
    }
    if (opt.analog_socket)
        analog_connect(opt.analog_socket);
    prep.v = opt.rest_mv;
    log_signal(0, "enable", 0);
    log_signal(0, "dac_a", 0);
    log_signal(0, "dac_b", 0);

    pty_open();
    {
        char line[300];
        int n = snprintf(line, sizeof line, "{\"port\":\"%s\"}\n", pty_name);
        if (write(stdout_fd, line, (size_t)n) != n)
            die("stdout: %s", strerror(errno));
    }
    fprintf(stderr, "bench-sim: %s on %s, %s\n", opt.elf, pty_name,
            opt.speed > 0 ? "paced to real time" : "unpaced");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    uint64_t *profile = opt.profile ? calloc(32768, sizeof *profile) : NULL;
    /* the pseudo-terminal is served every 3203 cycles (~200 us): not a multiple of a
     * sample period, so host bytes reach the UART at every phase of the sample clock */
    const avr_cycle_count_t slice = 3203;
    const avr_cycle_count_t end = opt.exit_after > 0 ? (avr_cycle_count_t)(opt.exit_after * F_CPU) : 0;
    double wall0 = wall_now(), lagged = 0, max_lag = 0;
    avr_cycle_count_t cyc0 = avr->cycle;
    int state = cpu_Running;
    while (!stop_requested) {
        avr_cycle_count_t target = avr->cycle + slice;
        if (profile) {
            while (avr->cycle < target) {
                avr_flashaddr_t pc = avr->pc;
                avr_cycle_count_t c = avr->cycle;
                state = avr_run(avr);
                if (pc < 32768)
                    profile[pc] += avr->cycle - c;
                if (state == cpu_Done || state == cpu_Crashed)
                    break;
            }
        } else {
            while (avr->cycle < target) {
                state = avr_run(avr);
                if (state == cpu_Done || state == cpu_Crashed)
                    break;
            }
        }
        if (state == cpu_Done || state == cpu_Crashed)
            break;
        pty_io();
        if (end && avr->cycle >= end)
            break;
        if (opt.speed > 0) {
            double sim = (double)(avr->cycle - cyc0) / F_CPU / opt.speed;
            double ahead = sim - (wall_now() - wall0);
            if (-ahead > max_lag)
                max_lag = -ahead; /* how far the board's time fell behind the host's: host-timed signals shift by as much */
            if (ahead > 0.001) {
                struct timespec ts = {0, (long)((ahead - 0.0005) * 1e9)};
                nanosleep(&ts, NULL);
            } else if (ahead < -0.020) { /* fell behind (busy machine): do not sprint to catch up */
                wall0 += -ahead;
                lagged += -ahead;
            }
        }
    }
    pty_io();
    double wall = wall_now() - wall0 + lagged;
    double sim = (double)(avr->cycle - cyc0) / F_CPU;
    if (state == cpu_Crashed)
        fprintf(stderr, "bench-sim: the firmware crashed at pc 0x%04x\n", avr->pc);
    fprintf(stderr,
            "bench-sim: %.3f s simulated in %.3f s (%.2fx real time), fell behind real time by %.3f s; "
            "%lu bytes in, %lu out (%lu dropped), %lu ADC conversions, %lu model spikes, %lu resets; "
            "UART: %lu writes to a full UDR0 (bytes lost), data-register-empty held off %lu times; "
            "at most %.3f ms behind real time\n",
            sim, wall, wall > 0 ? sim / wall : 0, lagged, bytes_in, bytes_out, tx_dropped,
            adc_conversions, prep.spikes, resets, udr_overwrites, udre_held_off, max_lag * 1000);
    if (opt.isr_stats)
        isr_stats_print();
    if (opt.stack_report) { /* the longest run of paint is the RAM never used */
        int best = 0, best_end = 0, run = 0;
        for (int a = 0x100; a <= avr->ramend; a++) {
            run = avr->data[a] == 0xA5 ? run + 1 : 0;
            if (run > best) {
                best = run;
                best_end = a;
            }
        }
        fprintf(stderr, "bench-sim: stack: deepest use %d bytes (below 0x%04x); %d bytes of RAM never used\n",
                avr->ramend - best_end, avr->ramend + 1, best);
    }
    eeprom_file(1);
    if (profile) {
        FILE *f = fopen(opt.profile, "w");
        if (f) {
            for (int a = 0; a < 32768; a++)
                if (profile[a])
                    fprintf(f, "%d,%llu\n", a, (unsigned long long)profile[a]);
            fclose(f);
        }
    }
    if (pin_log)
        fclose(pin_log);
    return state == cpu_Crashed ? 3 : 0;
}
