#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with only the .NET SDK: each part installs what it needs
# (idempotently), then every test runs. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Debian packages the .NET tests need: libusb-1.0 (the USB transport's native library, loaded for real), h5py
# (the NWB files are read back with this independent HDF5 reader, under /usr/bin/python3), HDMF (its validator checks
# every NWB file Bench writes against the official schema in ../shared/nwb-schema, as pynwb's does), openpyxl (reads
# the spreadsheet exports back), Chromium (the page's browser test, driven by Playwright with this executable).
# Node.js and npm, which the build needs to vendor uPlot, are installed by src/Bench.Service/web/vendor.sh when npm
# is missing.
bash scripts/install-debian-packages.sh --by test.sh libusb-1.0-0 python3-h5py python3-hdmf python3-openpyxl chromium

echo "== wire protocol: the files generated from firmware-protocol/messages.json are up to date (firmware-protocol/gen --check)"
dotnet run --project firmware-protocol/gen -c Release -- --check

echo "== house style: every test is named as a sentence (the field and code-style rules are checked by the build)"
python3 scripts/check-test-names.py

echo "== wire protocol: C library against the golden vectors (CTest + GoogleTest; also on a simulated ATmega328P)"
BP_AVR=1 bash firmware-protocol/c/run-tests.sh

echo "== reference rig firmware: built with gcc-avr, run unmodified on simavr, checked cycle by cycle (installs its packages)"
hardware=0
bash hardware/run-tests.sh || hardware=$?

echo "== .NET: unit, validation, CLI and host <-> firmware tests (xunit)"
status=0
# Built once (in parallel), then the test projects run one after another (-m:1): each runs its own tests in parallel,
# and the tests that load the machine on purpose (twenty emulated benches, AVR emulation, Chromium) are meant to have
# it to themselves, which five test processes at once on two cores would deny them.
dotnet build Bench.sln -c Release --nologo 2>&1 | tee "$log" || status=$?
((status == 0)) && { dotnet test Bench.sln -c Release --nologo --no-build -m:1 2>&1 | tee -a "$log" || status=$?; }

# One closing line over all test projects.
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
echo "dotnet: $passed passed, $failed failed"
((hardware == 0)) || { echo "hardware/run-tests.sh failed (status $hardware)"; exit "$hardware"; }
exit "$status"
