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
    s->left = s->started ? (uint32_t)1 << MW_NOISE_SHIFT_START : 16u;
    s->reserved = 0u;
    return MW_OK;
}

void mw_noise_process(mw_noise_t *s, const int32_t *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        mw__noise_step(s, mw_abs32(mw_sat_data(x[i])));
    }
}

void mw_noise_set_warm(mw_noise_t *s)
{
    s->shift = s->target;
    s->left = 0u;
    s->started = 1u;
}

int32_t mw_noise_is_warm(const mw_noise_t *s)
{
    return s->shift >= s->target;
}

uint32_t mw_noise_median(const mw_noise_t *s)
{
    return s->m;
}
