/* Private block steps of the noise tracker, shared with the detector. */
#ifndef MW_NOISE_IMPL_H
#define MW_NOISE_IMPL_H

#include "mw_dsp.h"
#include "mw_noise.h"

/* Samples with |a| > m among n magnitudes (the counting half of a block). */
MW_INLINE uint32_t mw__count_above(const uint32_t *a, uint32_t n, uint32_t m)
{
    uint32_t c = 0u;
    for (uint32_t i = 0; i < n; i++) {
        c += a[i] > m;
    }
    return c;
}

/* End of a block: move the level by the block's vote, advance the warm-up. */
MW_INLINE void mw__noise_block_end(mw_noise_t *s)
{
    const uint32_t m = s->m;
    const uint32_t step = (m >> s->shift) + 1u;
    const uint32_t up = 2u * s->above;
    if (up >= MW_NOISE_BLOCK) {
        s->m = m + step * (up - MW_NOISE_BLOCK);
    } else {
        const uint32_t down = step * (MW_NOISE_BLOCK - up);
        s->m = m > down ? m - down : 0u;
    }
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

/* Feed n <= MW_NOISE_BLOCK - pos magnitudes of the current block (started tracker). */
MW_INLINE void mw__noise_feed(mw_noise_t *s, const uint32_t *a, uint32_t n)
{
    s->above = (uint8_t)(s->above + mw__count_above(a, n, s->m));
    s->pos = (uint8_t)(s->pos + n);
    if (s->pos == MW_NOISE_BLOCK) {
        mw__noise_block_end(s);
    }
}

#endif /* MW_NOISE_IMPL_H */
