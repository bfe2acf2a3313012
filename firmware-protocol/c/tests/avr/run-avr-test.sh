#!/usr/bin/env bash
# Builds avr_test.c with the library for the ATmega328P and runs the golden
# vectors on it in simavr. Usage: run-avr-test.sh BUILD_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../../src" && pwd)"
out="${1:?usage: run-avr-test.sh BUILD_DIR}/avr"
mkdir -p "$out"
python3 "$here/gen_avr_vectors.py" "$out/avr_vectors.h"
avr-gcc -std=c99 -Wall -Wextra -Werror -Os -mmcu=atmega328p -DF_CPU=16000000UL \
  -ffunction-sections -fdata-sections -Wl,--gc-sections \
  -I"$src" -I"$out" "$here/avr_test.c" "$src/bench_protocol.c" "$src/bench_protocol_messages.c" -o "$out/avr_test.elf"
avr-size "$out/avr_test.elf"
log="$(timeout 120 simavr -m atmega328p -f 16000000 "$out/avr_test.elf" 2>&1 | sed 's/\x1b\[[0-9;]*m//g')"
echo "$log"
grep -q "AVR PASS" <<<"$log" && ! grep -q "AVR FAIL" <<<"$log"
