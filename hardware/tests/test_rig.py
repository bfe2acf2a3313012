#!/usr/bin/env python3
"""Host <-> firmware tests: the unmodified rig firmware on bench-sim, over its
pseudo-terminal, with the reference codec of firmware-protocol/vectors.

usage: test_rig.py [--quick] [--json FILE]

Every check prints PASS or FAIL; the measured figures are printed at the end
(and written to FILE with --json). Exit status 1 if any check failed.
"""
import json
import os
import socket
import struct
import sys
import tempfile
import threading
import time

import rigclient as rc
from checks import check, summary

T = 800                      # sample period at 20 kHz, CPU cycles
CLOCK = 16_000_000
MID = 2048
QUICK = "--quick" in sys.argv
STREAM_SECONDS = 4.0 if QUICK else 10.0

figures = {}


def nack_of(a):
    return (a["code"], a["detail"]) if a and a["kind"] == "Nack" else None


# --------------------------------------------------------------------------------------
def test_identity(tmp):
    print("\n== identity: 64-bit unique id in EEPROM, written once")
    ee = os.path.join(tmp, "rig.eep")
    ids = []
    for seed in (7, 8):
        h = rc.Harness("--eeprom", ee, "--seed", str(seed))
        r = rc.Rig(h.port)
        try:
            ids.append(int(r.hello()["unique_id"]))
        finally:
            r.close()
            h.stop()
    h = rc.Harness("--seed", "9")
    r = rc.Rig(h.port)
    try:
        other = int(r.hello()["unique_id"])
    finally:
        r.close()
        h.stop()
    check(ids[0] not in (0, 2 ** 64 - 1), "a unique id was drawn at first boot", "%016x" % ids[0])
    check(ids[0] == ids[1], "the id survives a restart (kept in EEPROM, not redrawn)")
    check(other != ids[0], "another board (other power-up RAM) draws another id", "%016x" % other)
    with open(ee, "rb") as fh:
        rec = fh.read(14)
    check(rec[:4] == b"BNCH" and struct.unpack("<Q", rec[4:12])[0] == ids[0],
          "EEPROM record: magic, id, CRC (ident.h layout)")


# --------------------------------------------------------------------------------------
class Session:
    def __init__(self, tmp):
        self.pin_log = os.path.join(tmp, "pins.csv")
        self.h = rc.Harness("--log-adc", "--isr-stats", "--stack-report", pin_log=self.pin_log)
        self.r = rc.Rig(self.h.port)

    def close(self):
        self.r.close()
        return self.h.stop()


def samples_by_index(frames):
    out = {}
    for b in frames:
        if b["kind"] == "SampleBlock":
            for i, v in enumerate(b["samples"]):
                out[b["first_sample_index"] + i] = v
    return out


def expected_edges(onset, t):
    """(index, signal, value) changes of one pulse, as PROTOCOL.md 5.6 times them."""
    c1, n1, gap, c2, n2 = t["phase1_code"], t["phase1_samples"], t["interphase_samples"], t["phase2_code"], t["phase2_samples"]
    ev = [(onset, "enable", 1), (onset, "dac_a", MID + c1)]
    k = onset + n1
    if n2 and gap == 0:
        ev += [(k, "dac_a", MID + c2)]
    else:
        ev += [(k, "enable", 0), (k, "dac_a", MID)]
        if n2:
            ev += [(k + gap, "enable", 1), (k + gap, "dac_a", MID + c2)]
    if n2:
        ev += [(k + gap + n2, "enable", 0), (k + gap + n2, "dac_a", MID)]
    return ev


