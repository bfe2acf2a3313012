#!/usr/bin/env python3
"""Generate the golden test vectors of the Bench wire protocol.

This is the third, independent implementation of firmware-protocol/PROTOCOL.md
(the others are the C library in ../c and the C# codec). It uses the Python
standard library only and shares no code with the other implementations:
COBS is decoded here a whole body at a time (the C decoder works byte by byte),
messages are packed with `struct` from field tables read from ../messages.json,
the one description of every message that the C and C# codecs are generated from.

Usage:
    python3 make_vectors.py            # (re)write vectors.json next to this file
    python3 make_vectors.py --check    # exit 1 if vectors.json is not up to date
    python3 make_vectors.py --stdout   # print to standard output

The output is deterministic: the same script always produces the same bytes.
"""

import json
import os
import struct
import sys

# ---------------------------------------------------------------------------
# Constants (PROTOCOL.md sections 2 and 3)
# ---------------------------------------------------------------------------

STRUCT_CODES = {"u8": "B", "u16": "H", "i16": "h", "u32": "I", "u64": "Q"}


def _load_description():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "messages.json"), encoding="utf-8") as fh:
        return json.load(fh)


DESCRIPTION = _load_description()


def _layout(fields):
    out = []
    for f in fields:
        if "count" in f:
            break
        t = f["type"]
        out.append((f["name"], t[len("char["):-1] + "s" if t.startswith("char[") else STRUCT_CODES[t]))
    return out


PROTOCOL_MAJOR = DESCRIPTION["version"]["major"]   # the frame's version byte
HEADER_LEN = 4              # version, kind, seq (u16 LE)
CRC_LEN = 2
MIN_FRAME = HEADER_LEN + CRC_LEN    # 6
MAX_FRAME = 254             # decoded frame: header + payload + CRC
MAX_PAYLOAD = MAX_FRAME - MIN_FRAME  # 248
MAX_BODY = 255              # COBS-encoded frame between two delimiters

KINDS = {m["kind"]: m["name"] for m in DESCRIPTION["messages"]}
KIND_CODE = {name: code for code, name in KINDS.items()}
KIND_ORDER = {m["name"]: i for i, m in enumerate(DESCRIPTION["messages"])}
NACK = {c["name"]: c["code"] for c in DESCRIPTION["nack_codes"]}

COUNTERS = ["frames_ok", "crc_errors", "cobs_errors", "short_frames",
            "oversized", "version_errors", "bytes_skipped", "resyncs",
            "frames_lost", "seq_resets"]

# ---------------------------------------------------------------------------
# CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0
# ---------------------------------------------------------------------------


def crc16(data):
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


assert crc16(b"123456789") == 0x29B1

# ---------------------------------------------------------------------------
# COBS (Cheshire & Baker 1999). A block of 254 non-zero bytes that ends the
# data is not followed by an extra 0x01 code byte.
# ---------------------------------------------------------------------------


def cobs_encode(data):
    out = bytearray()
    block = bytearray()
    n = len(data)
    for i, byte in enumerate(data):
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block = bytearray()
        else:
            block.append(byte)
            if len(block) == 254 and i != n - 1:
                out.append(0xFF)
                out += block
                block = bytearray()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(body):
    """Decode a whole body (no 0x00 in it). None when malformed."""
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        code = body[i]
        if code == 0:
            return None
        i += 1
        if i + code - 1 > n:
            return None           # the last group runs past the delimiter
        out += body[i:i + code - 1]
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


for _sample in (b"", b"\x00", b"\x00\x00", b"\x11\x22\x00\x33",
                bytes(range(1, 255)), bytes(range(1, 256)), bytes(range(0, 255))):
    assert cobs_decode(cobs_encode(_sample)) == _sample
assert cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255))
assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"

# ---------------------------------------------------------------------------
# Message layouts (PROTOCOL.md section 5), read from ../messages.json, the one
# description of every message. struct codes: B u8, H u16, h i16, I u32, Q u64,
# 8s char[8]. Everything little-endian. A message's fixed part is its fields up
# to the first array; the array (Configure's gains, Stimulus's trains,
# DeviceInfo's outputs, SampleBlock's samples) is packed below.
# ---------------------------------------------------------------------------

_STRUCTS = {s["name"]: _layout(s["fields"]) for s in DESCRIPTION["structs"]}
TRAIN = _STRUCTS["Train"]
OUTPUT = _STRUCTS["Output"]
FIXED = {m["name"]: _layout(m["fields"]) for m in DESCRIPTION["messages"]}
STIMULUS = FIXED["Stimulus"]
DEVICE_INFO = FIXED["DeviceInfo"]
MAX_OUTPUTS = next(f["max"] for f in DESCRIPTION["messages"][KIND_ORDER["DeviceInfo"]]["fields"]
                   if f["name"] == "outputs")


