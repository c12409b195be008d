/* Jitter: sub-sample peak timing of a band-limited spike is within 0.03 sample of the truth at
 * every sub-sample offset; the MCD of a pair with known interval differences is recovered;
 * blocked potentials are counted and left out; bad windows are refused. */
#include "mw_jitter.h"
#include "mw_test.h"

#define LEN 64
#define K 40

static int32_t snip[K * LEN];
static int32_t ipi[K];
static uint8_t blk[K];

/* A smooth spike: 1000 * (1 - (d/w)^2)^3 for |d| < w (w = 3 samples), in integer arithmetic,
 * d = sample - centre, centre in Q8 samples. */
static int32_t spike_q8(int32_t i, int32_t centre_q8, int32_t amp)
{
    int64_t d = (int64_t)i * 256 - centre_q8; /* Q8 */
    int64_t w = 3 * 256;
    if (d <= -w || d >= w) {
        return 0;
    }
    int64_t u = 65536 - (d * d * 65536) / (w * w); /* Q16 of 1 - (d/w)^2 */
    int64_t c = (u * u / 65536) * u / 65536;        /* cubed, Q16 */
    return (int32_t)((c * amp) / 65536);
}

int test_jitter(void)
{
    int32_t x[LEN];
    int32_t worst = 0;
    for (int32_t off = 0; off < 256; off += 16) {
        int32_t c = 20 * 256 + off;
        for (int32_t i = 0; i < LEN; i++) {
            x[i] = -spike_q8(i, c, 100000);
        }
        int32_t t = 0, v = 0;
        MW_CHECK(mw_jitter_peak_q16(x, LEN, 10u, 30u, -1, &t, &v) == MW_JITTER_OK);
        int32_t err = t - c * 256;
        err = err < 0 ? -err : err;
        worst = err > worst ? err : worst;
        MW_CHECK(v < -90000);
    }
    MW_CHECK(worst < 2000); /* < 0.03 sample in Q16 */
    mw_t_print_i64("peak_worst_err_q16", worst);
    /* pair mode: potential 2 moves by a known pattern of 0, +64, 0, -64 Q8 (0.25 sample) */
    const int32_t pat[4] = {0, 64, 0, -64};
    for (int k = 0; k < K; k++) {
        for (int32_t i = 0; i < LEN; i++) {
            snip[k * LEN + i] = spike_q8(i, 15 * 256, 50000) + spike_q8(i, 40 * 256 + pat[k % 4], 40000);
        }
    }
    mw_jitter_cfg_t cfg = {10u, 20u, 1, 20000, 35u, 45u, 1, 20000};
    mw_jitter_result_t res;
    MW_CHECK(mw_jitter_mcd(snip, K, LEN, &cfg, ipi, blk, &res) == MW_JITTER_OK);
    MW_CHECK(res.n_diffs == K - 1u && res.n_blocked == 0u);
    /* every consecutive difference is 0.25 sample = 16384 in Q16 */
    MW_CHECK(res.mcd_q16 > 16384u - 600u && res.mcd_q16 < 16384u + 600u);
    mw_t_print_i64("mcd_q16", res.mcd_q16);
    mw_t_print_hex("ipi_digest", mw_t_digest32(ipi, K, MW_T_DIGEST_INIT));
    /* block potential 2 on discharge 7: counted, and pairs 6-7 and 7-8 left out */
    for (int32_t i = 0; i < LEN; i++) {
        snip[7 * LEN + i] = spike_q8(i, 15 * 256, 50000);
    }
    MW_CHECK(mw_jitter_mcd(snip, K, LEN, &cfg, ipi, blk, &res) == MW_JITTER_OK);
    MW_CHECK(res.n_blocked == 1u && blk[7] == 1u && res.n_diffs == K - 3u);
    /* trigger mode */
    mw_jitter_cfg_t trig = {10u, 20u, 1, 20000, 0u, 0u, 1, 0};
    MW_CHECK(mw_jitter_mcd(snip, K, LEN, &trig, ipi, blk, &res) == MW_JITTER_OK);
    MW_CHECK(res.mcd_q16 < 200u);
    /* refusals */
    mw_jitter_cfg_t bad = {20u, 10u, 1, 0, 0u, 0u, 1, 0};
    MW_CHECK(mw_jitter_mcd(snip, K, LEN, &bad, ipi, blk, &res) == MW_JITTER_EINVAL);
    MW_CHECK(mw_jitter_peak_q16(x, LEN, 0u, LEN + 1u, 1, &worst, &worst) == MW_JITTER_EINVAL);
    MW_CHECK(mw_jitter_peak_q16(x, LEN, 0u, 10u, 0, &worst, &worst) == MW_JITTER_EINVAL);
    return mw_test_failures;
}
