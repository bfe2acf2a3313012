/*
 * main.c - bench-sim: runs the unmodified Bench rig firmware ELF on a simulated
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
 *
 * This file: the command line, setup, the run loop paced to real time, reset, the EEPROM file and the exit
 * summary; bench_sim.h lists the other parts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avr_eeprom.h"
#include "bench_sim.h"
#include "sim_elf.h"
#include "sim_io.h"

/* ---- options --------------------------------------------------------------- */
static struct bench_options opt = {
    .speed = 1.0, .seed = 1, .rest_mv = -65.0, .tau_ms = 10.0, .r_mohm = 1.0,
    .threshold_mv = -50.0, .noise_mv = 0.1, .rset_kohm = 500.0, .spikes = 1,
};

static avr_t *avr;
static volatile sig_atomic_t stop_requested;
static int stdout_fd = -1;

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-sim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

double cycle_us(uint64_t c)
{
    return (double)c / (F_CPU / 1000000.0);
}

/* ---- reset and setup ---------------------------------------------------------------------- */
static unsigned long resets;

static void harness_reset(avr_io_t *io)
{
    (void)io;
    analog_reset();
    uart_reset();
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

    prep_init(&opt);
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
        avr->data[a] = (uint8_t)prep_random();
    eeprom_file(0);

    avr_register_io(avr, &harness_io);
    avr_timer_t *timer1 = (avr_timer_t *)find_io("timer", '1');
    avr_spi_t *spi = (avr_spi_t *)find_io("spi", 0);
    avr_uart_t *uart = (avr_uart_t *)find_io("uart", '0');
    if (!timer1 || !spi || !uart)
        die("simavr's atmega328p lacks timer1, spi or uart0");

    timing_init(avr, timer1);
    analog_init(avr, &opt, spi);
    uart_init(avr, &opt, uart);
    if (opt.isr_stats)
        isr_stats_init();
    if (opt.pin_log)
        pin_log_open(opt.pin_log);
    if (opt.analog_socket)
        prep_connect(opt.analog_socket);
    log_signal(0, "enable", 0);
    log_signal(0, "dac_a", 0);
    log_signal(0, "dac_b", 0);

    const char *pty_name = pty_open();
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
    struct uart_counts uc = uart_counts();
    if (state == cpu_Crashed)
        fprintf(stderr, "bench-sim: the firmware crashed at pc 0x%04x\n", avr->pc);
    fprintf(stderr,
            "bench-sim: %.3f s simulated in %.3f s (%.2fx real time), fell behind real time by %.3f s; "
            "%lu bytes in, %lu out (%lu dropped), %lu ADC conversions, %lu model spikes, %lu resets; "
            "UART: %lu writes to a full UDR0 (bytes lost), data-register-empty held off %lu times; "
            "at most %.3f ms behind real time\n",
            sim, wall, wall > 0 ? sim / wall : 0, lagged, uc.bytes_in, uc.bytes_out, uc.tx_dropped,
            adc_conversions(), prep_spikes(), resets, uc.udr_overwrites, uc.udre_held_off, max_lag * 1000);
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
    pin_log_close();
    return state == cpu_Crashed ? 3 : 0;
}
