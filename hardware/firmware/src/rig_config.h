/*
 * rig_config.h - the Bench reference rig (Arduino Uno R3, ATmega328P at 16 MHz):
 * pins, hard limits and buffer sizes. hardware/README.md describes the circuit.
 *
 * Pin map (Arduino name = AVR pin):
 *   D9  = PB1 = OC1A  stimulus enable (high = output stage connected); 10 k pull-down on the board
 *   D10 = PB2 = OC1B  MCP4822 /LDAC (falling edge latches both DAC channels); 10 k pull-up
 *   D7  = PD7         MCP4822 /CS; 10 k pull-up
 *   D11 = PB3 = MOSI  MCP4822 SDI
 *   D13 = PB5 = SCK   MCP4822 SCK
 *   A0  = ADC0        recording front end output (0-5 V = -100 ... +60 mV membrane)
 *   D0/D1             UART to the 16U2 (USB), 1 000 000 baud 8N1
 *
 * Enable and /LDAC are driven by Timer1's compare outputs, so that every change of
 * the stimulus happens on a sample-clock edge in hardware (no interrupt latency):
 * nothing else may write PORTB once Timer1 owns them.
 */
#ifndef RIG_CONFIG_H
#define RIG_CONFIG_H

#include <stdint.h>

#ifndef F_CPU
#define F_CPU 16000000UL
#endif

/* ---- Identity (DeviceInfo) --------------------------------------------- */
#define RIG_BOARD "UNO-R3"
#define RIG_FW_MAJOR 1u
#define RIG_FW_MINOR 0u
#define RIG_FW_PATCH 0u
#define RIG_CLOCK_HZ 16000000UL

/* ---- Acquisition --------------------------------------------------------- */
/* Highest accepted sample_rate_hz x channels. The link and CPU sustain 25 kHz
 * without stimulation (hardware/README.md, "Figures"); 20 kHz leaves the stimulus
 * interrupt the margin it needs to arm every edge in time. */
#ifndef RIG_MAX_SAMPLE_RATE_HZ
#define RIG_MAX_SAMPLE_RATE_HZ 20000UL
#endif
#define RIG_ADC_REF_MV 5000u /* AVcc reference */
#define RIG_ADC_BITS 10u
#define RIG_INPUT_CHANNELS 1u /* ADC0 only */
#define RIG_GAIN_COUNT 0u     /* no programmable gain stage */

/* Sample buffer (16-bit samples); a power of two, at most 256. One slot stays
 * free, so the capacity reported in Status is RIG_RING_SAMPLES - 1. */
#ifndef RIG_RING_SAMPLES
#define RIG_RING_SAMPLES 128u
#endif
/* Samples per SampleBlock when Configure leaves the choice to the device:
 * about 2 ms of data, at most this many. */
#define RIG_BLOCK_MAX_DEFAULT 48u

/* ---- Stimulus output (one current output) ------------------------------ */
/* MCP4822, gain 1x: 0.5 mV per code. Channel B is held at mid-scale (2048) as
 * the Howland pump's reference, channel A = 2048 + amplitude code, so that
 * zero current is A = B = mid-scale (hardware/README.md). With the pump's
 * transconductance of 2 uA/V this makes 1 nA per code. */
#define RIG_DAC_BITS 12u
#define RIG_DAC_MID 2048u
#define RIG_UNIT 1u                      /* current, base unit nA */
#define RIG_MAX_AMPLITUDE_CODE 2047u     /* |I| <= 2.047 uA */
#define RIG_SCALE_NA 1UL                 /* nA per code */
#define RIG_MAX_PHASE_US 1000000UL       /* one phase lasts at most 1 s */
#define RIG_MAX_CHARGE_PC 500000UL       /* |I| x t per phase <= 0.5 uC */
#define RIG_MAX_TRAINS 4u                /* trains per Stimulus (RAM) */
#define RIG_WATCHDOG_MS 500u             /* heartbeat watchdog (PROTOCOL.md 6.3) */

/* MCP4822 command words: bit 15 channel (0 = A), bit 13 /GA (1 = 1x), bit 12 /SHDN */
#define MCP4822_A 0x3000u
#define MCP4822_B 0xB000u

/* ---- Link ------------------------------------------------------------- */
#define RIG_UBRR 1u /* 16 MHz / (8 x (1 + 1)) = 1 000 000 baud with U2X */
/* UART rings (powers of two, at most 256). */
#ifndef RIG_RX_RING
#define RIG_RX_RING 128u
#endif
#ifndef RIG_TX_RING
#define RIG_TX_RING 128u
#endif
#define RIG_EVENT_QUEUE 8u /* StimulusEvents waiting to be sent (power of two) */

/* ---- Pins ------------------------------------------------------------- */
#define EN_BIT PB1   /* OC1A */
#define LDAC_BIT PB2 /* OC1B */
#define MOSI_BIT PB3
#define SCK_BIT PB5
#define CS_PORT PORTD
#define CS_DDR DDRD
#define CS_BIT PD7

#endif /* RIG_CONFIG_H */
