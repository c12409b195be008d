/* Streaming robust noise level: running median of |x|, so sigma ~= median / 0.6745.
 *
 * Method: a stochastic-approximation quantile tracker (the Frugal / Robbins-Monro family,
 * Ma, Muthukrishnan & Sandler 2013) with a multiplicative step, updated once per block of
 * MW_NOISE_BLOCK samples: over a block the level m is held, the samples with |x| > m are
 * counted (`above`), and at the block's end m += step * (2 * above - MW_NOISE_BLOCK), with
 * step = (m >> shift) + 1 (ties count as below). That is the per-sample rule (m += step if
 * |x| > m, m -= step otherwise) with the level frozen for the block: its fixed point is still
 * where |x| > m and |x| <= m are equally likely, i.e. the median, it stores no samples
 * (16 bytes) and costs a compare and an add per sample (the counting vectorises, and a
 * detector can test a whole block against one threshold). P^2 needs 5 markers and a division
 * per sample, a block median a block of samples.
 * Blocks are counted from the first sample (any chunking gives the same levels).
 * Start: 27/32 of the mean |x| of the first block (median/mean of a half-normal: 0.845).
 * Warm-up: shift starts at MW_NOISE_SHIFT_START and grows by one after 2^shift samples until it
 * reaches the target, so a wrong start is corrected in ~2^target samples. MW_NOISE_SHIFT_START
 * is 5 so that one block moves m by at most half (step * 16 <= m / 2 + 16).
 * Error bound (white Gaussian input, m >> 2^shift): with g = 2^-shift, ln m follows an AR(1)
 * process with drift -g * 2 f(m) m (ln m - ln median) = -0.857 g (...) per sample, so its
 * stationary relative SD is sqrt(g / (2 * 0.857)) = 0.76 * 2^(-shift/2): 1.2 % at shift 12,
 * with a memory of 1.17 * 2^shift samples. Holding m for a block of 16 adds a lag of 8 samples,
 * negligible against that memory (>= 256 samples in the presets). Band-limited (correlated)
 * noise has fewer independent samples per memory length and a proportionally larger SD; the
 * bias is below one step.
 */
#ifndef MW_NOISE_H
#define MW_NOISE_H

#include <stdint.h>

#define MW_NOISE_BLOCK 16
#define MW_NOISE_SHIFT_START 5
#define MW_NOISE_SHIFT_MAX 20

typedef struct {
    uint32_t m;      /* running median of |x|, data units */
    uint32_t left;   /* samples left in the current warm-up phase */
    uint8_t pos;     /* samples of the current block seen, 0..MW_NOISE_BLOCK-1 */
    uint8_t above;   /* of those, how many had |x| > m */
    uint8_t shift;   /* current step shift */
    uint8_t target;  /* final step shift */
    uint8_t started; /* 0 while the first block is averaged */
    uint8_t reserved[3];
} mw_noise_t;

/* m0 = 0 starts from 0.845 * mean(|x|) of the first block. Returns MW_ERR_ARG for a target
 * outside [MW_NOISE_SHIFT_START, MW_NOISE_SHIFT_MAX]. */
int32_t mw_noise_init(mw_noise_t *s, uint32_t shift_target, uint32_t m0);
void mw_noise_process(mw_noise_t *s, const int32_t *x, uint32_t n);
/* Skip the warm-up (used after priming on the start of a recording); a new block starts. */
void mw_noise_set_warm(mw_noise_t *s);
/* 1 once the warm-up is over. */
int32_t mw_noise_is_warm(const mw_noise_t *s);
/* median(|x|); sigma = median / 0.6745. */
uint32_t mw_noise_median(const mw_noise_t *s);

#endif /* MW_NOISE_H */
