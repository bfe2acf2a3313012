/*
 * Bench reference rig firmware, as an Arduino sketch.
 *
 * The firmware is plain C (avr-libc, register level) in src/: src/main.c has its
 * own main(), which replaces the Arduino core's main(), so there is no setup() or
 * loop() and no Arduino core code in the firmware (nothing of the core is linked).
 * The protocol is the Arduino library BenchProtocol, firmware-protocol/c (its
 * library.properties and src/), included below: there is no copy of it here.
 *
 * Arduino IDE: install the library once (Sketch > Include Library > Add .ZIP Library...
 * on the folder firmware-protocol/c, or link it into your sketchbook's libraries/ as
 * BenchProtocol), then open this folder, Tools > Board > "Arduino Uno", Upload.
 * Command line (Debian gcc-avr): make && make flash PORT=/dev/ttyACM0
 * Wiring, limits and safety rules: ../README.md.
 */
#include <bench_protocol.h>
