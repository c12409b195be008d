#include "mw_biquad.h"

#include <stddef.h>

#include "mw_biquad_impl.h"

int32_t mw_biquad_q15_init(mw_biquad_q15_t *s, uint32_t n_stages, const int16_t *coeffs,
                           mw_biq15_state_t *state, int32_t post_shift)
{
    if (s == NULL || coeffs == NULL || state == NULL || n_stages == 0u || post_shift < 0 ||
        post_shift > MW_BIQUAD_MAX_POST_SHIFT) {
        return MW_ERR_ARG;
    }
    s->n_stages = n_stages;
    s->post_shift = post_shift;
    s->coeffs = coeffs;
    s->state = state;
    for (uint32_t k = 0; k < n_stages; k++) {
        state[k].x1 = state[k].x2 = state[k].y1 = state[k].y2 = 0;
    }
    return MW_OK;
}

int32_t mw_biquad_q31_init(mw_biquad_q31_t *s, uint32_t n_stages, const int32_t *coeffs,
                           mw_biq32_state_t *state, int32_t post_shift)
{
    if (s == NULL || coeffs == NULL || state == NULL || n_stages == 0u || post_shift < 0 ||
        post_shift > MW_BIQUAD_MAX_POST_SHIFT) {
        return MW_ERR_ARG;
    }
    for (uint32_t k = 0; k < n_stages; k++) {
        if (!mw__biq31_coeffs_ok(&coeffs[5u * k])) {
            return MW_ERR_RANGE;
        }
    }
    s->n_stages = n_stages;
    s->post_shift = post_shift;
    s->coeffs = coeffs;
    s->state = state;
    for (uint32_t k = 0; k < n_stages; k++) {
        state[k].x1 = state[k].x2 = state[k].y1 = state[k].y2 = 0;
    }
    return MW_OK;
}

int32_t mw_biquad_q31x64_init(mw_biquad_q31x64_t *s, uint32_t n_stages, const int32_t *coeffs,
                              mw_biq31_state_t *state, int32_t post_shift)
{
    if (s == NULL || coeffs == NULL || state == NULL || n_stages == 0u || post_shift < 0 ||
        post_shift > MW_BIQUAD_MAX_POST_SHIFT) {
        return MW_ERR_ARG;
    }
    for (uint32_t k = 0; k < n_stages; k++) {
        if (!mw__biq31_coeffs_ok(&coeffs[5u * k])) {
            return MW_ERR_RANGE;
        }
    }
    s->n_stages = n_stages;
    s->post_shift = post_shift;
    s->coeffs = coeffs;
    s->state = state;
    for (uint32_t k = 0; k < n_stages; k++) {
        state[k].x1 = state[k].x2 = 0;
        state[k].y1 = state[k].y2 = 0;
    }
    return MW_OK;
}

void mw_biquad_q15_process(const mw_biquad_q15_t *s, const int32_t *src, int32_t *dst, uint32_t n)
{
    mw__sat_block(src, dst, n);
    for (uint32_t k = 0; k < s->n_stages; k++) {
        const int16_t *c = &s->coeffs[5u * k];
        mw__biq15_stage(c[0], c[1], c[2], c[3], c[4], s->post_shift, &s->state[k], dst, dst, n);
    }
}

void mw_biquad_q15_process_i16(const mw_biquad_q15_t *s, const int16_t *src, int16_t *dst,
                               uint32_t n)
{
    const unsigned sh = (unsigned)(15 - s->post_shift);
    const int64_t rnd = (int64_t)1 << (sh - 1u);
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = src[i];
        for (uint32_t k = 0; k < s->n_stages; k++) {
            const int16_t *c = &s->coeffs[5u * k];
            mw_biq15_state_t *st = &s->state[k];
            int64_t acc = (int64_t)c[0] * v + (int64_t)c[1] * st->x1 + (int64_t)c[2] * st->x2 +
                          (int64_t)c[3] * st->y1 + (int64_t)c[4] * st->y2;
            int64_t y = mw_asr64(acc + rnd, sh);
            if (y > INT16_MAX) {
                y = INT16_MAX;
            } else if (y < INT16_MIN) {
                y = INT16_MIN;
            }
            st->x2 = st->x1;
            st->x1 = v;
            st->y2 = st->y1;
            st->y1 = (int32_t)y;
            v = (int32_t)y;
        }
        dst[i] = (int16_t)v;
    }
}

void mw_biquad_q31_process(const mw_biquad_q31_t *s, const int32_t *src, int32_t *dst, uint32_t n)
{
    mw__sat_block(src, dst, n);
    for (uint32_t k = 0; k < s->n_stages; k++) {
        mw__biq31s_stage(&s->coeffs[5u * k], s->post_shift, &s->state[k], dst, dst, n);
    }
}

void mw_biquad_q31x64_process(const mw_biquad_q31x64_t *s, const int32_t *src, int32_t *dst,
                              uint32_t n)
{
    mw__sat_block(src, dst, n);
    for (uint32_t k = 0; k < s->n_stages; k++) {
        mw__biq31_stage(&s->coeffs[5u * k], s->post_shift, &s->state[k], dst, dst, n);
    }
}
