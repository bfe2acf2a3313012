#!/usr/bin/env python3
"""Sums a bench-sim --profile file by firmware function (avr-nm symbols).

usage: profile_report.py PROFILE.csv FIRMWARE.elf [top]
"""
import bisect
import subprocess
import sys


def main(argv):
    prof, elf = argv[1], argv[2]
    top = int(argv[3]) if len(argv) > 3 else 25
    syms = []
    for line in subprocess.run(["avr-nm", "-n", "-S", elf], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-2] in "tTwW" and len(parts[0]) == 8 and not parts[-1].startswith(("__stack", "__heap", "__data", "__bss")):
            syms.append((int(parts[0], 16), parts[-1]))
    syms.sort()
    addrs = [a for a, _ in syms]
    total = 0
    by = {}
    for line in open(prof):
        a, c = line.split(",")
        a, c = int(a), int(c)
        total += c
        i = bisect.bisect_right(addrs, a) - 1
        name = syms[i][1] if i >= 0 else "?"
        by[name] = by.get(name, 0) + c
    print("%12s %6s  %s" % ("cycles", "share", "function"))
    for name, c in sorted(by.items(), key=lambda x: -x[1])[:top]:
        print("%12d %5.1f%%  %s" % (c, 100.0 * c / total, name))
    print("%12d 100.0%%  total" % total)


if __name__ == "__main__":
    main(sys.argv)
