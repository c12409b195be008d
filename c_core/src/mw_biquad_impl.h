/* Private per-stage kernels of the biquads, shared by the cascades and the detection chain.
 * Every kernel computes, per sample, acc = b0 x0 + b1 x1 + b2 x2 + a1 y1 + a2 y2 exactly (64-bit)
 * and y = sat(floor((acc + 2^(sh-1)) / 2^sh)), sh = 15 - post_shift (Q15) or 31 - post_shift
 * (Q31); that definition is what the x86-64 vector kernels (mw_bank_x86.c) reproduce bit for
 * bit. Inputs are in [-MW_DATA_MAX, MW_DATA_MAX] (callers saturate once, see mw__sat_block). */
#ifndef MW_BIQUAD_IMPL_H
#define MW_BIQUAD_IMPL_H

#include "mw_biquad.h"
#include "mw_dsp.h"

/* One Q15-coefficient stage (c = {b0, b1, b2, a1, a2}). The coefficients are scaled by
 * 2^(1 + post_shift) once (|c'| <= 2^24, |acc'| < 2^57), so that every post-shift rounds by the
 * same constant shift: floor((acc' + 2^15) / 2^16) = floor((acc + 2^(sh-1)) / 2^sh) exactly. */
MW_INLINE void mw__biq15_stage(int32_t cb0, int32_t cb1, int32_t cb2, int32_t ca1, int32_t ca2,
                               int32_t post_shift, mw_biq15_state_t *st, const int32_t *src,
                               int32_t *dst, uint32_t n)
{
    const int32_t up = (int32_t)1 << (1 + post_shift);
    const int32_t b0 = cb0 * up, b1 = cb1 * up, b2 = cb2 * up, a1 = ca1 * up, a2 = ca2 * up;
    int32_t x1 = st->x1, x2 = st->x2, y1 = st->y1, y2 = st->y2;
    for (uint32_t i = 0; i < n; i++) {
        const int32_t x0 = src[i];
        int64_t acc = ((int64_t)1 << 15) + (int64_t)b0 * x0;
        acc += (int64_t)b1 * x1;
        acc += (int64_t)b2 * x2;
        acc += (int64_t)a1 * y1;
        acc += (int64_t)a2 * y2;
        const int32_t y0 = mw_sat_data64(mw_asr64(acc, 16u));
        x2 = x1;
        x1 = x0;
        y2 = y1;
        y1 = y0;
        dst[i] = y0;
    }
    st->x1 = x1;
    st->x2 = x2;
    st->y1 = y1;
    st->y2 = y2;
}

/* One Q31-coefficient stage with 32-bit state (sum of |c| <= 2^32, so |acc| <= 2^62). */
MW_INLINE void mw__biq31s_stage(const int32_t *c, int32_t post_shift, mw_biq32_state_t *st,
                                const int32_t *src, int32_t *dst, uint32_t n)
{
    const int32_t cb0 = c[0], cb1 = c[1], cb2 = c[2], ca1 = c[3], ca2 = c[4];
    const unsigned sh = (unsigned)(31 - post_shift);
    const int64_t rnd = (int64_t)1 << (sh - 1u);
    int32_t x1 = st->x1, x2 = st->x2, y1 = st->y1, y2 = st->y2;
    for (uint32_t i = 0; i < n; i++) {
        const int32_t x0 = src[i];
        int64_t acc = rnd + (int64_t)cb0 * x0;
        acc += (int64_t)cb1 * x1;
        acc += (int64_t)cb2 * x2;
        acc += (int64_t)ca1 * y1;
        acc += (int64_t)ca2 * y2;
        const int32_t y0 = mw_sat_data64(mw_asr64(acc, sh));
        x2 = x1;
        x1 = x0;
        y2 = y1;
        y1 = y0;
        dst[i] = y0;
    }
    st->x1 = x1;
    st->x2 = x2;
    st->y1 = y1;
    st->y2 = y2;
}

/* One Q31-coefficient stage with 64-bit output state over int32 data in range (callers
 * saturate the input once). c = {b0, b1, b2, a1, a2}. acc is in units of y * 2^(31 - post_shift);
 * |acc| <= sum|c| * 2^30 <= 2^62 (checked at init). The clamp of acc to +-MW_DATA_MAX keeps the
 * rounded output in range, so it needs no second saturation. */
MW_INLINE void mw__biq31_stage(const int32_t *c, int32_t post_shift, mw_biq31_state_t *st,
                               const int32_t *src, int32_t *dst, uint32_t n)
{
    const int64_t b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[3], a2 = c[4];
    const unsigned sh = (unsigned)(31 - post_shift);
    const int64_t rnd = (int64_t)1 << (sh - 1u);
    const int64_t lim = (int64_t)MW_DATA_MAX << sh;
    const int64_t up = (int64_t)1 << (1 + post_shift);
    int32_t x1 = st->x1, x2 = st->x2;
    int64_t y1 = st->y1, y2 = st->y2;
    for (uint32_t i = 0; i < n; i++) {
        const int32_t x0 = src[i];
        int64_t acc = b0 * x0 + b1 * x1 + b2 * x2;
        /* y * a / 2^32 split into the high word (exact) and the low word (floored). */
        acc += a1 * (int64_t)(int32_t)(y1 >> 32) + ((a1 * (int64_t)(uint32_t)y1) >> 32);
        acc += a2 * (int64_t)(int32_t)(y2 >> 32) + ((a2 * (int64_t)(uint32_t)y2) >> 32);
        if (acc > lim) {
            acc = lim;
        } else if (acc < -lim) {
            acc = -lim;
        }
        x2 = x1;
        x1 = x0;
        y2 = y1;
        y1 = acc * up;
        dst[i] = (int32_t)((acc + rnd) >> sh);
    }
    st->x1 = x1;
    st->x2 = x2;
    st->y1 = y1;
    st->y2 = y2;
}

/* Saturate a block into the data range (once, before the first stage). */
MW_INLINE void mw__sat_block(const int32_t *src, int32_t *dst, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        dst[i] = mw_sat_data(src[i]);
    }
}

MW_INLINE int mw__biq31_coeffs_ok(const int32_t *c)
{
    uint64_t sum = 0;
    for (int k = 0; k < 5; k++) {
        sum += mw_abs32(c[k]);
    }
    return sum <= ((uint64_t)1 << 32);
}

#endif /* MW_BIQUAD_IMPL_H */
