#!/usr/bin/env bash
# Builds the rig firmware and the simavr harness, then runs the host <-> firmware
# tests (hardware/tests/test_rig.py) on the unmodified firmware ELF. Idempotent:
# installs the Debian packages it needs only when they are missing.
#
#   hardware/run-tests.sh            the whole suite (about 30 s)
#   hardware/run-tests.sh --quick    4 s of streaming instead of 10
#   ARDUINO=1 hardware/run-tests.sh  also build the folder as an Arduino sketch
#                                    (arduino-builder, Debian's arduino-core-avr) and
#                                    run the suite on that build too
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
args=("$@")

need=(gcc-avr avr-libc binutils-avr simavr libsimavr-dev libelf-dev gcc make pkg-config arduino-mk arduino-core-avr)
command -v python3 >/dev/null 2>&1 || need+=(python3)
[[ "${ARDUINO:-0}" == 1 ]] && need+=(arduino-builder arduino-core-avr)
bash "$here/../scripts/install-debian-packages.sh" --by run-tests.sh "${need[@]}"

echo "== firmware (avr-gcc $(avr-gcc -dumpversion))"
make -C "$here/firmware" -j2 --no-print-directory
echo "== harness (simavr $(pkg-config --modversion simavr))"
make -C "$here/sim" -j2 --no-print-directory

echo "== tests"
status=0
PYTHONPATH="$here/tests" python3 "$here/tests/test_rig.py" "${args[@]}" || status=1

# StandardFirmata and ConfigurableFirmata, unmodified, from the third-party sources beside the checkout (or
# BENCH_THIRD_PARTY): the firmware labs already run, for the harness's UART and Bench's Firmata rig.
third_party="${BENCH_THIRD_PARTY:-$here/../../shared/third-party}"
if [[ -f "$third_party/Firmata/Firmata.h" ]]; then
  echo "== StandardFirmata and ConfigurableFirmata (arduino-mk, unmodified, from $third_party)"
  make -C "$here/firmata" --no-print-directory THIRD_PARTY="$(cd "$third_party" && pwd)" || status=1
  echo "== the harness's UART with firmware that transmits through the UDRE interrupt"
  PYTHONPATH="$here/tests" python3 "$here/tests/test_uart.py" "$here/firmata/build/StandardFirmata/StandardFirmata.elf" \
    "$here/firmata/build/ConfigurableFirmata/ConfigurableFirmata.elf" || status=1
else
  echo "== SKIPPED: StandardFirmata/ConfigurableFirmata UART tests: no Firmata sources at $third_party."
  echo "   Put the unmodified Firmata, ConfigurableFirmata, Servo, DHT and Adafruit_Sensor libraries there, or set"
  echo "   BENCH_THIRD_PARTY to the folder that holds them (hardware/firmata/Makefile says which)."
fi

if [[ "${ARDUINO:-0}" == 1 ]]; then
  echo "== the same folder built as an Arduino sketch (arduino-builder, board arduino:avr:uno)"
  ab="$here/firmware/build/arduino"
  mkdir -p "$ab/build" "$ab/cache"
  # -DDECIMAL_DIG: Debian's arduino-core-avr 1.8.7 core (WString.cpp, not this sketch)
  # does not build with Debian's avr-gcc 5.4 without it.
  arduino-builder -compile -hardware /usr/share/arduino/hardware -hardware /usr/share/arduino-builder \
    -tools /usr/bin -tools /usr/share/arduino-builder -fqbn arduino:avr:uno \
    -libraries "$here/../firmware-protocol" \
    -build-path "$ab/build" -build-cache "$ab/cache" -prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=17 \
    "$here/firmware/firmware.ino" | grep -E "^(Sketch|Global)" || status=1
  BENCH_ELF="$ab/build/firmware.ino.elf" PYTHONPATH="$here/tests" \
    python3 "$here/tests/test_rig.py" --quick || status=1
fi
exit $status