def fmt(layout):
    return "<" + "".join(code for _, code in layout)


def size(layout):
    return struct.calcsize(fmt(layout))


def to_json_int(value):
    """64-bit values: JSON number below 2**53, decimal string otherwise."""
    return value if value < 2 ** 53 else str(value)


def from_json_int(value):
    return int(value)


def pack_fields(layout, fields):
    values = []
    for name, code in layout:
        v = fields[name]
        if code.endswith("s"):
            raw = v.encode("ascii")
            assert len(raw) <= int(code[:-1])
            v = raw
        elif code == "Q":
            v = from_json_int(v)
        values.append(v)
    return struct.pack(fmt(layout), *values)


def unpack_fields(layout, data):
    out = {}
    for (name, code), v in zip(layout, struct.unpack(fmt(layout), data)):
        if code.endswith("s"):
            v = v.split(b"\x00", 1)[0].decode("ascii")
        elif code == "Q":
            v = to_json_int(v)
        out[name] = v
    return out


def popcount(x):
    return bin(x).count("1")


def encode_payload(kind, f):
    """Fields dict -> payload bytes (canonical encoding)."""
    body = pack_fields(FIXED[kind], f)
    if kind == "Configure":
        assert len(f["gains"]) == popcount(f["channel_mask"])
        body += bytes(f["gains"])
    elif kind == "Stimulus":
        assert f["train_count"] == len(f["trains"])
        for t in f["trains"]:
            body += pack_fields(TRAIN, t)
    elif kind == "DeviceInfo":
        assert f["output_count"] == len(f["outputs"])
        for o in f["outputs"]:
            body += pack_fields(OUTPUT, o)
    elif kind == "SampleBlock":
        assert len(f["samples"]) == f["channel_count"] * f["sample_count"]
        body += struct.pack("<%dH" % len(f["samples"]), *f["samples"])
    return body


class ParseError(Exception):
    pass


def parse_payload(kind, p):
    """Payload bytes -> fields dict. Raises ParseError('bad_length' | 'out_of_range').
    Trailing bytes beyond what the kind defines are ignored (PROTOCOL.md 7)."""
    layout = FIXED[kind]
    n = size(layout)
    if len(p) < n:
        raise ParseError("bad_length")
    f = unpack_fields(layout, p[:n])
    rest = p[n:]
    if kind == "Configure":
        k = popcount(f["channel_mask"])
        if len(rest) < k:
            raise ParseError("bad_length")
        f["gains"] = list(rest[:k])
    elif kind == "Stimulus":
        k = f["train_count"]
        if len(rest) < k * size(TRAIN):
            raise ParseError("bad_length")
        f["trains"] = [unpack_fields(TRAIN, rest[i * size(TRAIN):(i + 1) * size(TRAIN)]) for i in range(k)]
    elif kind == "DeviceInfo":
        k = f["output_count"]
        if len(rest) < k * size(OUTPUT):
            raise ParseError("bad_length")
        if k > MAX_OUTPUTS:
            raise ParseError("out_of_range")
        f["outputs"] = [unpack_fields(OUTPUT, rest[i * size(OUTPUT):(i + 1) * size(OUTPUT)]) for i in range(k)]
    elif kind == "SampleBlock":
        k = f["channel_count"] * f["sample_count"]
        if len(rest) < 2 * k:
            raise ParseError("bad_length")
        f["samples"] = list(struct.unpack("<%dH" % k, rest[:2 * k]))
    return f


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------


def raw_frame(kind_code, seq, payload, version=PROTOCOL_MAJOR):
    body = struct.pack("<BBH", version, kind_code, seq) + payload
    return body + struct.pack("<H", crc16(body))


def wire(frame):
    """A frame on the wire: delimiter, COBS, delimiter."""
    return b"\x00" + cobs_encode(frame) + b"\x00"


def encode_message(fields):
    kind = fields["kind"]
    payload = encode_payload(kind, fields)
    assert len(payload) <= MAX_PAYLOAD, (kind, len(payload))
    return wire(raw_frame(KIND_CODE[kind], fields["seq"], payload, fields.get("version", 1)))


def frame_fields(frame):
    """A delivered frame -> the JSON object of the vectors file."""
    version, kind_code, seq = struct.unpack("<BBH", frame[:4])
    payload = frame[4:-2]
    head = {"version": version}
    name = KINDS.get(kind_code)
    if name is None:
        return dict(head, kind="unknown", seq=seq, kind_code=kind_code,
                    parse_error="unknown_kind", payload_hex=payload.hex())
    try:
        f = parse_payload(name, payload)
    except ParseError as e:
        return dict(head, kind=name, seq=seq, kind_code=kind_code,
                    parse_error=str(e), payload_hex=payload.hex())
    out = dict(head, kind=name, seq=seq)
    out.update(f)
    return out


