#!/usr/bin/env bash
# Builds the C protocol library and runs its host tests (GoogleTest, CTest).
# Idempotent: installs the Debian packages it needs only when they are missing.
# Usage: firmware-protocol/c/run-tests.sh            (from anywhere)
#        BP_AVR=1 firmware-protocol/c/run-tests.sh   (also install gcc-avr, avr-libc and simavr:
#                                                     AVR build check and vectors run on a simulated ATmega328P)
# Without BP_AVR the AVR tests run only if avr-gcc (and simavr) are already installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$here/build"

need=(cmake g++ make libgtest-dev nlohmann-json3-dev)
# python3 (for the vectors check) may come from elsewhere, e.g. pyenv.
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [[ "${BP_AVR:-0}" == 1 ]]; then
  need+=(gcc-avr avr-libc binutils-avr simavr)
fi
bash "$here/../../scripts/install-debian-packages.sh" --by run-tests.sh "${need[@]}"

jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null
ctest --test-dir "$build" --output-on-failure -j "$jobs"

if command -v avr-size >/dev/null 2>&1 && [[ -f "$build/bench_protocol.avr.o" ]]; then
  echo "AVR objects (avr-gcc -Os -mmcu=atmega328p):"
  avr-size "$build/bench_protocol.avr.o" "$build/bench_protocol_messages.avr.o"
fi
