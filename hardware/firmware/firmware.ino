/*
 * Bench reference rig firmware, as an Arduino sketch.
 *
 * The firmware is plain C (avr-libc, register level) in src/: src/main.c has its
 * own main(), which replaces the Arduino core's main(), so there is no setup() or
 * loop() and no Arduino core code in the firmware (nothing of the core is linked).
 * src/bench_protocol.[ch] are byte-identical copies of firmware-protocol/c/
 * (the Makefile keeps them so).
 *
 * Arduino IDE: open this folder, Tools > Board > "Arduino Uno", Upload.
 * Command line (Debian gcc-avr): make && make flash PORT=/dev/ttyACM0
 * Wiring, limits and safety rules: ../README.md.
 */