# ---------------------------------------------------------------------------
# Reference stream decoder with the error counters of PROTOCOL.md section 4
# ---------------------------------------------------------------------------


class StreamDecoder:
    def __init__(self):
        self.c = {k: 0 for k in COUNTERS}
        self.hunting = True          # HUNT state: wait for a delimiter
        self.skipped = False         # skipped >= 1 byte in this HUNT episode
        self.body = bytearray()
        self.last_seq = None
        self.frames = []

    def feed(self, data):
        for b in data:
            self.byte(b)
        return self

    def byte(self, b):
        if self.hunting:
            if b == 0:
                self.hunting = False
                if self.skipped:
                    self.c["resyncs"] += 1
                self.skipped = False
                self.body = bytearray()
            else:
                self.c["bytes_skipped"] += 1
                self.skipped = True
            return
        if b != 0:
            if len(self.body) == MAX_BODY:
                self.c["oversized"] += 1
                self.hunting = True
                self.c["bytes_skipped"] += 1
                self.skipped = True
                self.body = bytearray()
            else:
                self.body.append(b)
            return
        body = bytes(self.body)
        self.body = bytearray()
        if not body:
            return                   # idle / resync delimiter: not an error
        frame = cobs_decode(body)
        if frame is None:
            self.c["cobs_errors"] += 1
        elif len(frame) < MIN_FRAME:
            self.c["short_frames"] += 1
        elif crc16(frame[:-2]) != struct.unpack("<H", frame[-2:])[0]:
            self.c["crc_errors"] += 1
        elif frame[0] != PROTOCOL_MAJOR:
            self.c["version_errors"] += 1
        else:
            self.c["frames_ok"] += 1
            seq = struct.unpack("<H", frame[2:4])[0]
            if self.last_seq is not None:
                gap = (seq - self.last_seq - 1) & 0xFFFF
                if gap < 0x8000:
                    self.c["frames_lost"] += gap
                else:
                    self.c["seq_resets"] += 1
            self.last_seq = seq
            self.frames.append(frame)


# ---------------------------------------------------------------------------
# Vector construction
# ---------------------------------------------------------------------------

ERROR_KEYS = ["crc_errors", "cobs_errors", "short_frames", "oversized",
              "version_errors", "bytes_skipped", "resyncs"]


def make_vector(name, data, description):
    dec = StreamDecoder().feed(data)
    frames = [frame_fields(fr) for fr in dec.frames]
    parsed_ok = all("parse_error" not in f for f in frames)
    valid = bool(frames) and parsed_ok and all(dec.c[k] == 0 for k in ERROR_KEYS)
    canonical = parsed_ok and bool(frames) and \
        b"".join(encode_message(f) for f in frames) == data
    v = {"name": name, "description": description, "hex": data.hex(),
         "valid": valid, "canonical": canonical}
    if valid and len(frames) == 1:
        v["fields"] = frames[0]
    v["frames"] = frames
    v["errors"] = dict(dec.c)
    return v


