/*
 * bench_sim.h - what the parts of bench-sim share: the ATmega328P's addresses, the options, and each part's entry
 * points. Each part keeps its own state file-static and is handed the simulated MCU and the options at init:
 *
 *   main.c         command line, setup, the run loop paced to real time, reset, EEPROM file, exit summary
 *   uart.c         the UART's double-buffered transmitter and 10-bit frames, and the pseudo-terminal bridge
 *   analog.c       the stimulus path (SPI master, MCP4822, enable pin), ADC0's sampling, and the pin log
 *   preparation.c  the membrane behind ADC0: the built-in stand-in, or an external process on a Unix socket
 *   timing.c       Timer1's compare outputs, force strobes, TIFR1 and TIMSK1 as the chip has them, the cycle of
 *                  an edge, and the interrupt timing statistics (--isr-stats)
 */
#ifndef BENCH_SIM_H
#define BENCH_SIM_H

#include <stdint.h>

#include "avr_spi.h"
#include "avr_timer.h"
#include "avr_uart.h"
#include "sim_avr.h"

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

/* The command line (main.c fills it; the parts only read it). */
struct bench_options {
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
};

/* main.c */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
double cycle_us(uint64_t c);

/* timing.c */
void timing_init(avr_t *mcu, avr_timer_t *timer1);
uint64_t edge_cycle(void);
uint64_t d9_edge_cycle(void);
uint64_t adc_start_cycle(void);
void isr_stats_init(void);
void isr_stats_print(void);

/* preparation.c: the seed also draws the power-up SRAM pattern (prep_random), before any noise */
void prep_init(const struct bench_options *options);
uint64_t prep_random(void);
void prep_connect(const char *path);
void prep_output(uint64_t cycle, const char *signal, long value);
void prep_set_current(double i_na);
void prep_advance(uint64_t cycle);
double prep_pin_mv(uint64_t cycle);
unsigned long prep_spikes(void);

/* analog.c */
void analog_init(avr_t *mcu, const struct bench_options *options, avr_spi_t *spi);
void analog_reset(void);
void pin_log_open(const char *path);
void pin_log_close(void);
void log_signal(uint64_t cycle, const char *signal, long value);
unsigned long adc_conversions(void);

/* uart.c */
struct uart_counts {
    unsigned long bytes_in, bytes_out, tx_dropped, udr_overwrites, udre_held_off;
};
void uart_init(avr_t *mcu, const struct bench_options *options, avr_uart_t *uart);
void uart_reset(void);
const char *pty_open(void);
void pty_io(void);
struct uart_counts uart_counts(void);

#endif
