#!/usr/bin/env python3
"""The harness's UART loses nothing for firmware that transmits through the data-register-empty (UDRE) interrupt, at
the baud rate the firmware chooses: the Bench rig firmware (its own UDRE ring, 1 Mbaud), StandardFirmata (Arduino's
HardwareSerial, 57600 baud) and ConfigurableFirmata (HardwareSerial, 115200 baud), all unmodified.

usage: test_uart.py STANDARD_FIRMATA_ELF CONFIGURABLE_FIRMATA_ELF

simavr 1.6 raises UDRE as soon as a firmware enables it, even while the transmitter is full; before bench-sim held it
off, 4 of the 43 bytes of StandardFirmata's firmware-name reply arrived. Each check here reads whole replies and a
stream, and the harness's own count of writes to a full UDR0 (its exit summary) must be 0.
"""
import os
import re
import select
import sys
import time
import tty

import rigclient as rc

from checks import check, summary


def overwrites(summary):
    m = re.search(r"(\d+) writes to a full UDR0", summary)
    return int(m.group(1)) if m else None


def held_off(summary):
    m = re.search(r"held off (\d+) times", summary)
    return int(m.group(1)) if m else None


class Port:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.buf = bytearray()

    def read_until(self, pred, timeout):
        end = time.monotonic() + timeout
        while not pred(self.buf) and time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                self.buf += os.read(self.fd, 4096)
        return pred(self.buf)

    def take_all(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                self.buf += os.read(self.fd, 4096)
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def close(self):
        os.close(self.fd)


def sysex_reply(buf, command):
    """The first complete sysex message START_SYSEX command ... END_SYSEX in buf, or None."""
    i = buf.find(bytes([0xF0, command]))
    if i < 0:
        return None
    j = buf.find(0xF7, i)
    return bytes(buf[i:j + 1]) if j >= 0 else None


def test_firmata(elf, name, baud):
    print("\n== %s (%d baud, Arduino HardwareSerial)" % (name, baud))
    h = rc.Harness("--noise-mv", "0", "--no-spikes", elf=elf)
    p = Port(h.port)
    try:
        # The boot announces the firmware; wait for it to end before asking (a query during the boot blink is cut).
        p.read_until(lambda b: sysex_reply(b, 0x79) is not None, 10)
        p.take_all(0.3)
        p.buf.clear()
        os.write(p.fd, bytes([0xF0, 0x79, 0xF7]))            # REPORT_FIRMWARE
        p.read_until(lambda b: sysex_reply(b, 0x79) is not None, 5)
        reply = sysex_reply(p.buf, 0x79)
        decoded = bytes(reply[4:-1:2]).decode("ascii", "replace") if reply else ""
        expect = name if name == "ConfigurableFirmata" else name + ".ino"
        check(reply is not None and decoded == expect, "%s: the whole firmware-name reply arrives" % name,
              "%d bytes, name %r" % (len(reply or b""), decoded))
        p.buf.clear()
        os.write(p.fd, bytes([0xF0, 0x6B, 0xF7]))            # CAPABILITY_QUERY
        p.read_until(lambda b: sysex_reply(b, 0x6C) is not None, 5)
        cap = sysex_reply(p.buf, 0x6C)
        pins = cap[2:-1].count(0x7F) if cap else 0
        check(pins == 20, "%s: the whole capability reply arrives, 20 pins" % name, "%d bytes, %d pins" % (len(cap or b""), pins))

        # A0 reported every 1 ms (SAMPLING_INTERVAL 1 ms, REPORT_ANALOG on A0) for 3 s, then off; everything read until
        # the line is quiet. The firmware converts A0 only to report it, so every conversion the harness made must have
        # arrived as one whole message: a count that does not depend on how fast this machine ran the simulation.
        p.buf.clear()
        os.write(p.fd, bytes([0xF0, 0x7A, 0x01, 0x00, 0xF7, 0xC0, 0x01]))
        data = p.take_all(3.0)
        os.write(p.fd, bytes([0xC0, 0x00]))
        while True:
            more = p.take_all(0.5)
            if not more:
                break
            data += more
        start = data.find(0xE0)
        messages = [data[i:i + 3] for i in range(start, len(data) - 2, 3)] if start >= 0 else []
        well_formed = [m for m in messages if m[0] == 0xE0 and m[1] < 0x80 and m[2] < 0x80]
        values = [m[1] | (m[2] << 7) for m in well_formed]
        # -65 mV through the front end (-100 ... +60 mV onto 0 ... 5 V): 1093.75 mV, code floor(1093.75 * 1024 / 5000) = 224
        check(len(messages) > 0 and len(well_formed) == len(messages) and (len(data) - start) % 3 == 0,
              "%s: every A0 message well formed, none cut" % name, "%d of %d" % (len(well_formed), len(messages)))
        check(values and all(v == 224 for v in values), "%s: A0 reads the resting preparation (code 224)" % name,
              "values %s" % sorted(set(values))[:5])
    finally:
        p.close()
        summary = h.stop()
    m = re.search(r"(\d+) ADC conversions", summary)
    conversions = int(m.group(1)) if m else -1
    check(conversions == len(well_formed), "%s: every A0 conversion arrived as a message" % name,
          "%d conversions, %d messages" % (conversions, len(well_formed)))
    check(overwrites(summary) == 0, "%s: no write to a full UDR0 (nothing lost in the harness)" % name, "summary: %s" % summary.splitlines()[-1] if summary else "")
    check((held_off(summary) or 0) > 0, "%s: the harness held off UDRE while its transmitter was full" % name, "%s times" % held_off(summary))


def test_bench_firmware():
    print("\n== Bench rig firmware (1 Mbaud, its own UDRE ring)")
    h = rc.Harness()
    r = rc.Rig(h.port)
    try:
        r.hello()
        r.command("Configure", sample_rate_hz=20000, channel_mask=1, block_samples=0, gains=[0])
        n0 = r.count()
        r.heartbeats = True
        r.command("Start")
        time.sleep(2.0)
        r.command("Stop")
        blocks = r.since(n0, "SampleBlock")
    finally:
        r.close()
        summary = h.stop()
    n = sum(b["sample_count"] for b in blocks)
    jumps = sum(1 for a, b in zip(blocks, blocks[1:]) if b["first_sample_index"] != a["first_sample_index"] + a["sample_count"])
    check(n > 20000 and jumps == 0, "Bench firmware: 20 kHz samples contiguous", "%d samples, %d jumps" % (n, jumps))
    check(overwrites(summary) == 0, "Bench firmware: no write to a full UDR0", "summary: %s" % summary.splitlines()[-1] if summary else "")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    test_bench_firmware()
    test_firmata(sys.argv[1], "StandardFirmata", 57600)
    test_firmata(sys.argv[2], "ConfigurableFirmata", 115200)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