class Lcg:
    """Deterministic byte source (Numerical Recipes LCG), independent of the
    Python version's `random` module."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF

    def next(self):
        self.state = (self.state * 1664525 + 1013904223) & 0xFFFFFFFF
        return self.state >> 24

    def bytes(self, n):
        return bytes(self.next() for _ in range(n))

    def noise(self, n):
        """Bytes with about one zero in 16, so that noise also forms bodies."""
        return bytes(0 if x < 16 else x for x in self.bytes(n))


def msg(kind, seq, **fields):
    d = {"version": 1, "kind": kind, "seq": seq}
    d.update(fields)
    return d


def build():
    vectors = []

    def add(name, data, description, expect=None, frames=None):
        v = make_vector(name, data, description)
        # self-check: the counters the description promises (others must be 0)
        if expect is not None:
            want = {k: 0 for k in COUNTERS}
            want["frames_ok"] = len(v["frames"])
            want.update(expect)
            assert v["errors"] == want, (name, v["errors"], want)
        if frames is not None:
            assert len(v["frames"]) == frames, (name, len(v["frames"]))
        vectors.append(v)

    def single(name, fields, description):
        data = encode_message(fields)
        v = make_vector(name, data, description)
        expected = dict(fields)
        for key in ("unique_id", "start_index", "first_sample_index", "onset_index",
                    "sample_index", "uptime_us"):
            if key in expected:
                expected[key] = to_json_int(int(expected[key]))
        # self-check: this implementation's parser returns what was encoded
        assert v["valid"] and v["canonical"] and v["fields"] == expected, (name, v, expected)
        vectors.append(v)
        return data

    # ---- host -> device -------------------------------------------------
    single("hello", msg("Hello", 0, protocol_major=1, protocol_minor=0),
           "Hello from a host speaking protocol 1.0; the first frame after opening the port (seq 0).")
    single("configure_1ch", msg("Configure", 1, sample_rate_hz=10000, channel_mask=0x0001,
                                block_samples=50, gains=[0]),
           "10 kHz, channel 0 only, 50 sample periods per block, default gain.")
    single("configure_6ch_gains", msg("Configure", 2, sample_rate_hz=2000, channel_mask=0x003F,
                                      block_samples=0, gains=[0, 1, 2, 3, 0, 1]),
           "2 kHz, channels 0-5 with one gain code each, device-chosen block size.")
    single("configure_sparse_mask", msg("Configure", 3, sample_rate_hz=1000, channel_mask=0x8004,
                                        block_samples=10, gains=[7, 0]),
           "Channels 2 and 15: gains are listed in ascending channel order.")
    single("start", msg("Start", 4), "Start: empty payload.")
    single("stop", msg("Stop", 5), "Stop: empty payload.")
    single("stop_all", msg("StopAll", 6), "StopAll: empty payload.")
    single("heartbeat", msg("Heartbeat", 7), "Heartbeat: empty payload.")

    biphasic = {"delay_samples": 0, "phase1_code": -200, "phase1_samples": 2,
                "interphase_samples": 1, "phase2_code": 200, "phase2_samples": 2,
                "interval_samples": 100, "pulse_count": 10}
    single("stimulus_single_train_immediate",
           msg("Stimulus", 8, stim_id=1, output=0, flags=0, start_index=0, train_count=1,
               trains=[biphasic]),
           "One biphasic cathodic-first train of 10 pulses at 100 samples, started immediately.")
    trains3 = [
        {"delay_samples": 1000, "phase1_code": -100, "phase1_samples": 4,
         "interphase_samples": 0, "phase2_code": 100, "phase2_samples": 4,
         "interval_samples": 200, "pulse_count": 5},
        {"delay_samples": 5000, "phase1_code": 300, "phase1_samples": 10,
         "interphase_samples": 2, "phase2_code": -150, "phase2_samples": 20,
         "interval_samples": 65536, "pulse_count": 3},
        {"delay_samples": 70000, "phase1_code": -32768, "phase1_samples": 65535,
         "interphase_samples": 65535, "phase2_code": 32767, "phase2_samples": 65535,
         "interval_samples": 4294967295, "pulse_count": 65535},
    ]
    single("stimulus_three_trains_at_index",
           msg("Stimulus", 9, stim_id=0xBEEF, output=1, flags=1, start_index=123456789012,
               train_count=3, trains=trains3),
           "Three trains on output 1 starting at sample 123456789012; the third uses every field's extreme value.")
    single("stimulus_monophasic",
           msg("Stimulus", 10, stim_id=2, output=0, flags=0, start_index=0, train_count=1,
               trains=[{"delay_samples": 0, "phase1_code": 1000, "phase1_samples": 5,
                        "interphase_samples": 0, "phase2_code": 0, "phase2_samples": 0,
                        "interval_samples": 1, "pulse_count": 1}]),
           "A single monophasic pulse (phase 2 of zero duration).")
    many = []
    for i in range(11):
        many.append({"delay_samples": i * 10, "phase1_code": -(i + 1) * 10, "phase1_samples": i + 1,
                     "interphase_samples": i, "phase2_code": (i + 1) * 10, "phase2_samples": i + 1,
                     "interval_samples": 50 + i, "pulse_count": i + 2})
    single("stimulus_eleven_trains",
           msg("Stimulus", 11, stim_id=3, output=0, flags=1, start_index=2 ** 53,
               train_count=11, trains=many),
           "The most trains a frame can hold (11); start_index 2^53 is a JSON string.")

    # ---- device -> host -------------------------------------------------
    uno = msg("DeviceInfo", 0, protocol_major=1, protocol_minor=0, fw_major=0, fw_minor=3,
              fw_patch=12, board="UNO-R3", unique_id=str(0x1E950F0123456789), clock_hz=16000000,
              max_sample_rate_hz=20000, adc_ref_mv=5000, adc_bits=10, input_channels=6,
              gain_count=1, max_trains=4, watchdog_ms=500, output_count=2,
              outputs=[
                  {"unit": 1, "dac_bits": 12, "max_amplitude_code": 2047, "scale": 100,
                   "max_phase_us": 2000, "max_charge": 100000},
                  {"unit": 2, "dac_bits": 8, "max_amplitude_code": 127, "scale": 39216,
                   "max_phase_us": 1000000, "max_charge": 0},
              ])
    single("device_info_uno", uno,
           "Uno rig: 6 inputs, 10-bit ADC at 5000 mV, a current output (100 nA/code, limits "
           "204.7 uA, 2 ms, 100 nC) and a voltage output; unique_id >= 2^53 is a string.")
    single("device_info_no_outputs",
           msg("DeviceInfo", 1, protocol_major=1, protocol_minor=2, fw_major=1, fw_minor=0,
               fw_patch=0, board="NANO", unique_id=42, clock_hz=16000000,
               max_sample_rate_hz=15000, adc_ref_mv=1100, adc_bits=10, input_channels=8,
               gain_count=4, max_trains=0, watchdog_ms=500, output_count=0, outputs=[]),
           "A recording-only board with no stimulus output; 8-character board names need no NUL.")
    single("device_info_full_board_name",
           msg("DeviceInfo", 2, protocol_major=1, protocol_minor=0, fw_major=255, fw_minor=255,
               fw_patch=65535, board="ABCDEFGH", unique_id=0, clock_hz=4294967295,
               max_sample_rate_hz=4294967295, adc_ref_mv=65535, adc_bits=16, input_channels=16,
               gain_count=255, max_trains=11, watchdog_ms=65535, output_count=8,
               outputs=[{"unit": 1 + (i % 2), "dac_bits": 16, "max_amplitude_code": 32767,
                         "scale": 4294967295, "max_phase_us": 4294967295,
                         "max_charge": 4294967295} for i in range(8)]),
           "Eight outputs (the maximum) and extreme values everywhere.")

    single("ack_configure", msg("Ack", 1, acked_seq=1, acked_kind=0x02, info=1600),
           "Ack of Configure seq 1: info = sample period in device clock ticks (16 MHz / 1600 = 10 kHz).")
    single("ack_start", msg("Ack", 2, acked_seq=4, acked_kind=0x03, info=0), "Ack of Start.")
    single("ack_seq_ffff", msg("Ack", 3, acked_seq=65535, acked_kind=0x05, info=0),
           "Ack of a Stimulus sent with seq 65535.")
    nack_kinds = {"unknown_kind": 0x7E, "bad_length": 0x02, "out_of_range": 0x05,
                  "busy": 0x02, "not_configured": 0x03, "overrun": 0x05, "bad_crc": 0xFF,
                  "too_late": 0x05, "not_running": 0x05, "unsupported_version": 0x01,
                  "watchdog": 0x05}
    # detail: bad_length = minimum payload length needed; out_of_range = payload
    # offset of the offending field (17: train 0's phase1_code); bad_crc = error
    # class (1 = crc); unsupported_version = the version byte received.
    nack_detail = {"bad_length": 7, "out_of_range": 17, "bad_crc": 1, "unsupported_version": 2}
    seq = 10
    for cname, code in NACK.items():
        acked_seq = 0xFFFF if cname == "bad_crc" else 100 + code
        single("nack_" + cname,
               msg("Nack", seq, acked_seq=acked_seq, acked_kind=nack_kinds[cname], code=code,
                   detail=nack_detail.get(cname, 0)),
               "Nack with code %d (%s)." % (code, cname))
        seq += 1

    single("status_idle",
           msg("Status", 30, sample_index=0, uptime_us=1500000, reply_seq=7, flags=0x01,
               stim_active_mask=0, buffer_high_water=0, buffer_capacity=256, overruns=0,
               dropped_samples=0, rx_crc_errors=0, rx_framing_errors=0, rx_frames_lost=0),
           "Reply to Heartbeat seq 7 from an idle, unconfigured device.")
    single("status_running_stimulating",
           msg("Status", 31, sample_index=3600 * 20000, uptime_us=3601000000, reply_seq=0,
               flags=0x0E, stim_active_mask=0x01, buffer_high_water=180, buffer_capacity=256,
               overruns=2, dropped_samples=37, rx_crc_errors=3, rx_framing_errors=5,
               rx_frames_lost=1),
           "Unsolicited status (REPLY clear) while configured, running and stimulating output 0.")
    single("status_watchdog_tripped",
           msg("Status", 32, sample_index=str(2 ** 63 + 5), uptime_us=str(2 ** 64 - 1),
               reply_seq=65535, flags=0x17, stim_active_mask=0, buffer_high_water=65535,
               buffer_capacity=65535, overruns=4294967295, dropped_samples=4294967295,
               rx_crc_errors=65535, rx_framing_errors=65535, rx_frames_lost=65535),
           "Watchdog tripped; extreme counter values; 64-bit values above 2^53 as strings.")

    single("sample_block_1ch_1",
           msg("SampleBlock", 40, first_sample_index=0, channel_count=1, sample_count=1,
               samples=[512]),
           "The smallest useful block: one sample.")
    single("sample_block_6ch_4",
           msg("SampleBlock", 41, first_sample_index=1000, channel_count=6, sample_count=4,
               samples=[(100 * s + c) for s in range(4) for c in range(6)]),
           "6 channels x 4 sample periods, interleaved: value = 100*period + channel.")
    single("sample_block_2ch_zeros",
           msg("SampleBlock", 42, first_sample_index=65536, channel_count=2, sample_count=8,
               samples=[0, 1023, 0, 0, 256, 1, 0, 65535, 0, 0, 0, 0, 0, 0, 512, 0]),
           "Many zero bytes: many COBS groups.")
    single("sample_block_empty",
           msg("SampleBlock", 43, first_sample_index=77, channel_count=3, sample_count=0,
               samples=[]),
           "Zero sample periods is legal for the codec (devices do not send it).")
    # The largest frame: 1 channel x 119 samples = 248-byte payload, 254-byte frame.
    # Chosen with no zero byte anywhere, so COBS emits a single 0xFF code and the
    # encoded body is exactly 255 bytes.
    first = 0x0102030405060708
    base = [((1 + (i * 7) % 255) << 8) | (1 + (i * 13) % 255) for i in range(119)]
    k = 0
    while True:
        samples = list(base)
        samples[118] = 0x0101 + k if (k & 0xFF) != 0xFF else 0x0101
        f = msg("SampleBlock", 0x0A0B, first_sample_index=str(first), channel_count=1,
                sample_count=119, samples=samples)
        fr = raw_frame(KIND_CODE["SampleBlock"], f["seq"], encode_payload("SampleBlock", f))
        if 0 not in fr:
            break
        k += 1
    maxdata = single("sample_block_max_no_zero", f,
                     "Maximum frame (254 bytes decoded, 255 encoded, 257 on the wire) without "
                     "any zero byte: one 0xFF COBS code and no trailing 0x01.")
    assert len(maxdata) == 257 and maxdata[1] == 0xFF
    f2 = msg("SampleBlock", 0x0A0C, first_sample_index=12345, channel_count=7, sample_count=17,
             samples=[(i * 37) % 1024 for i in range(119)])
    single("sample_block_max_7ch", f2, "Maximum frame with zeros: 7 channels x 17 periods.")

    single("stimulus_event",
           msg("StimulusEvent", 50, onset_index=1000100, stim_id=1, output=0, train=0, pulse=1,
               phase1_code=-200, phase2_code=200, flags=0),
           "The second pulse of train 0 of stimulus 1.")
    single("stimulus_event_last",
           msg("StimulusEvent", 51, onset_index=1000900, stim_id=1, output=0, train=0, pulse=9,
               phase1_code=-200, phase2_code=200, flags=1),
           "The last pulse of stimulus 1 (LAST flag).")
    single("stimulus_event_aborted",
           msg("StimulusEvent", 52, onset_index=str(2 ** 60), stim_id=0xBEEF, output=1,
               train=2, pulse=65534, phase1_code=-32768, phase2_code=0, flags=3),
           "A pulse cut short in phase 1 by StopAll (ABORTED + LAST); phase 2 not played.")
    single("seq_65535", msg("Heartbeat", 65535), "Sequence number 65535 (the next one is 0).")

    # ---- valid but not canonical ----------------------------------------
    ack_plus = raw_frame(0x82, 9, struct.pack("<HBI", 3, 0x04, 0) + b"\x01\x02\x03")
    add("ack_trailing_bytes", wire(ack_plus),
        "An Ack from a newer minor version with 3 extra payload bytes: they are ignored.")
    ds = b"UNO\x00\x00\x00\x00\x00"
    hello_plus = raw_frame(0x01, 1, b"\x01\x05" + ds)
    add("hello_trailing_bytes", wire(hello_plus),
        "Hello from a host of a newer minor (1.5) with extra bytes: they are ignored.")

    # ---- streams of several frames ----------------------------------------
    a = encode_message(msg("Heartbeat", 100))
    b = encode_message(msg("Ack", 101, acked_seq=7, acked_kind=0x07, info=0))
    c = encode_message(msg("StopAll", 102))
    add("stream_two_frames", a + b,
        "Two frames, each with its own delimiters (00 .. 00 00 .. 00).")
    add("stream_shared_delimiter", a[:-1] + b,
        "Two frames sharing one delimiter (00 .. 00 .. 00): also legal for receivers.")
    add("stream_idle_delimiters", b"\x00\x00\x00" + a + b"\x00\x00" + b + b"\x00",
        "Extra delimiters (idle/resync bytes) around frames count nothing.")
    s1 = encode_message(msg("Heartbeat", 10))
    s2 = encode_message(msg("Heartbeat", 11))
    s3 = encode_message(msg("Heartbeat", 14))
    add("stream_seq_gap", s1 + s2 + s3, "Seq 10, 11, 14: frames_lost = 2.")
    add("stream_seq_wrap",
        encode_message(msg("Heartbeat", 65534)) + encode_message(msg("Heartbeat", 65535))
        + encode_message(msg("Heartbeat", 0)) + encode_message(msg("Heartbeat", 2)),
        "Seq 65534, 65535, 0, 2: wrapping is not a loss; one frame lost (seq 1).")
    add("stream_seq_reset",
        encode_message(msg("Status", 500, sample_index=0, uptime_us=1, reply_seq=0, flags=0,
                           stim_active_mask=0, buffer_high_water=0, buffer_capacity=0,
                           overruns=0, dropped_samples=0, rx_crc_errors=0,
                           rx_framing_errors=0, rx_frames_lost=0))
        + encode_message(msg("Heartbeat", 0)) + encode_message(msg("Heartbeat", 0)),
        "Seq 500, 0, 0: a backwards jump (gap >= 0x8000, here twice) is a seq reset, not a loss.")

    add("stream_seq_gap_boundary",
        encode_message(msg("Heartbeat", 0)) + encode_message(msg("Heartbeat", 0x8000))
        + encode_message(msg("Heartbeat", 1)),
        "Seq 0, 32768, 1: a gap of 0x7FFF is counted as 32767 lost frames; a gap of 0x8000 "
        "(32768 -> 1) is a seq reset.", {"frames_lost": 32767, "seq_resets": 1}, 3)

    # ---- invalid ----------------------------------------------------------
    good = raw_frame(0x82, 5, struct.pack("<HBI", 4, 0x03, 0))
    bad_crc = good[:-2] + bytes([good[-2] ^ 0x01, good[-1]])
    add("bad_crc", wire(bad_crc), "A valid Ack whose CRC low byte has one bit flipped.", {"crc_errors": 1}, 0)
    bad_payload = bytearray(good)
    bad_payload[6] ^= 0x80
    add("bad_crc_payload_bit", wire(bytes(bad_payload)),
        "A payload bit flipped after the CRC was computed (COBS re-applied).", {"crc_errors": 1}, 0)
    swapped = good[:-2] + bytes([good[-1], good[-2]])
    add("bad_crc_big_endian", wire(swapped),
        "The CRC transmitted big-endian: rejected (the CRC is little-endian on the wire).", {"crc_errors": 1}, 0)
    enc = cobs_encode(good)
    add("truncated_crc", b"\x00" + enc[:-3] + b"\x00",
        "An Ack whose last 3 encoded bytes were lost: what remains is COBS-valid: CRC error.",
        {"crc_errors": 1}, 0)
    hb_seq = 0x0101
    while 0 in raw_frame(0x07, hb_seq, b""):
        hb_seq += 1
    hb = cobs_encode(raw_frame(0x07, hb_seq, b""))
    assert hb[0] == 7
    add("truncated_in_group", b"\x00" + hb[:-3] + b"\x00",
        "A Heartbeat without zero bytes (one COBS group, code 07) losing its last 3 bytes: COBS error.",
        {"cobs_errors": 1}, 0)
    add("truncated_unterminated", b"\x00" + enc[:-3],
        "A body with no closing delimiter: nothing is counted yet (the frame is pending).",
        {}, 0)
    add("truncated_group_boundary", b"\x00\x04\x01\x07\x01\x00",
        "The first COBS group of a Heartbeat (04 01 07 01) alone: COBS-valid, 3 bytes: short frame.", {"short_frames": 1}, 0)
    add("zero_length", b"\x00\x00", "Two delimiters and nothing between: no frame, no error.", {}, 0)
    add("empty_cobs_body", b"\x00\x01\x00",
        "Body 01 decodes to zero bytes: short frame.", {"short_frames": 1}, 0)
    runt = raw_frame(0x03, 1, b"")[:5]
    add("runt_5_bytes", wire(runt), "A 5-byte decoded frame (minimum is 6): short frame.", {"short_frames": 1}, 0)
    add("lone_code_0x02", b"\x00\x02\x00",
        "Body 02 promises 1 data byte that never comes: COBS error.", {"cobs_errors": 1}, 0)
    v2 = raw_frame(0x01, 0, b"\x02\x00", version=2)
    add("unknown_version", wire(v2),
        "A CRC-valid Hello with version byte 2: version error (the peer speaks another major).", {"version_errors": 1}, 0)
    v0 = raw_frame(0x07, 3, b"", version=0)
    add("version_zero", wire(v0), "Version byte 0: version error.", {"version_errors": 1}, 0)
    over = Lcg(1).bytes(300)
    over = bytes(x if x else 0x5A for x in over)
    add("oversized_then_frame", b"\x00" + over + b"\x00" + a,
        "300 non-zero bytes between delimiters: oversized once; the 45 bytes after the 255th "
        "are skipped; the delimiter resyncs; the next frame is decoded.",
        {"oversized": 1, "bytes_skipped": 45, "resyncs": 1}, 1)
    ff_nc = b"\xff" + bytes(range(1, 255)) + b"\x01"
    add("oversized_noncanonical_ff", b"\x00" + ff_nc + b"\x00",
        "FF + 254 bytes + 01 (256 bytes): oversized even though it would decode to 254 bytes.",
        {"oversized": 1, "bytes_skipped": 1, "resyncs": 1}, 0)
    add("garbage_before_first_frame", b"\xde\xad\xbe\xef" + a,
        "Bytes before the first delimiter are skipped (decoders start hunting): 4 skipped, 1 resync.",
        {"bytes_skipped": 4, "resyncs": 1}, 1)
    add("garbage_between_frames", a + b"\x13\x37\xff" + a[:1] + b,
        "Non-zero garbage between two delimiters is a body: here a COBS error.",
        {"cobs_errors": 1, "frames_lost": 0}, 2)
    add("garbage_with_zeros_between_frames", a + b"\x05\x00\x00\x02\x11\x00\x03\x04\x00" + c,
        "Garbage containing zeros: bodies 05 (COBS error), 02 11 (short), 03 04 (COBS error); "
        "seq 100 then 102: one frame lost.",
        {"cobs_errors": 2, "short_frames": 1, "frames_lost": 1}, 2)
    noise = Lcg(2024).noise(96)
    add("noise_between_frames", a + noise + b + Lcg(7).noise(40) + c,
        "Pseudo-random noise around frames; every decoder must count exactly the same.")
    add("noise_only", Lcg(99).noise(512), "512 bytes of pseudo-random noise (about 1 zero in 16).")
    add("unknown_kind", wire(raw_frame(0x7E, 12, b"\x01\x02")),
        "A CRC-valid frame of kind 0x7E: delivered by the framing layer, parse error unknown_kind "
        "(a device answers Nack unknown_kind).")
    add("kind_zero", wire(raw_frame(0x00, 13, b"")), "Kind 0 is reserved: unknown_kind.")
    add("configure_bad_length", wire(raw_frame(0x02, 14, struct.pack("<IH", 1000, 3))),
        "Configure with 6 payload bytes (needs 7 + popcount(mask)): bad_length.")
    add("configure_missing_gains", wire(raw_frame(0x02, 15, struct.pack("<IHB", 1000, 7, 0) + b"\x00\x00")),
        "Configure for 3 channels carrying 2 gains: bad_length.")
    add("stimulus_missing_train", wire(raw_frame(
        0x05, 16, pack_fields(STIMULUS, {"stim_id": 1, "output": 0, "flags": 0, "start_index": 0,
                                         "train_count": 2}) + pack_fields(TRAIN, biphasic))),
        "Stimulus announcing 2 trains carrying 1: bad_length.")
    sb = struct.pack("<QBB", 0, 2, 3) + struct.pack("<5H", 1, 2, 3, 4, 5)
    add("sample_block_short", wire(raw_frame(0x85, 17, sb)),
        "SampleBlock 2 x 3 carrying 5 samples: bad_length.")
    di = dict(uno, output_count=9, outputs=uno["outputs"] * 4 + uno["outputs"][:1])
    di_payload = pack_fields(DEVICE_INFO, di) + b"".join(pack_fields(OUTPUT, o) for o in di["outputs"])
    add("device_info_too_many_outputs", wire(raw_frame(0x81, 18, di_payload)),
        "DeviceInfo with 9 outputs (maximum 8): out_of_range.")
    add("nack_short", wire(raw_frame(0x83, 19, b"\x01\x00\x02\x03\x00")),
        "Nack with 5 of its 6 payload bytes: bad_length.")
    return vectors


def render(vectors):
    """One key per line, values compact: diffs stay readable."""
    out = ["["]
    for i, v in enumerate(vectors):
        out.append("  {")
        keys = list(v.keys())
        for j, key in enumerate(keys):
            sep = "," if j < len(keys) - 1 else ""
            out.append("    %s: %s%s" % (json.dumps(key), json.dumps(v[key], separators=(", ", ": ")), sep))
        out.append("  }" + ("," if i < len(vectors) - 1 else ""))
    out.append("]")
    return "\n".join(out) + "\n"


def main(argv):
    text = render(build())
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    if "--stdout" in argv:
        sys.stdout.write(text)
    elif "--check" in argv:
        with open(path, encoding="utf-8") as fh:
            if fh.read() != text:
                sys.stderr.write("vectors.json is out of date: run make_vectors.py\n")
                return 1
        print("vectors.json is up to date (%d vectors)" % len(json.loads(text)))
    else:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        print("wrote %s (%d vectors)" % (path, len(json.loads(text))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
