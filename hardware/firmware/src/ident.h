/*
 * ident.h - the rig's 64-bit unique id, kept in EEPROM (PROTOCOL.md 5.3).
 *
 * EEPROM layout (bytes 0-13; `make eeprom ID=...` writes the same at flash time):
 *   0-3   magic "BNCH"
 *   4-11  unique id, little-endian
 *   12-13 CRC-16/CCITT-FALSE of bytes 0-11, little-endian
 * At boot a valid record is used as is; otherwise (first boot, erased EEPROM) a
 * new id is drawn from power-up SRAM contents and ADC noise and written once.
 */
#ifndef IDENT_H
#define IDENT_H

#include <stdint.h>

/* Reads the id, creating it on first boot. Call early in main, before the
 * free RAM is used (its power-up contents are part of the seed). */
uint64_t ident_load(void);

#endif
