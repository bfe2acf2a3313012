/*
 * preparation.c - the membrane behind ADC0: the built-in stand-in (a leaky integrator with a stereotyped action
 * potential, seen through the reference rig's front end, plus seeded noise), or an external preparation on a Unix
 * socket (README.md, "Analog socket protocol") that answers each conversion.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_sim.h"

static const struct bench_options *opt;

/* ---- deterministic randomness (xorshift64*, Box-Muller) ------------------------ */
static uint64_t rng_state;

uint64_t prep_random(void)
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
    return ((prep_random() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static double rng_gauss(void)
{
    return sqrt(-2.0 * log(rng_uniform())) * cos(2.0 * M_PI * rng_uniform());
}

/* ---- the built-in stand-in ---------------------------------------------------------- */
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

void prep_init(const struct bench_options *options)
{
    opt = options;
    rng_state = opt->seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
    if (!rng_state)
        rng_state = 1;
    prep.v = opt->rest_mv;
}

void prep_set_current(double i_na)
{
    prep.i_na = i_na;
}

unsigned long prep_spikes(void)
{
    return prep.spikes;
}

void prep_advance(uint64_t cycle)
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
        double tau = opt->tau_ms * (F_CPU / 1000.0); /* cycles */
        double vinf = opt->rest_mv + opt->r_mohm * prep.i_na; /* MOhm x nA = mV */
        double dt = (double)(cycle - prep.t);
        double v1 = vinf + (prep.v - vinf) * exp(-dt / tau);
        if (opt->spikes && v1 >= opt->threshold_mv && prep.v < opt->threshold_mv && vinf > opt->threshold_mv) {
            double tc = -tau * log((opt->threshold_mv - vinf) / (prep.v - vinf));
            prep.spike_t = prep.t + (uint64_t)tc;
            prep.t = prep.spike_t;
            prep.v = opt->threshold_mv;
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
    prep_advance(cycle);
    if (prep.in_spike) {
        double s = (cycle - prep.spike_t) / (F_CPU / 1000.0);
        if (s < SPIKE_RISE_MS) {
            double x = sin(M_PI / 2 * s / SPIKE_RISE_MS);
            return opt->threshold_mv + (SPIKE_PEAK_MV - opt->threshold_mv) * x * x;
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
static char analog_in_buf[4096];
static size_t analog_in_len;

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

void prep_output(uint64_t cycle, const char *signal, long value)
{
    if (!strcmp(signal, "enable") || !strcmp(signal, "dac_a") || !strcmp(signal, "dac_b") || !strcmp(signal, "reset"))
        analog_queue("out %llu %s %ld\n", (unsigned long long)cycle, signal, value);
}

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

void prep_connect(const char *path)
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

/* The voltage at the ADC pin at the conversion's start: the external preparation's answer, or the stand-in's
 * membrane through the front end with the seeded noise (membrane-referred, so scaled by the front end's gain). */
double prep_pin_mv(uint64_t cycle)
{
    return analog_fd >= 0 ? analog_request(cycle, 0) : front_end_mv(model_vm(cycle)) + opt->noise_mv * 5000.0 / 160.0 * rng_gauss();
}
