/* Device-cost benchmark for Cortex-M4F under QEMU: one channel of the detection chain with the
 * configuration in bench_preset.h (written by tests/bench/bench_core.py from the host preset
 * designer), over BENCH_N samples of a synthetic EMG-like int32 signal, after priming. The
 * instruction count per sample is taken from QEMU's exec trace by the bench script (PCs inside
 * mw_* functions); the work here is bracketed by the calls to mw_chain_process only. */
#include <stdint.h>
#include <stdio.h>

#include "bench_preset.h"
#include "mw_chain.h"

#ifndef BENCH_N
#define BENCH_N 2000
#endif

static int32_t x[BENCH_N], y[BENCH_N], work[BENCH_N];
static mw_event_t ev[BENCH_N / 2 + 8];
mw_chain_t bench_chain; /* global so its size can be read from the ELF */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

int main(void)
{
    uint32_t s = 12345u;
    for (int i = 0; i < BENCH_N; i++) {
        int32_t v = 0;
        for (int k = 0; k < 4; k++) {
            v += (int32_t)(lcg(&s) >> 20) - 2048;
        }
        x[i] = v * 512 + ((i % 97) < 6 ? 8000000 * ((i % 97) - 2) : 0);
    }
    if (mw_chain_init(&bench_chain, &BENCH_CFG, NULL, 0u) != 0) {
        puts("bench: configuration rejected");
        return 1;
    }
    mw_chain_prime(&bench_chain, &BENCH_CFG, x, work, BENCH_N);
    uint32_t n = mw_chain_process(&bench_chain, &BENCH_CFG, x, y, BENCH_N, ev,
                                  sizeof ev / sizeof ev[0], NULL);
    printf("events %lu\n", (unsigned long)n);
    return 0;
}
