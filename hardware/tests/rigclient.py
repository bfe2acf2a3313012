"""A small host for the Bench rig firmware under bench-sim (Python 3 standard library).

Starts the harness, opens its pseudo-terminal in raw mode, and speaks the wire
protocol with the reference codec of firmware-protocol/vectors/make_vectors.py
(imported, not copied).
"""
import json
import os
import select
import subprocess
import sys
import termios
import threading
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
HW = os.path.dirname(HERE)
REPO = os.path.dirname(HW)
sys.path.insert(0, os.path.join(REPO, "firmware-protocol", "vectors"))
import make_vectors as mv  # noqa: E402

SIM = os.environ.get("BENCH_SIM") or os.path.join(HW, "sim", "build", "bench-sim")
ELF = os.environ.get("BENCH_ELF") or os.path.join(HW, "firmware", "build", "bench_rig.elf")
CLOCK_HZ = 16_000_000


def encode(kind, seq, **fields):
    return mv.encode_message(mv.msg(kind, seq, **fields))


def raw_frame(kind_code, seq, payload):
    """A frame with any payload, bypassing every check a host would make."""
    return mv.wire(mv.raw_frame(kind_code, seq, payload))


def train(delay=0, c1=0, n1=1, gap=0, c2=0, n2=0, interval=None, count=1):
    if interval is None:
        interval = n1 + gap + n2
    return dict(delay_samples=delay, phase1_code=c1, phase1_samples=n1, interphase_samples=gap,
                phase2_code=c2, phase2_samples=n2, interval_samples=interval, pulse_count=count)


class Decoder(mv.StreamDecoder):
    """The reference stream decoder, handing out parsed frames as they complete."""

    def take(self):
        out = [mv.frame_fields(f) for f in self.frames]
        self.frames = []
        return out


class Harness:
    def __init__(self, *args, pin_log=None, speed=None, env=None, elf=None):
        cmd = [SIM, elf or ELF]
        if pin_log:
            cmd += ["--pin-log", pin_log]
        if speed is not None:
            cmd += ["--speed", str(speed)]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("bench-sim did not start: " + self.proc.stderr.read())
        self.port = json.loads(line)["port"]
        self.stderr_lines = []
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._t.join(2)
        return "\n".join(self.stderr_lines)


class Rig:
    """One host connection: send commands, collect every frame the rig sends."""

    def __init__(self, port):
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = termios.B1000000 if hasattr(termios, "B1000000") else attrs[4]
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.dec = Decoder()
        self.seq = 0
        self.lock = threading.Lock()
        self.frames = []          # every frame received, with host receive time
        self.cond = threading.Condition()
        self.running = True
        self.heartbeats = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._hb = threading.Thread(target=self._heartbeat, daemon=True)
        self._hb.start()

    def close(self):
        self.running = False
        self._reader.join(2)
        self._hb.join(2)
        os.close(self.fd)

    def _read(self):
        while self.running:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            now = time.monotonic()
            self.dec.feed(data)
            got = self.dec.take()
            if got:
                with self.cond:
                    for f in got:
                        f["_t"] = now
                        self.frames.append(f)
                    self.cond.notify_all()

    def _heartbeat(self):
        while self.running:
            if self.heartbeats:
                self.send("Heartbeat")
            time.sleep(0.1)

    def write(self, data):
        with self.lock:
            os.write(self.fd, data)

    def send(self, kind, **fields):
        with self.lock:
            seq = self.seq
            self.seq = (self.seq + 1) & 0xFFFF
            os.write(self.fd, encode(kind, seq, **fields))
        return seq

    def send_raw(self, kind_code, payload):
        with self.lock:
            seq = self.seq
            self.seq = (self.seq + 1) & 0xFFFF
            os.write(self.fd, raw_frame(kind_code, seq, payload))
        return seq

    def wait_for(self, pred, timeout=1.0, start=0):
        """First frame (index >= start) satisfying pred, or None."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.frames):
                    if pred(self.frames[i]):
                        return self.frames[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def answer(self, seq, timeout=1.0):
        """The Ack or Nack of command seq."""
        return self.wait_for(lambda f: f["kind"] in ("Ack", "Nack") and f.get("acked_seq") == seq, timeout)

    def command(self, kind, timeout=1.0, **fields):
        seq = self.send(kind, **fields)
        a = self.answer(seq, timeout)
        if a is None:
            raise AssertionError("no answer to %s within %.2f s" % (kind, timeout))
        return a

    def hello(self, timeout=2.0):
        self.write(b"\x00")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = len(self.frames)
            self.send("Hello", protocol_major=1, protocol_minor=0)
            f = self.wait_for(lambda x: x["kind"] == "DeviceInfo", 0.25, n)
            if f:
                return f
        raise AssertionError("no DeviceInfo")

    def heartbeat(self):
        seq = self.send("Heartbeat")
        return self.wait_for(lambda f: f["kind"] == "Status" and f["reply_seq"] == seq and f["flags"] & 1, 1.0)

    def count(self):
        with self.cond:
            return len(self.frames)

    def since(self, start, kind=None):
        with self.cond:
            fr = self.frames[start:]
        return [f for f in fr if kind is None or f["kind"] == kind]


def read_pin_log(path):
    rows = []
    with open(path) as fh:
        next(fh)
        for line in fh:
            c, t, s, v = line.rstrip("\n").split(",")
            rows.append((int(c), float(t), s, int(v)))
    return rows
