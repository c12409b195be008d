/* Private block steps of the noise tracker, shared with the detector. */
#ifndef MW_NOISE_IMPL_H
#define MW_NOISE_IMPL_H

#include "mw_dsp.h"
#include "mw_noise.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Scan n samples of one block: returns how many have min(|d|, MW_DATA_MAX) > m (the noise
 * vote; the magnitude of the saturated sample, whatever the input) and sets *hit when one
 * reaches thr (<= MW_DATA_MAX). in_range: the caller knows |d| <= MW_DATA_MAX (the chain's
 * filter output), so the clamp can go. Full blocks use SSE2 on x86-64 (same result). The
 * portable loop is branch-free: with a <= 2^30 and m < 2^31 (mw_noise.h), a > m is the sign
 * of m - a and a >= thr the sign of thr - 1 - a. */
MW_INLINE uint32_t mw__scan(const int32_t *d, uint32_t n, uint32_t m, uint32_t thr, int *hit,
                            int in_range)
{
#if defined(__SSE2__)
    if (n == MW_NOISE_BLOCK && thr != 0u) {
        /* unsigned compares of a = |x| (2^31 for INT32_MIN) through a sign-bit flip; without
         * the clamp, the count can differ only for a > MW_DATA_MAX >= thr, i.e. in a block
         * that hits, which is then counted again below with the clamp */
        const __m128i bias = _mm_set1_epi32(INT32_MIN);
        const __m128i vm = _mm_set1_epi32((int32_t)(m ^ 0x80000000u));
        const __m128i vt = _mm_set1_epi32((int32_t)((thr - 1u) ^ 0x80000000u));
        __m128i cnt = _mm_setzero_si128(), h = _mm_setzero_si128();
#pragma GCC unroll 4
        for (uint32_t i = 0; i < MW_NOISE_BLOCK; i += 4u) {
            const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)&d[i]);
            const __m128i sg = _mm_srai_epi32(x, 31);
            const __m128i a = _mm_xor_si128(_mm_sub_epi32(_mm_xor_si128(x, sg), sg), bias);
            cnt = _mm_sub_epi32(cnt, _mm_cmpgt_epi32(a, vm));
            h = _mm_or_si128(h, _mm_cmpgt_epi32(a, vt));
        }
        *hit = _mm_movemask_epi8(h) != 0;
        if (!*hit || in_range) {
            cnt = _mm_add_epi32(cnt, _mm_shuffle_epi32(cnt, 0x4e));
            cnt = _mm_add_epi32(cnt, _mm_shuffle_epi32(cnt, 0xb1));
            return (uint32_t)_mm_cvtsi128_si32(cnt);
        }
    }
#endif
    uint32_t c = 0u, h = 0u;
    const uint32_t t1 = thr - 1u;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = mw_abs32(d[i]);
        if (!in_range) {
            a = a > (uint32_t)MW_DATA_MAX ? (uint32_t)MW_DATA_MAX : a;
        }
        c += (m - a) >> 31;
        h |= t1 - a;
    }
    *hit = (h >> 31) != 0u;
    return c;
}

/* The level after a block with `above` of MW_NOISE_BLOCK samples above it (branch-free: the
 * vote is a coin flip on noise). |step * vote| <= 2^30 + 16, and m stays below 1.5 * 2^30 + 16
 * (it only grows while most samples, all <= MW_DATA_MAX, are above it), so no overflow. */
MW_INLINE uint32_t mw__noise_next(uint32_t m, unsigned shift, uint32_t above)
{
    const int32_t step = (int32_t)((m >> shift) + 1u);
    const int64_t nm = (int64_t)m + (int64_t)(step * (2 * (int32_t)above - MW_NOISE_BLOCK));
    return nm > 0 ? (uint32_t)nm : 0u;
}

/* End of a block: move the level by the block's vote, advance the warm-up. */
MW_INLINE void mw__noise_block_end(mw_noise_t *s)
{
    s->m = mw__noise_next(s->m, s->shift, s->above);
    s->above = 0u;
    s->pos = 0u;
    if (s->shift < s->target) {
        s->left -= MW_NOISE_BLOCK;
        if (s->left == 0u) {
            s->shift++;
            s->left = (uint32_t)1 << s->shift;
        }
    }
}

/* The start: mean of |x| over the first block times median/mean of a half-normal
 * (0.6745 / 0.7979 ~= 27/32), a start within ~20 % of the median. */
MW_INLINE void mw__noise_start(mw_noise_t *s, uint32_t a)
{
    s->m += a >> 4;
    if (++s->pos == MW_NOISE_BLOCK) {
        s->m = (uint32_t)(((uint64_t)s->m * 27u) >> 5);
        s->started = 1u;
        s->pos = 0u;
        s->left = (uint32_t)1 << s->shift;
    }
}

/* Add the vote of n <= MW_NOISE_BLOCK - pos samples of the current block (started tracker). */
MW_INLINE void mw__noise_add(mw_noise_t *s, uint32_t above, uint32_t n)
{
    s->above = (uint8_t)(s->above + above);
    s->pos = (uint8_t)(s->pos + n);
    if (s->pos == MW_NOISE_BLOCK) {
        mw__noise_block_end(s);
    }
}

#endif /* MW_NOISE_IMPL_H */
