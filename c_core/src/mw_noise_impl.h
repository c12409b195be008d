/* Private per-sample step of the noise tracker. */
#ifndef MW_NOISE_IMPL_H
#define MW_NOISE_IMPL_H

#include "mw_dsp.h"
#include "mw_noise.h"

MW_INLINE void mw__noise_step(mw_noise_t *s, uint32_t a)
{
    if (!s->started) {
        /* start: mean of |x| over the first 16 samples times median/mean of a half-normal
         * (0.6745 / 0.7979 ~= 27/32), a start within ~20 % of the median */
        s->m += a >> 4;
        if (--s->left == 0u) {
            s->m = (uint32_t)(((uint64_t)s->m * 27u) >> 5);
            s->started = 1u;
            s->left = (uint32_t)1 << s->shift;
        }
        return;
    }
    const uint32_t m = s->m;
    const uint32_t step = (m >> s->shift) + 1u;
    if (a > m) {
        s->m = m + step;
    } else if (a < m) {
        s->m = m > step ? m - step : 0u;
    }
    if (s->shift < s->target) {
        if (--s->left == 0u) {
            s->shift++;
            s->left = (uint32_t)1 << s->shift;
        }
    }
}

#endif /* MW_NOISE_IMPL_H */
