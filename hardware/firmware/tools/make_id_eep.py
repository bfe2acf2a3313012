#!/usr/bin/env python3
"""Writes the rig's unique-id EEPROM record (src/ident.h) as an Intel HEX file.

usage: make_id_eep.py <16 hex digits> <out.eep>
"""
import struct
import sys


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def ihex_record(addr, rtype, data):
    rec = bytes([len(data), addr >> 8, addr & 0xFF, rtype]) + data
    return ":" + rec.hex().upper() + "%02X" % ((-sum(rec)) & 0xFF)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    uid = int(argv[1], 16)
    if not 0 < uid < 2 ** 64 - 1:
        sys.exit("the id must be 1 ... 2^64-2")
    rec = b"BNCH" + struct.pack("<Q", uid)
    rec += struct.pack("<H", crc16(rec))
    with open(argv[2], "w") as fh:
        fh.write(ihex_record(0, 0, rec) + "\n" + ihex_record(0, 1, b"") + "\n")
    print("wrote %s (id %016x)" % (argv[2], uid))


if __name__ == "__main__":
    main(sys.argv)
