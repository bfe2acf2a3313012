#!/usr/bin/env python3
"""Figures for hardware/README.md: the heartbeat watchdog's trip time over many trips,
with the last heartbeat sent at a random phase of the sample clock.

usage: watchdog_phases.py [trips]          (default 40; about 0.8 s per trip)

One bench-sim run at 20 kHz: for each trip, heartbeats on, a 1 s pulse armed, then
heartbeats off after one last Heartbeat at a random moment; the pin log gives the
cycle the receive interrupt took that heartbeat's delimiter (rx_frame) and the
cycle the enable output fell. StopAll clears the latch before the next trip.
Prints min/max of the delay and whether every one lies in (500 000, 500 050] us.
Not part of run-tests.sh.
"""
import csv
import os
import random
import sys
import tempfile
import time

import rigclient as rc

trips = int(sys.argv[1]) if len(sys.argv) > 1 else 40
tmp = tempfile.mkdtemp(prefix="bench-wd-")
log = os.path.join(tmp, "pins.csv")
h = rc.Harness(pin_log=log)
r = rc.Rig(h.port)
try:
    r.hello()
    assert r.command("Configure", sample_rate_hz=20000, channel_mask=1, block_samples=0, gains=[0])["kind"] == "Ack"
    r.heartbeats = True
    r.heartbeat()
    assert r.command("Start")["kind"] == "Ack"
    for i in range(trips):
        r.heartbeats = True
        r.heartbeat()
        a = r.command("Stimulus", stim_id=100 + i, output=0, flags=0, start_index=0, train_count=1,
                      trains=[rc.train(c1=100, n1=20000)])
        assert a["kind"] == "Ack", a
        time.sleep(0.05)
        r.heartbeats = False
        time.sleep(random.uniform(0, 0.01))
        r.send("Heartbeat")  # the last one, at a random phase
        time.sleep(0.7)
        assert r.command("StopAll")["kind"] == "Ack"
    r.command("Stop")
finally:
    r.close()
    h.stop()

rows = list(csv.reader(open(log)))[1:]
rx = [int(c) for c, _, s, _v in rows if s == "rx_frame"]
offs = [int(c) for c, _, s, v in rows if s == "enable" and v == "0"]
ds = []
for c in offs:
    before = [x for x in rx if x < c]
    if before and c - before[-1] > 16000 * 400:  # a trip (not the end of a pulse)
        ds.append((c - before[-1]) / 16.0)
ok = len(ds) == trips and all(500_000 < d <= 500_050 for d in ds)
print("%d trips: outputs off %.3f ... %.3f us after the last heartbeat's delimiter was taken; %s"
      % (len(ds), min(ds), max(ds), "all in (500 000, 500 050]" if ok else "OUT OF BOUNDS"))
sys.exit(0 if ok else 1)
