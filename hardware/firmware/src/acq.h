/*
 * acq.h - the sample clock (Timer1), the ADC it triggers, the DAC and enable
 * outputs it drives, the sample ring, the stimulus player and the heartbeat
 * watchdog. Everything time-critical happens in one interrupt per sample period.
 */
#ifndef ACQ_H
#define ACQ_H

#include <stdint.h>

#include "bench_protocol.h"
#include "rig_config.h"

/* Sample-clock periods since reset (free running once configured). */
extern volatile uint32_t acq_ticks;

/* Outputs off, before anything else (called from .init3: no RAM variables). */
void acq_outputs_off_early(void);

/* Sets the sample period closest to rate_hz (1 ... RIG_MAX_SAMPLE_RATE_HZ) and
 * starts the sample clock; acquisition stays stopped. Returns the period in
 * CPU clock ticks (Configure's Ack info). Call only when not running. */
uint32_t acq_configure(uint32_t rate_hz);
uint32_t acq_period_ticks(void); /* 0 before the first Configure */

/* Start: the next sample period is index 0. Stop: acquisition and stimulus stop. */
void acq_start(void);
void acq_stop(void);
uint8_t acq_is_running(void);

/* Status.sample_index: index of the next sample period (0 before Start). */
uint64_t acq_next_index(void);

typedef struct {
    uint16_t high_water;
    uint16_t capacity;
    uint32_t overruns;
    uint32_t dropped;
} acq_stats_t;
void acq_stats(acq_stats_t *s);

/* Takes up to max consecutive samples into dst. Returns the count (0 when fewer
 * than max are ready, unless a gap ends the run early) and their first index. */
uint8_t acq_take_block(uint8_t max, uint16_t *dst, uint64_t *first);

/* ---- Stimulus --------------------------------------------------------- */
typedef struct {
    uint16_t stim_id;
    uint8_t flags;
    uint64_t start_index;
    uint8_t train_count;
    bp_train_t trains[RIG_MAX_TRAINS];
} acq_stim_t;

/* A Stimulus that passed the value checks: Nack code (busy, too_late) or 0 when
 * armed. The caller has checked not_running and the watchdog. */
uint8_t acq_stim_arm(const acq_stim_t *s);
/* StopAll / Stop: outputs to zero now, scheduled pulses cancelled. */
void acq_stim_abort(void);
uint8_t acq_stim_active(void);
/* Next StimulusEvent to send, 1 if there was one. */
uint8_t acq_take_event(bp_stimulus_event_t *e);

/* ---- Heartbeat watchdog (PROTOCOL.md 6.3) -------------------------------- */
/* A Heartbeat whose last byte arrived at stamp (link_delimiter_stamp()). */
void acq_heartbeat(uint32_t stamp);
/* 1 if a Heartbeat arrived less than RIG_WATCHDOG_MS ago. */
uint8_t acq_heartbeat_fresh(void);
uint8_t acq_watchdog_tripped(void);
void acq_watchdog_clear(void);
/* 1 once after each trip: the main loop sends the unsolicited Status. */
uint8_t acq_take_status_request(void);

#endif
