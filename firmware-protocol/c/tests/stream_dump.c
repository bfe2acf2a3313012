/* Test helper for fuzz_diff.py: reads one hex stream per line from stdin and
 * prints, per line, the frames the C decoder delivers (hex, each followed by
 * ',') then ';' and the 10 counters of PROTOCOL.md 4.4. */
#include <stdio.h>
#include <string.h>

#include "bench_protocol.h"

static char line[1 << 20];

int main(void)
{
    static uint8_t buf[BP_MAX_FRAME];
    while (fgets(line, sizeof line, stdin)) {
        bp_decoder_t d;
        size_t n = strlen(line), i, k;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        bp_decoder_init(&d, buf, sizeof buf);
        for (i = 0; i + 1 < n; i += 2) {
            unsigned v;
            if (sscanf(line + i, "%2x", &v) != 1)
                return 2;
            if (bp_decoder_push(&d, (uint8_t)v) == BP_EV_FRAME) {
                for (k = 0; k < bp_frame_len(&d); k++)
                    printf("%02x", bp_frame(&d)[k]);
                putchar(',');
            }
        }
        printf(";%lu %lu %lu %lu %lu %lu %lu %lu %lu %lu\n", (unsigned long)d.count.frames_ok,
               (unsigned long)d.count.crc_errors, (unsigned long)d.count.cobs_errors,
               (unsigned long)d.count.short_frames, (unsigned long)d.count.oversized,
               (unsigned long)d.count.version_errors, (unsigned long)d.count.bytes_skipped,
               (unsigned long)d.count.resyncs, (unsigned long)d.count.frames_lost,
               (unsigned long)d.count.seq_resets);
    }
    return 0;
}
