/*
 * uart.c - UART0 as the ATmega328P has it where simavr 1.6 differs (10-bit frames for 8N1, a double-buffered
 * transmitter, UDRE0 and its interrupt following that transmitter), and the bridge to the host: a pseudo-terminal
 * served by the run loop (README.md, "The serial port").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "bench_sim.h"
#include "sim_interrupts.h"
#include "sim_io.h"
#include "sim_irq.h"
#include "sim_regbit.h"

static avr_t *avr;
static const struct bench_options *opt;

/* ---- UART: double-buffered transmitter, 10-bit frames --------------------------------- */
static avr_uart_t *uart;
static struct {
    int shift_busy, udr_full;
    uint8_t shift, udr;
} tx;
static int xoff;
static unsigned long rx_frames;
static struct uart_counts counts;

static uint8_t tx_out[1 << 20];
static size_t tx_out_len;
static uint8_t rx_in[1 << 16];
static size_t rx_in_len, rx_in_pos;

struct uart_counts uart_counts(void)
{
    return counts;
}

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
        counts.tx_dropped++;
    counts.bytes_out++;
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
        counts.udr_overwrites++; /* the firmware wrote UDR0 while it was full: on the chip that byte is lost too */
        if (opt->verbose)
            fprintf(stderr, "bench-sim: UDR0 written while full (byte lost)\n");
    }
}

/* UCSR0B: simavr 1.6 raises the data-register-empty interrupt the moment UDRIE is set unless its own transmitter's
 * timer is running, which never runs here (this harness owns the transmitter). Arduino's HardwareSerial sets UDRIE
 * after queueing a byte while UDR0 is full, so the interrupt ran at once, wrote UDR0 while full and the byte was lost
 * (4 of 43 bytes of a Firmata reply passed). After simavr's own handler, the flag and a pending interrupt are made to
 * follow this transmitter: held off while UDR0 is full, raised while it is empty, whatever the baud rate. */
static void udre_follow_transmitter(avr_t *a)
{
    if (tx.udr_full) {
        if (avr_regbit_get(a, uart->udrc.raised) || uart->udrc.pending) {
            counts.udre_held_off++;
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

/* The MCU was reset: the transmitter is empty again. */
void uart_reset(void)
{
    memset(&tx, 0, sizeof tx);
}

void uart_init(avr_t *mcu, const struct bench_options *options, avr_uart_t *uart0)
{
    avr = mcu;
    opt = options;
    uart = uart0;
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
}

/* ---- pseudo-terminal ---------------------------------------------------------------------- */
static int pty_master = -1, pty_slave = -1;
static char pty_name[256];

const char *pty_open(void)
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
    return pty_name;
}

void pty_io(void)
{
    /* simavr's receiver counts a parity bit in every frame: 10 bits for 8N1 */
    uart->cycles_per_byte = uart_cycles_per_byte();
    if (tx_out_len) {
        ssize_t w = write(pty_master, tx_out, tx_out_len);
        if (w > 0) {
            memmove(tx_out, tx_out + w, tx_out_len - (size_t)w);
            tx_out_len -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            counts.tx_dropped += tx_out_len;
            tx_out_len = 0;
        }
        if (tx_out_len > (1 << 19)) { /* nobody reads: a USB bridge drops, so do we */
            counts.tx_dropped += tx_out_len;
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
        counts.bytes_in++;
    }
    if (!(avr->data[R_UCSR0B] & 0x10))
        rx_in_pos = rx_in_len; /* receiver off: the bytes are lost, as on the wire */
}
