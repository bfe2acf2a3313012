#!/usr/bin/env python3
"""Figures for hardware/README.md: the highest sample rate the firmware sustains at
1 Mbaud without overrun, under bench-sim (paced to real time).

usage: measure_rates.py [seconds] [rate ...]

Builds a variant of the firmware that accepts up to 60 kHz (EXTRA_CFLAGS; the
released firmware caps Configure at RIG_MAX_SAMPLE_RATE_HZ), streams each rate for
the given time, then again with a 200 Hz biphasic train playing, and prints the
Status counters. Not part of run-tests.sh (it takes minutes).
"""
import os
import subprocess
import sys
import time

import rigclient as rc

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
rates = [int(x) for x in sys.argv[2:]] or [20000, 22000, 25000, 27000, 30000]
build = os.path.join(rc.HW, "firmware", "build", "rates")
subprocess.run(["make", "-s", "-C", os.path.join(rc.HW, "firmware"), "BUILD=" + build, "TARGET=" + build + "/bench_rig",
                "EXTRA_CFLAGS=-DRIG_MAX_SAMPLE_RATE_HZ=60000UL", build + "/bench_rig.elf"], check=True)
rc.ELF = build + "/bench_rig.elf"


def run(rate, train):
    h = rc.Harness()
    r = rc.Rig(h.port)
    try:
        r.hello()
        r.command("Configure", sample_rate_hz=rate, channel_mask=1, block_samples=0, gains=[0])
        r.command("Start")
        r.heartbeats = True
        time.sleep(0.3)
        if train:
            r.heartbeat()
            r.command("Stimulus", stim_id=1, output=0, flags=0, start_index=0, train_count=1,
                      trains=[rc.train(c1=100, n1=2, gap=1, c2=-100, n2=2, interval=rate // 200, count=int(200 * secs))])
        time.sleep(secs)
        st = r.heartbeat()
    finally:
        r.close()
        h.stop()
    return st


print("%8s %-26s %9s %8s %8s %10s" % ("rate Hz", "stimulus", "periods", "overruns", "dropped", "high water"))
for rate in rates:
    for train in (False, True):
        st = run(rate, train)
        print("%8d %-26s %9d %8d %8d %6d/%d" % (rate, "200 Hz biphasic train" if train else "none", st["sample_index"],
                                               st["overruns"], st["dropped_samples"], st["buffer_high_water"],
                                               st["buffer_capacity"]))
        sys.stdout.flush()
