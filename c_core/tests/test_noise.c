/* Streaming median of |x|: converges to 0.6745 sd on Gaussian noise from any start, within
 * the documented error, and follows a level change. */
#include "mw_core.h"
#include "mw_noise.h"
#include "mw_test.h"

#define N 40000

static int32_t x[N];

int test_noise(void)
{
    mw_noise_t s;
    MW_CHECK(mw_noise_init(&s, 3u, 0u) == MW_ERR_ARG);
    MW_CHECK(mw_noise_init(&s, 21u, 0u) == MW_ERR_ARG);

    mw_rng_t r;
    mw_rng_seed(&r, 11u);
    for (int i = 0; i < N; i++) {
        x[i] = mw_rng_gauss(&r, 100000);
    }
    /* from a start 1000x too high, from the first sample, and from a start 1000x too low */
    const uint32_t starts[3] = {67450000u, 0u, 67u};
    for (int k = 0; k < 3; k++) {
        MW_CHECK(mw_noise_init(&s, 12u, starts[k]) == MW_OK);
        mw_noise_process(&s, x, 8192u);
        MW_CHECK(mw_noise_is_warm(&s));
        mw_noise_process(&s, &x[8192], N - 8192u);
        const int64_t m = mw_noise_median(&s);
        /* The 4-uniform generator is slightly platykurtic: its median |x| is 0.68 sd. */
        MW_CHECK(m > 63000 && m < 73000);
        mw_t_print_i64("median", m);
    }
    /* Level change x4 is followed within ~4 memory lengths. */
    for (int i = 0; i < N; i++) {
        x[i] *= 4;
    }
    mw_noise_process(&s, x, N);
    const int64_t m = mw_noise_median(&s);
    MW_CHECK(m > 4 * 63000 && m < 4 * 73000);
    mw_t_print_i64("median_x4", m);
    /* Extremes: saturated input does not overflow. */
    for (int i = 0; i < 1000; i++) {
        x[i] = (i & 1) ? INT32_MIN : INT32_MAX;
    }
    mw_noise_process(&s, x, 1000u);
    MW_CHECK(mw_noise_median(&s) <= (uint32_t)MW_DATA_MAX + (MW_DATA_MAX >> 4) + 1u);
    mw_t_print_i64("median_sat", mw_noise_median(&s));
    return mw_test_failures;
}
