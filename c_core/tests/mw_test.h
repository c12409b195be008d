/* Minimal test support for the C core: deterministic inputs, checks, and printing of result
 * digests. Output goes to stdout and must be identical on every target (x86-64, Cortex-M4
 * under QEMU): print only values computed from the data, never pointers or sizes of types
 * that differ between targets. printf formats for 64-bit values are not portable to
 * newlib-nano, hence the own formatters. */
#ifndef MW_TEST_H
#define MW_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int mw_test_failures;

#define MW_CHECK(cond)                                                                            \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            mw_test_failures++;                                                                   \
            mw_t_fail(__FILE__, __LINE__, #cond);                                                 \
        }                                                                                         \
    } while (0)

void mw_t_fail(const char *file, int line, const char *what);

/* xorshift64* PRNG: identical streams on every target. */
typedef struct {
    uint64_t s;
} mw_rng_t;
void mw_rng_seed(mw_rng_t *r, uint64_t seed);
uint32_t mw_rng_u32(mw_rng_t *r);
/* Approximately Gaussian integer (sum of 4 uniforms), standard deviation ~= sd. */
int32_t mw_rng_gauss(mw_rng_t *r, int32_t sd);

/* FNV-1a 64 over int32 values in little-endian byte order. */
uint64_t mw_t_digest32(const int32_t *v, size_t n, uint64_t h);
uint64_t mw_t_digest64(const int64_t *v, size_t n, uint64_t h);
#define MW_T_DIGEST_INIT 1469598103934665603ull

/* Printing helpers: "name value" lines. */
void mw_t_print_i64(const char *name, int64_t v);
void mw_t_print_hex(const char *name, uint64_t v);
void mw_t_print_vec(const char *name, const int32_t *v, size_t n);

/* A synthetic EMG-like test signal: Gaussian noise (sd) plus biphasic spikes of the given
 * amplitude every `period` samples (jittered), plus an optional DC offset and a 50 Hz-like
 * sinusoid (integer approximation, amplitude hum, period hum_period samples). Returns the
 * number of spikes. */
size_t mw_t_signal(int32_t *x, size_t n, uint64_t seed, int32_t sd, int32_t amp, uint32_t period,
                   int32_t dc, int32_t hum, uint32_t hum_period);

#endif /* MW_TEST_H */
