#include "mw_noise.h"

#include <stddef.h>

#include "mw_noise_impl.h"

int32_t mw_noise_init(mw_noise_t *s, uint32_t shift_target, uint32_t m0)
{
    if (s == NULL || shift_target < MW_NOISE_SHIFT_START || shift_target > MW_NOISE_SHIFT_MAX ||
        m0 > (uint32_t)MW_DATA_MAX) {
        return MW_ERR_ARG;
    }
    s->m = m0;
    s->started = m0 != 0u;
    s->shift = MW_NOISE_SHIFT_START;
    s->target = (uint8_t)shift_target;
    s->left = (uint32_t)1 << MW_NOISE_SHIFT_START;
    s->pos = 0u;
    s->above = 0u;
    s->reserved[0] = s->reserved[1] = s->reserved[2] = 0u;
    return MW_OK;
}

void mw_noise_process(mw_noise_t *s, const int32_t *x, uint32_t n)
{
    uint32_t i = 0;
    while (i < n && !s->started) {
        mw__noise_start(s, mw_abs32(mw_sat_data(x[i++])));
    }
    while (i < n) {
        uint32_t len = MW_NOISE_BLOCK - s->pos;
        if (len > n - i) {
            len = n - i;
        }
        int hit;
        mw__noise_add(s, mw__scan(&x[i], len, s->m, (uint32_t)MW_DATA_MAX + 1u, &hit, 0), len);
        i += len;
    }
}

void mw_noise_set_warm(mw_noise_t *s)
{
    s->shift = s->target;
    s->left = 0u;
    s->started = 1u;
    s->pos = 0u;
    s->above = 0u;
}

int32_t mw_noise_is_warm(const mw_noise_t *s)
{
    return s->started && s->shift >= s->target;
}

uint32_t mw_noise_median(const mw_noise_t *s)
{
    return s->m;
}
