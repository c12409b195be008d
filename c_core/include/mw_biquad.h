/* Biquad cascades, direct form I, in the CMSIS-DSP style.
 *
 * Per stage: y = b0*x[n] + b1*x[n-1] + b2*x[n-2] + a1*y[n-1] + a2*y[n-2], where a1 and a2 are
 * the NEGATED denominators of scipy's sos rows. Coefficients are stored as {b0, b1, b2, a1, a2}
 * and scaled by 2^-post_shift so that values with |c| >= 1 fit (real c = c_q * 2^(post_shift-15)
 * for Q15, c_q * 2^(post_shift-31) for Q31). The accumulator is 64-bit; outputs are rounded to
 * nearest and saturated (to MW_DATA_MAX for int32 data, to int16 for the int16 path).
 *
 * mw_biquad_q15: Q15 coefficients, int32 (or int16) data, 32-bit state per value. Fine for
 *   poles well inside the unit circle (low-pass corners, high-pass corners above ~2 % of fs).
 * mw_biquad_q31: Q31 coefficients, int32 data, 32-bit state (like CMSIS
 *   arm_biquad_cascade_df1_q31): coefficients exact to 2^-29 (narrow notches keep their
 *   frequency) at the cost of a Q15 section on a Cortex-M4 (both are SMLAL chains).
 * mw_biquad_q31x64: Q31 coefficients, int32 data, output state kept with 32 extra fractional
 *   bits (64-bit), so rounding noise is not amplified by poles near z = 1 (low high-pass
 *   corners, narrow notches), like CMSIS arm_biquad_cas_df1_32x64_q31.
 * Which kind a stage uses is decided by the coefficient designer (muwatch.analysis._design),
 * which also checks stability and per-stage gain after quantisation.
 */
#ifndef MW_BIQUAD_H
#define MW_BIQUAD_H

#include <stdint.h>

#define MW_BIQUAD_MAX_POST_SHIFT 8

typedef struct {
    int32_t x1, x2, y1, y2;
} mw_biq15_state_t;

typedef struct {
    int32_t x1, x2;
    int64_t y1, y2; /* y * 2^32 */
} mw_biq31_state_t;

/* mw_biquad_q31 keeps the same 32-bit state as the Q15 kind. */
typedef mw_biq15_state_t mw_biq32_state_t;

typedef struct {
    uint32_t n_stages;
    int32_t post_shift;
    const int16_t *coeffs;   /* n_stages x {b0, b1, b2, a1, a2} */
    mw_biq15_state_t *state; /* n_stages, caller-owned */
} mw_biquad_q15_t;

typedef struct {
    uint32_t n_stages;
    int32_t post_shift;
    const int32_t *coeffs;   /* n_stages x {b0, b1, b2, a1, a2}, sum of |c| per stage <= 2^32 */
    mw_biq32_state_t *state; /* n_stages, caller-owned */
} mw_biquad_q31_t;

typedef struct {
    uint32_t n_stages;
    int32_t post_shift;
    const int32_t *coeffs;   /* n_stages x {b0, b1, b2, a1, a2}, sum of |c| per stage <= 2^32 */
    mw_biq31_state_t *state; /* n_stages, caller-owned */
} mw_biquad_q31x64_t;

/* Initialise and zero the state. Returns MW_OK, MW_ERR_ARG (null pointer, no stage, bad
 * post_shift) or MW_ERR_RANGE (a Q31 stage whose coefficients could overflow the accumulator). */
int32_t mw_biquad_q15_init(mw_biquad_q15_t *s, uint32_t n_stages, const int16_t *coeffs,
                           mw_biq15_state_t *state, int32_t post_shift);
int32_t mw_biquad_q31_init(mw_biquad_q31_t *s, uint32_t n_stages, const int32_t *coeffs,
                           mw_biq32_state_t *state, int32_t post_shift);
int32_t mw_biquad_q31x64_init(mw_biquad_q31x64_t *s, uint32_t n_stages, const int32_t *coeffs,
                              mw_biq31_state_t *state, int32_t post_shift);

/* Filter n samples; dst may equal src. */
void mw_biquad_q15_process(const mw_biquad_q15_t *s, const int32_t *src, int32_t *dst, uint32_t n);
void mw_biquad_q15_process_i16(const mw_biquad_q15_t *s, const int16_t *src, int16_t *dst,
                               uint32_t n);
void mw_biquad_q31_process(const mw_biquad_q31_t *s, const int32_t *src, int32_t *dst, uint32_t n);
void mw_biquad_q31x64_process(const mw_biquad_q31x64_t *s, const int32_t *src, int32_t *dst,
                              uint32_t n);

#endif /* MW_BIQUAD_H */
