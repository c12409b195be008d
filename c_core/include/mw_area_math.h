/* Fixed-point helpers for the MUNE modules: log2, exp2 and integer square root.
 *
 * Why here: MUNIX works in the log-log domain (ICMUC against SIP area), and jiggle/firing need
 * square roots. Doing them in integers keeps host and Cortex-M4 output bit-identical, which libm
 * (glibc vs newlib logf/expf) would not.
 */
#ifndef MW_AREA_MATH_H
#define MW_AREA_MATH_H

#include <stdint.h>

/* Smallest value mw_log2_u64_q16 returns (for x == 0): stands for minus infinity. */
#define MW_LOG2_ZERO_Q16 (-2147483647)

/* log2(x) in Q16.16 (x > 0), bit-by-bit by repeated squaring of the Q1.31 mantissa:
 * error < 2^-15 (truncation); returns MW_LOG2_ZERO_Q16 for x == 0. */
int32_t mw_log2_u64_q16(uint64_t x);

/* 2^(x / 65536) in Q16.16, rounded to nearest; 0 below 2^-17, UINT64_MAX when it does not fit.
 * Degree-7 Taylor series of 2^f on [0, 1) in Q30: relative error < 1e-5. */
uint64_t mw_exp2_q16(int32_t x_q16);

/* floor(sqrt(x)) for any 64-bit x. */
uint32_t mw_isqrt_u64(uint64_t x);

#endif /* MW_AREA_MATH_H */
