/* Streaming robust noise level: running median of |x|, so sigma ~= median / 0.6745.
 *
 * Method: a stochastic-approximation quantile tracker (the Frugal / Robbins-Monro family,
 * Ma, Muthukrishnan & Sandler 2013) with a multiplicative step: m += step if |x| > m,
 * m -= step if |x| < m, step = (m >> shift) + 1. Its fixed point is where |x| > m and |x| < m
 * are equally likely, i.e. the median, and it stores no samples (8 bytes, ~8 instructions per
 * sample), unlike P^2 (5 markers, a division per sample) or a block median (a block of samples).
 * Start: 27/32 of the mean |x| of the first 16 samples (median/mean of a half-normal).
 * Warm-up: shift starts at MW_NOISE_SHIFT_START and grows by one after 2^shift samples until it
 * reaches the target, so a wrong start is corrected in ~2^target samples.
 * Error bound (white Gaussian input, m >> 2^shift): with g = 2^-shift, ln m follows an AR(1)
 * process with drift -g * 2 f(m) m (ln m - ln median) = -0.857 g (...), so its stationary
 * relative SD is sqrt(g / (2 * 0.857)) = 0.76 * 2^(-shift/2): 1.2 % at shift 12, with a memory
 * of 1.17 * 2^shift samples. Band-limited (correlated) noise has fewer independent samples per
 * memory length and a proportionally larger SD; the bias is below one step.
 */
#ifndef MW_NOISE_H
#define MW_NOISE_H

#include <stdint.h>

#define MW_NOISE_SHIFT_START 4
#define MW_NOISE_SHIFT_MAX 20

typedef struct {
    uint32_t m;      /* running median of |x|, data units */
    uint32_t left;   /* samples left in the current warm-up phase */
    uint8_t shift;   /* current step shift */
    uint8_t target;  /* final step shift */
    uint8_t started; /* 0 while the first 16 samples are averaged */
    uint8_t reserved;
} mw_noise_t;

/* m0 = 0 starts from 0.845 * mean(|x|) of the first 16 samples. Returns MW_ERR_ARG for a target outside
 * [MW_NOISE_SHIFT_START, MW_NOISE_SHIFT_MAX]. */
int32_t mw_noise_init(mw_noise_t *s, uint32_t shift_target, uint32_t m0);
void mw_noise_process(mw_noise_t *s, const int32_t *x, uint32_t n);
/* Skip the warm-up (used after priming on the start of a recording). */
void mw_noise_set_warm(mw_noise_t *s);
/* 1 once the warm-up is over. */
int32_t mw_noise_is_warm(const mw_noise_t *s);
/* median(|x|); sigma = median / 0.6745. */
uint32_t mw_noise_median(const mw_noise_t *s);

#endif /* MW_NOISE_H */
