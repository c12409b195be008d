/* Firing statistics: a constant train has rate fs/ISI and CV 0; a jittered train matches the
 * direct computation; out-of-range ISIs are left out and counted; disorder is refused. */
#include "mw_firing.h"
#include "mw_test.h"

#define N 400

static uint32_t t[N];

int test_firing(void)
{
    mw_firing_stats_t st;
    for (uint32_t i = 0; i < N; i++) {
        t[i] = 1000u + i * 200u;
    }
    MW_CHECK(mw_firing_stats(t, N, 2000u, 40u, 500u, &st) == MW_FIRING_OK);
    MW_CHECK(st.n_isi == N - 1u && st.cv_q16 == 0u);
    MW_CHECK(st.rate_hz_q16 == 10u * 65536u);
    MW_CHECK(st.mean_isi_q16 == 200u * 65536u);
    /* jittered ISIs 200 +- up to 30 samples, plus a double detection and a pause */
    mw_rng_t r;
    mw_rng_seed(&r, 5u);
    uint32_t now = 500u;
    int64_t s1 = 0, s2 = 0;
    uint32_t used = 0u;
    for (uint32_t i = 0; i < N; i++) {
        uint32_t isi = 170u + (mw_rng_u32(&r) % 61u);
        if (i == 100u) {
            isi = 5u; /* double detection */
        } else if (i == 200u) {
            isi = 3000u; /* pause */
        } else if (i > 0u) {
            s1 += isi;
            s2 += (int64_t)isi * isi;
            used++;
        }
        now += isi;
        t[i] = now;
    }
    MW_CHECK(mw_firing_stats(t, N, 2000u, 40u, 500u, &st) == MW_FIRING_OK);
    MW_CHECK(st.n_short == 1u && st.n_long == 1u && st.n_isi == used);
    /* mean and SD against the direct sums (Q16 within 2 LSB on the mean, 0.1 % on the SD) */
    int64_t mean_q16 = (s1 * 65536 + used / 2) / used;
    MW_CHECK((int64_t)st.mean_isi_q16 - mean_q16 <= 2 && mean_q16 - (int64_t)st.mean_isi_q16 <= 2);
    int64_t var = (s2 - s1 * s1 / used) / (used - 1);  /* samples^2, integer part */
    int64_t sd2_q16 = (int64_t)((st.sd_isi_q16 * st.sd_isi_q16) >> 32);
    MW_CHECK(sd2_q16 >= var - var / 500 - 1 && sd2_q16 <= var + var / 500 + 1);
    mw_t_print_i64("rate_q16", st.rate_hz_q16);
    mw_t_print_i64("cv_q16", st.cv_q16);
    mw_t_print_i64("sd_q16", (int64_t)st.sd_isi_q16);
    /* refusals and degenerate input */
    t[5] = t[4];
    MW_CHECK(mw_firing_stats(t, N, 2000u, 40u, 500u, &st) == MW_FIRING_EORDER);
    MW_CHECK(mw_firing_stats(t, 1u, 2000u, 40u, 500u, &st) == MW_FIRING_OK && st.n_isi == 0u &&
             st.rate_hz_q16 == 0u);
    MW_CHECK(mw_firing_stats(t, N, 0u, 40u, 500u, &st) == MW_FIRING_EINVAL);
    MW_CHECK(mw_firing_stats(t, N, 2000u, 600u, 500u, &st) == MW_FIRING_EINVAL);
    MW_CHECK(mw_firing_stats(t, N, 2000u, 1u, MW_FIRING_MAX_ISI + 1u, &st) == MW_FIRING_EINVAL);
    return mw_test_failures;
}
