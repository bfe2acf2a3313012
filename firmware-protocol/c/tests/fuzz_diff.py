#!/usr/bin/env python3
"""Differential test: random streams (valid frames, bit flips, truncations,
noise, long runs, stray delimiters) decoded by the C decoder (stream_dump) and
by the reference decoder of make_vectors.py must give the same frames and
counters. Deterministic. Usage: fuzz_diff.py PATH_TO_stream_dump [STREAMS]"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "vectors"))
import make_vectors as ref  # noqa: E402


def streams(count, seed=777):
    rng = ref.Lcg(seed)

    def r(n):
        return rng.next() % n

    for _ in range(count):
        s = bytearray()
        for _ in range(r(6) + 1):
            c = r(8)
            if c < 3:
                f = ref.raw_frame([0x07, 0x82, 0x85, 0x7E][r(4)], r(65536), rng.noise(r(249)),
                                  version=1 if r(10) else 2)
                w = bytearray(ref.wire(f))
                if r(4) == 0:
                    w[r(len(w))] ^= 1 << r(8)
                if r(5) == 0:
                    w = w[:r(len(w))]
                if r(5) == 0:
                    w = w[1:]
                s += w
            elif c < 5:
                s += rng.noise(r(300))
            elif c == 5:
                s += bytes(x or 1 for x in rng.bytes(r(600)))
            else:
                s += b"\x00" * r(3)
        yield bytes(s)


def main():
    exe = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    data = list(streams(count))
    out = subprocess.run([exe], input="".join(s.hex() + "\n" for s in data),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(data), (len(out), len(data))
    totals = {k: 0 for k in ref.COUNTERS}
    bad = 0
    for s, got in zip(data, out):
        d = ref.StreamDecoder().feed(s)
        want = "".join(f.hex() + "," for f in d.frames) + ";" + " ".join(str(d.c[k]) for k in ref.COUNTERS)
        for k in ref.COUNTERS:
            totals[k] += d.c[k]
        if got != want:
            bad += 1
            if bad <= 5:
                print("MISMATCH\n  stream %s\n  want %s\n  got  %s" % (s.hex(), want, got))
    print("%d streams, %d mismatches; totals %s" % (len(data), bad, totals))
    # every counter must have been exercised
    assert all(v > 0 for v in totals.values()), totals
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