def test_session(tmp):
    s = Session(tmp)
    r = s.r
    try:
        print("\n== handshake and configuration")
        info = r.hello()
        check(info["board"] == "UNO-R3" and info["protocol_major"] == 1 and info["clock_hz"] == CLOCK,
              "Hello -> DeviceInfo: UNO-R3, protocol 1, 16 MHz")
        check(info["max_sample_rate_hz"] >= 20000 and info["adc_bits"] == 10 and info["input_channels"] == 1,
              "DeviceInfo: >= 20 kHz, 10-bit ADC, one input", str(info["max_sample_rate_hz"]))
        o = info["outputs"][0]
        check(info["output_count"] == 1 and o["unit"] == 1 and o["max_amplitude_code"] == 2047 and o["scale"] == 1
              and o["max_phase_us"] == 1_000_000 and o["max_charge"] == 500_000 and info["watchdog_ms"] == 500,
              "DeviceInfo: current output, +-2047 nA, 1 s, 0.5 uC; watchdog 500 ms")
        figures["unique_id"] = "%016x" % int(info["unique_id"])
        check(nack_of(r.command("Start")) == (5, 0), "Start before Configure -> Nack not_configured")
        check(nack_of(r.command("Configure", sample_rate_hz=20000, channel_mask=2, block_samples=0, gains=[0])) == (3, 4),
              "Configure channel 1 (absent) -> Nack out_of_range, detail 4")
        check(nack_of(r.command("Configure", sample_rate_hz=info["max_sample_rate_hz"] + 1, channel_mask=1,
                                block_samples=0, gains=[0])) == (3, 0),
              "Configure above max_sample_rate_hz -> Nack out_of_range, detail 0")
        check(nack_of(r.command("Configure", sample_rate_hz=20000, channel_mask=1, block_samples=120, gains=[0])) == (3, 6),
              "Configure 120-sample blocks -> Nack out_of_range, detail 6")
        a = r.command("Configure", sample_rate_hz=20000, channel_mask=1, block_samples=0, gains=[0])
        check(a["kind"] == "Ack" and a["info"] == T, "Configure 20 kHz -> Ack, info 800 ticks")
        r.heartbeats = True
        r.heartbeat()
        pulse = [rc.train(c1=300, n1=20, interval=400, count=2)]
        check(nack_of(r.command("Stimulus", stim_id=1, output=0, flags=0, start_index=0, train_count=1, trains=pulse)) == (9, 0),
              "Stimulus before Start -> Nack not_running")
        check(nack_of(r.command("Stimulus", stim_id=1, output=0, flags=0, start_index=0, train_count=1,
                                trains=[rc.train(c1=3000, n1=20)])) == (3, 17),
              "out-of-limit Stimulus before Start -> out_of_range first (6.4 order)")

        print("\n== acquisition at 20 kHz for %.0f s, with stimuli" % STREAM_SECONDS)
        n0 = r.count()
        a = r.command("Start")
        t_start = time.monotonic()
        check(a["kind"] == "Ack", "Start -> Ack")
        a2 = r.command("Configure", sample_rate_hz=10000, channel_mask=1, block_samples=0, gains=[0])
        check(nack_of(a2) == (4, 0), "Configure while running -> Nack busy")
        time.sleep(0.8)

        # paired pulse, AT_INDEX
        now = r.heartbeat()["sample_index"]
        S1 = now + 4000
        a = r.command("Stimulus", stim_id=11, output=0, flags=1, start_index=S1, train_count=1, trains=pulse)
        check(a["kind"] == "Ack", "paired-pulse Stimulus (AT_INDEX) -> Ack")
        check(nack_of(r.command("Stimulus", stim_id=12, output=0, flags=0, start_index=0, train_count=1, trains=pulse)) == (4, 0),
              "a second Stimulus while one is scheduled -> Nack busy")
        time.sleep(0.5)
        check(nack_of(r.command("Stimulus", stim_id=13, output=0, flags=1, start_index=5, train_count=1, trains=pulse)) == (8, 0),
              "Stimulus at a past index -> Nack too_late")
        # biphasic train
        now = r.heartbeat()["sample_index"]
        S2 = now + 3000
        bip = [rc.train(delay=100, c1=500, n1=10, gap=4, c2=-500, n2=10, interval=200, count=3),
               rc.train(delay=300, c1=-200, n1=6, c2=200, n2=6, interval=100, count=2)]
        a = r.command("Stimulus", stim_id=21, output=0, flags=1, start_index=S2, train_count=2, trains=bip)
        check(a["kind"] == "Ack", "biphasic two-train Stimulus -> Ack")
        time.sleep(0.5)

        print("\n== limits enforced by the firmware (raw frames, no host checks)")
        mark_idx = r.heartbeat()["sample_index"]

        def stim_payload(trains, output=0, flags=1, start=mark_idx + 2000, count=None):
            p = struct.pack("<HBBQB", 99, output, flags, start, len(trains) if count is None else count)
            for t in trains:
                p += struct.pack("<IhHHhHIH", t["delay_samples"], t["phase1_code"], t["phase1_samples"],
                                 t["interphase_samples"], t["phase2_code"], t["phase2_samples"],
                                 t["interval_samples"], t["pulse_count"])
            return p

        bad = [
            ("amplitude 2048 > 2047", stim_payload([rc.train(c1=2048, n1=10)]), (3, 17)),
            ("amplitude -2048", stim_payload([rc.train(c1=-2048, n1=10)]), (3, 17)),
            ("charge 2000 nA x 250.05 ms > 0.5 uC", stim_payload([rc.train(c1=2000, n1=5001)]), (3, 19)),
            ("phase 1 of 1.00005 s > 1 s", stim_payload([rc.train(c1=10, n1=20001)]), (3, 19)),
            ("phase 2 charge too high", stim_payload([rc.train(c1=10, n1=1, c2=-2000, n2=5001)]), (3, 25)),
            ("phase-2 code without phase-2 samples", stim_payload([rc.train(c1=10, n1=10, c2=5, n2=0)]), (3, 23)),
            ("interval shorter than the pulse", stim_payload([rc.train(c1=10, n1=10, interval=9, count=2)]), (3, 27)),
            ("no pulses", stim_payload([rc.train(c1=10, n1=10, count=0)]), (3, 31)),
            ("5 trains > max_trains 4", stim_payload([rc.train(c1=10, n1=10)] * 5), (3, 12)),
            ("second train out of range", stim_payload([rc.train(c1=10, n1=10), rc.train(c1=4000, n1=10)]), (3, 37)),
            ("reserved flag bit", stim_payload([rc.train(c1=10, n1=10)], flags=3), (3, 3)),
            ("output 1 (absent)", stim_payload([rc.train(c1=10, n1=10)], output=1), (3, 2)),
            ("payload shorter than its trains", stim_payload([rc.train(c1=10, n1=10)], count=2), (2, 53)),
            ("payload shorter than 13 bytes", stim_payload([])[:12], (2, 13)),
        ]
        for what, payload, want in bad:
            seq = r.send_raw(0x05, payload)
            got = nack_of(r.answer(seq))
            check(got == want, "Nack %s" % what, "got %s, want %s" % (got, want))
        seq = r.send_raw(0x99, b"")
        check(nack_of(r.answer(seq)) == (1, 0), "unknown kind -> Nack unknown_kind")
        # none of them may play: no output change until the watchdog test below
        refused_until = r.heartbeat()["sample_index"] + 2200

        # keep streaming to the end of the acquisition window
        while time.monotonic() - t_start < STREAM_SECONDS:
            time.sleep(0.1)

        print("\n== heartbeat watchdog: host stops mid-train")
        now = r.heartbeat()["sample_index"]
        S3 = now + 2000
        long_train = [rc.train(c1=100, n1=5000, interval=5000, count=10)]
        a = r.command("Stimulus", stim_id=31, output=0, flags=1, start_index=S3, train_count=1, trains=long_train)
        check(a["kind"] == "Ack", "long train (10 x 250 ms, back to back) -> Ack")
        time.sleep(0.1 + 0.37)      # into the second pulse
        n_before_stop = r.count()
        r.heartbeats = False        # the host hangs: no more frames at all
        trip = r.wait_for(lambda f: f["kind"] == "Status" and f["flags"] & 0x10 and not f["flags"] & 1, 2.0, n_before_stop)
        check(trip is not None, "unsolicited Status with WATCHDOG_TRIPPED")
        time.sleep(0.2)
        st = r.heartbeat()
        check(st is not None and st["flags"] & 0x10 and not st["flags"] & 0x08 and st["stim_active_mask"] == 0,
              "Status: WATCHDOG_TRIPPED latched, not STIMULATING")
        check(nack_of(r.command("Stimulus", stim_id=32, output=0, flags=0, start_index=0, train_count=1,
                                trains=[rc.train(c1=10, n1=10)])) == (11, 0),
              "Stimulus after the trip -> Nack watchdog")
        check(r.command("StopAll")["kind"] == "Ack", "StopAll -> Ack (clears the latch)")
        r.heartbeats = True
        r.heartbeat()
        a = r.command("Stimulus", stim_id=33, output=0, flags=0, start_index=0, train_count=1, trains=[rc.train(c1=50, n1=10)])
        check(a["kind"] == "Ack", "Stimulus after StopAll and a heartbeat -> Ack (immediate start)")
        time.sleep(0.3)
        st = r.heartbeat()
        figures["status_after_run"] = {k: st[k] for k in ("sample_index", "overruns", "dropped_samples",
                                                          "buffer_high_water", "buffer_capacity", "rx_crc_errors",
                                                          "rx_framing_errors", "rx_frames_lost")}
        check(r.command("Stop")["kind"] == "Ack", "Stop -> Ack")
        time.sleep(0.1)
        frames = r.since(n0)
    finally:
        host_dec = dict(r.dec.c)
        stderr = s.close()

    # ---- acquisition: contiguity, no loss --------------------------------------------
    print("\n== checks on the recording and the pin log")
    blocks = [f for f in frames if f["kind"] == "SampleBlock"]
    expect = 0
    jumps = 0
    total = 0
    first_jumps = []
    for b in blocks:
        if b["first_sample_index"] != expect:
            jumps += 1
            if len(first_jumps) < 4:
                first_jumps.append((expect, b["first_sample_index"]))
        expect = b["first_sample_index"] + b["sample_count"]
        total += b["sample_count"]
    secs = total / 20000.0
    check(jumps == 0 and blocks and blocks[0]["first_sample_index"] == 0,
          "SampleBlocks contiguous from index 0 (%d blocks, %d samples = %.1f s)" % (len(blocks), total, secs),
          ("jumps (expected, got): %s; host decoder %s; harness: %s"
           % (first_jumps, {k: v for k, v in host_dec.items() if v and k != "frames_ok"},
              " | ".join(l for l in stderr.splitlines() if "dropped" in l))) if jumps else "")
    check(st["overruns"] == 0 and st["dropped_samples"] == 0, "Status: no overrun, no dropped sample",
          "high water %d of %d" % (st["buffer_high_water"], st["buffer_capacity"]))
    check(total >= st["sample_index"] - 200, "every sample period acquired was delivered",
          "%d delivered, sample_index %d" % (total, st["sample_index"]))
    figures["stream"] = {"seconds": round(secs, 2), "samples": total, "blocks": len(blocks), "index_jumps": jumps,
                         "samples_per_block": blocks[1]["sample_count"] if len(blocks) > 1 else None}
    samples = samples_by_index(frames)

    # ---- StimulusEvents ---------------------------------------------------------------
    events = [f for f in frames if f["kind"] == "StimulusEvent"]
    ev = {}
    for e in events:
        ev.setdefault(e["stim_id"], []).append(e)
    p = ev.get(11, [])
    check([e["onset_index"] for e in p] == [S1, S1 + 400] and [e["flags"] for e in p] == [0, 1],
          "paired pulse: StimulusEvents at the requested indices, the second LAST", str([e["onset_index"] for e in p]))
    b = ev.get(21, [])
    want_b = [S2 + 100, S2 + 300, S2 + 500, S2 + 100 + 600 + 300, S2 + 1000 + 100]
    check([e["onset_index"] for e in b] == want_b and [e["flags"] for e in b] == [0, 0, 0, 0, 1]
          and [e["train"] for e in b] == [0, 0, 0, 1, 1] and [e["pulse"] for e in b] == [0, 1, 2, 0, 1],
          "biphasic two-train: 5 StimulusEvents, trains and pulses numbered, onsets as 5.6 times them",
          str([e["onset_index"] for e in b]))
    check(all(e["phase1_code"] == 500 and e["phase2_code"] == -500 for e in b[:3])
          and all(e["phase1_code"] == -200 and e["phase2_code"] == 200 for e in b[3:]), "events carry the codes played")
    w = ev.get(31, [])
    check(len(w) >= 2 and all(e["flags"] == 0 for e in w[:-1]) and w[-1]["flags"] == 3
          and [e["onset_index"] for e in w] == [S3 + 5000 * i for i in range(len(w))],
          "watchdog: the pulses before complete, the one cut short reported LAST|ABORTED",
          str([(e["onset_index"], e["flags"]) for e in w]))
    check(len(ev.get(33, [])) == 1 and ev[33][0]["flags"] == 1, "post-StopAll stimulus played (LAST)")

    # ---- pin log: every edge on the sample grid ------------------------------------------
    rows = rc.read_pin_log(s.pin_log)
    adc = [(c, v) for c, _, sig, v in rows if sig == "adc"]
    outs = [(c, sig, v) for c, _, sig, v in rows if sig in ("enable", "dac_a", "dac_b")]
    # align conversions with sample indices: the conversion of sample k starts at edge k
    k0 = S1 - 50
    win = [samples.get(k0 + i) for i in range(400)]
    codes = [v for _, v in adc]
    j0 = None
    for j in range(len(codes) - 400):
        if codes[j:j + 400] == win:
            j0 = j - k0
            break
    check(j0 is not None, "ADC log aligned with the recorded samples (conversion of sample k = log entry k + %s)" % j0)
    if j0 is None:
        return stderr
    # no sample-clock edge lost: one conversion per period, and the alignment holds to the end
    ac = [c for c, _ in adc]
    gaps = [(ac[i], ac[i + 1] - ac[i]) for i in range(len(ac) - 1) if ac[i + 1] - ac[i] != T]
    check(not gaps, "one ADC conversion every 800 cycles, none missed (%d conversions)" % len(ac), str(gaps[:3]))
    last = max(samples)
    ends = [k for k in (1000, S2, mark_idx, S3, last - 300) if all(samples.get(k + i) is not None for i in range(200))]
    drift = [k for k in ends if codes[k + j0:k + j0 + 200] != [samples[k + i] for i in range(200)]]
    check(not drift, "every sample labelled with its own period, start to end (checked at %d points)" % len(ends), str(drift))

    def edge_cycle(k):
        return adc[k + j0][0]

    latencies = []
    widths_ok = True
    missing = []
    for sid, trains, start in ((11, pulse, S1), (21, bip, S2)):
        for e in ev.get(sid, []):
            t = trains[e["train"]]
            for idx, sig, val in expected_edges(e["onset_index"], t):
                lo = edge_cycle(idx) - 100
                hit = [c for c, s_, v in outs if s_ == sig and v == val and lo <= c <= lo + 900]
                if not hit:
                    missing.append((idx, sig, val))
                    continue
                latencies.append(hit[0] - edge_cycle(idx))
    check(not missing and latencies, "every enable/dac_a edge of the paired pulse and the train is in the pin log",
          "%d edges%s" % (len(latencies), (", missing %s" % missing[:4]) if missing else ""))
    if latencies:
        figures["edge_latency_cycles"] = {"min": min(latencies), "max": max(latencies),
                                          "jitter": max(latencies) - min(latencies), "edges": len(latencies)}
        check(max(latencies) - min(latencies) == 0,
              "edges exactly on the sample grid: onset cycle = edge(index) + %d, jitter %d cycles"
              % (min(latencies), max(latencies) - min(latencies)))
    # widths in cycles
    en = [(c, v) for c, s_, v in outs if s_ == "enable"]
    first_on = [c for c, v in en if v == 1 and c >= edge_cycle(S1) - 100]
    if first_on:
        c_on = first_on[0]
        c_off = [c for c, v in en if v == 0 and c > c_on][0]
        check(c_off - c_on == 20 * T, "paired pulse 1 lasts 20 periods = 16000 cycles", str(c_off - c_on))
        figures["pulse_width_error_cycles"] = c_off - c_on - 20 * T
    # no output change between the refused stimuli and the watchdog test
    quiet = [o for o in outs if edge_cycle(mark_idx) <= o[0] <= edge_cycle(min(refused_until, S3 - 1))]
    check(not quiet, "refused stimuli never played: no pin activity afterwards", "%d changes" % len(quiet))
    check(all(v == MID for c, s_, v in outs if s_ == "dac_b" and c > 0), "DAC B stays at mid-scale (zero-current reference)")

    # model action potential in the recording
    base = [samples[k] for k in range(S1 - 200, S1)]
    peak = max(samples[k] for k in range(S1, S1 + 60))
    first_dev = next((k for k in range(S1 - 5, S1 + 20) if abs(samples[k] - sum(base) / len(base)) > 8), None)
    check(first_dev == S1 + 1, "the response starts in the first sample after the onset edge", "first deviating index %s (onset %d)" % (first_dev, S1))
    check(peak > 640, "model action potential in the samples after the pulse (peak code %d > 640 = 0 mV)" % peak)
    figures["model_ap_peak_mv"] = round(peak * 5000.0 / 1024 * 160 / 5000 - 100, 1)

    # watchdog timing: receive interrupt that took the last heartbeat's delimiter -> outputs off
    rx = [c for c, _, sig, v in rows if sig == "rx_frame"]
    c_on = edge_cycle(S3)  # the pulses are back to back: enable stays high until the trip
    offs = [c for c, s_, v in outs if s_ == "enable" and v == 0 and c > c_on]
    dac_offs = [c for c, s_, v in outs if s_ == "dac_a" and v == MID and c > c_on]
    if offs and dac_offs:
        c_off = offs[0]
        last_hb = max(c for c in rx if c < c_off)
        dt_us = (c_off - last_hb) / 16.0
        ddac_us = (dac_offs[0] - last_hb) / 16.0
        figures["watchdog_off_after_last_heartbeat_us"] = {"enable": dt_us, "dac": ddac_us}
        check(500_000 < dt_us <= 500_000 + T / 16.0 and dac_offs[0] == c_off,
              "outputs off %.1f us after the firmware took the last heartbeat's final byte (limits: more than 500 000, at most + one period %d us), enable and DAC together"
              % (dt_us, T // 16))
        grid = (c_off - edge_cycle(0)) % T
        check(grid == 0, "the trip edge is on the sample grid", "offset %d cycles" % grid)
    else:
        check(False, "watchdog: outputs went off in the pin log")
    isr = [l for l in stderr.splitlines() if "isr " in l]
    figures["isr"] = isr
    stack = [l for l in stderr.splitlines() if "stack: deepest" in l]
    if stack:
        used = int(stack[0].split("deepest use ")[1].split()[0])
        free = int(stack[0].split("; ")[1].split()[0])
        figures["stack_deepest_bytes"] = used
        figures["ram_never_used_bytes"] = free
        check(free >= 128, "RAM headroom: the stack reached %d bytes deep, %d bytes never used" % (used, free))
    compb = [l for l in isr if "COMPB" in l]
    if compb:
        lat = int(compb[0].split("max latency ")[1].split()[0])
        figures["acquisition_isr_max_latency_cycles"] = lat
        check(lat < T, "the acquisition interrupt always ran before the next edge (max latency %d < %d cycles)" % (lat, T))
    return stderr


# --------------------------------------------------------------------------------------
def test_arming(tmp):
    print("\n== arming: 30 stimuli, immediate and AT_INDEX, each onset on its reported index")
    pin_log = os.path.join(tmp, "arm.csv")
    h = rc.Harness("--log-adc", pin_log=pin_log)
    r = rc.Rig(h.port)
    try:
        r.hello()
        r.command("Configure", sample_rate_hz=20000, channel_mask=1, block_samples=0, gains=[0])
        n0 = r.count()
        r.command("Start")
        r.heartbeats = True
        time.sleep(0.2)
        acks = 0
        for i in range(30):
            at = i % 2 == 0
            now = r.heartbeat()["sample_index"]
            a = r.command("Stimulus", stim_id=200 + i, output=0, flags=1 if at else 0, start_index=now + 300 + 7 * i if at else 0,
                          train_count=1, trains=[rc.train(c1=200, n1=3)])
            acks += a["kind"] == "Ack"
            time.sleep(0.03 + 0.002 * (i % 7))
        time.sleep(0.1)
        frames = r.since(n0)
    finally:
        r.close()
        h.stop()
    samples = samples_by_index(frames)
    events = [f for f in frames if f["kind"] == "StimulusEvent"]
    rows = rc.read_pin_log(pin_log)
    adc = [(c, v) for c, _, sig, v in rows if sig == "adc"]
    codes = [v for _, v in adc]
    win = [samples[k] for k in range(1000, 1200)]
    j0 = next((j - 1000 for j in range(len(codes) - 200) if codes[j:j + 200] == win), None)
    ons = [c for c, _, sig, v in rows if sig == "enable" and v == 1 and c > 1000]
    offs = [(c - adc[e["onset_index"] + j0][0]) // T for e, c in zip(events, ons)] if j0 is not None else []
    check(acks == 30 and len(events) == 30 and len(ons) == 30, "30 Acks, 30 StimulusEvents, 30 onsets")
    check(offs and all(o == 0 for o in offs), "every onset on the sample edge of its reported index",
          "off by %s" % sorted(set(offs)))


# --------------------------------------------------------------------------------------
def test_unpaced(tmp):
    print("\n== unpaced: how much faster than real time (20 kHz streaming)")
    sim_s = 5.0
    h = rc.Harness("--no-pace", "--exit-after", str(sim_s))
    r = rc.Rig(h.port)
    t0 = time.monotonic()
    try:
        r.hello()
        r.command("Configure", sample_rate_hz=20000, channel_mask=1, block_samples=0, gains=[0])
        n0 = r.count()
        r.command("Start")
        h.proc.wait(120)
        wall = time.monotonic() - t0
        time.sleep(0.2)
        blocks = r.since(n0, "SampleBlock")
    finally:
        r.close()
        err = h.stop()
    line = [l for l in err.splitlines() if "simulated in" in l]
    speed = None
    if line:
        parts = line[0].split()
        speed = float(parts[1]) / float(parts[5])
    n = sum(b["sample_count"] for b in blocks)
    jumps = sum(1 for a, b in zip(blocks, blocks[1:]) if b["first_sample_index"] != a["first_sample_index"] + a["sample_count"])
    check(speed is not None and speed > 1.0, "unpaced run is faster than real time", "%.2fx" % (speed or 0))
    check(jumps == 0 and n > 0, "unpaced: the host kept up, samples contiguous", "%d samples" % n)
    figures["unpaced_speed_x"] = round(speed, 2) if speed else None
    figures["unpaced_wall_s_for_%g_sim_s" % sim_s] = round(wall, 2)


# --------------------------------------------------------------------------------------
def test_analog_socket(tmp):
    print("\n== --analog-socket: an external preparation feeds ADC0")
    path = os.path.join(tmp, "prep.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    log = {"hello": None, "outs": [], "adcs": 0, "order_ok": True}

    def serve():
        conn, _ = srv.accept()
        f = conn.makefile("rwb", buffering=0)
        state = {"enable": 0, "dac_a": 0, "dac_b": 0}
        pending = []
        last_adc = 0
        for raw in f:
            line = raw.decode().split()
            if line[0] == "hello":
                log["hello"] = line
            elif line[0] == "out":
                c = int(line[1])
                if c < last_adc:
                    log["order_ok"] = False
                pending.append((c, line[2], int(line[3])))
                log["outs"].append((c, line[2], int(line[3])))
            elif line[0] == "adc":
                c = int(line[1])
                last_adc = c
                # changes strictly before the conversion count; one at the same cycle starts after it
                for ch in [p for p in pending if p[0] < c]:
                    state[ch[1]] = ch[2]
                pending = [p for p in pending if p[0] >= c]
                mv = 1000.0 + (2.0 * (state["dac_a"] - state["dac_b"]) if state["enable"] else 0.0)
                log["adcs"] += 1
                conn.sendall(("%.3f\n" % mv).encode())
        conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    h = rc.Harness("--analog-socket", path)
    r = rc.Rig(h.port)
    try:
        r.hello()
        r.command("Configure", sample_rate_hz=2000, channel_mask=1, block_samples=0, gains=[0])
        n0 = r.count()
        r.command("Start")
        r.heartbeats = True
        r.heartbeat()
        now = r.heartbeat()["sample_index"]
        S = now + 400
        r.command("Stimulus", stim_id=5, output=0, flags=1, start_index=S, train_count=1, trains=[rc.train(c1=500, n1=10)])
        time.sleep(0.6)
        frames = r.since(n0)
    finally:
        r.close()
        h.stop()
        srv.close()
    samples = samples_by_index(frames)
    base, high = 1000 * 1024 // 5000, 2000 * 1024 // 5000
    got = [samples.get(k) for k in range(S - 1, S + 12)]
    check(log["hello"] is not None and log["hello"][1] == "bench-sim", "the harness greets the preparation (hello line)")
    check(log["adcs"] > 100, "one adc request per conversion", str(log["adcs"]))
    check(any(o[1] == "dac_a" and o[2] == MID + 500 for o in log["outs"]) and log["order_ok"],
          "the preparation receives the DAC/enable changes, in cycle order")
    check(got == [base] * 2 + [high] * 10 + [base], "ADC0 follows the preparation's voltage, the pulse in samples onset+1 ... onset+10",
          str(got))


# --------------------------------------------------------------------------------------
def main():
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        test_identity(tmp)
        test_session(tmp)
        test_arming(tmp)
        test_analog_socket(tmp)
        test_unpaced(tmp)
        figures["test_wall_s"] = round(time.monotonic() - t0, 1)
    print("\n== figures")
    print(json.dumps(figures, indent=2))
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as fh:
            json.dump(figures, fh, indent=2)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
