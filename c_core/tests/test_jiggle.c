/* Jiggle: identical consecutive discharges give CAD 0 and CCC 1 even when shifted (alignment);
 * shape variability raises CAD and lowers CCC, monotonically with its size; skips break pairs. */
#include "mw_jiggle.h"
#include "mw_test.h"

#define LEN 80
#define K 30

static int32_t snip[K * LEN];
static uint8_t skip[K];

static void fill(int32_t var_amp, uint64_t seed)
{
    mw_rng_t r;
    mw_rng_seed(&r, seed);
    for (int k = 0; k < K; k++) {
        int32_t shift = (int32_t)(mw_rng_u32(&r) % 5u) - 2;
        int32_t g1 = 100000 + mw_rng_gauss(&r, var_amp);
        int32_t g2 = 60000 + mw_rng_gauss(&r, var_amp);
        for (int32_t i = 0; i < LEN; i++) {
            int32_t d1 = i - 30 - shift;
            int32_t d2 = i - 42 - shift;
            int32_t v = 0;
            if (d1 > -6 && d1 < 6) {
                v -= g1 * (36 - d1 * d1) / 36;
            }
            if (d2 > -6 && d2 < 6) {
                v += g2 * (36 - d2 * d2) / 36;
            }
            snip[k * LEN + i] = v;
        }
    }
}

int test_jiggle(void)
{
    mw_jiggle_result_t res;
    fill(0, 1u);
    MW_CHECK(mw_jiggle(snip, K, LEN, 4u, NULL, &res) == MW_JIGGLE_OK);
    MW_CHECK(res.n_pairs == K - 1u && res.cad_q15 == 0 && res.ccc_q15 == 32768);
    int32_t prev_cad = 0, prev_ccc = 32768;
    const int32_t vars[3] = {5000, 15000, 40000};
    for (int i = 0; i < 3; i++) {
        fill(vars[i], 2u);
        MW_CHECK(mw_jiggle(snip, K, LEN, 4u, NULL, &res) == MW_JIGGLE_OK);
        MW_CHECK(res.cad_q15 > prev_cad && res.ccc_q15 < prev_ccc);
        prev_cad = res.cad_q15;
        prev_ccc = res.ccc_q15;
        mw_t_print_i64("cad_q15", res.cad_q15);
        mw_t_print_i64("ccc_q15", res.ccc_q15);
    }
    for (int k = 0; k < K; k++) {
        skip[k] = (uint8_t)(k % 3 == 0);
    }
    MW_CHECK(mw_jiggle(snip, K, LEN, 4u, skip, &res) == MW_JIGGLE_OK);
    MW_CHECK(res.n_pairs == 10u); /* pairs (j-1, j) with j % 3 == 2 */
    MW_CHECK(mw_jiggle(snip, 1u, LEN, 4u, NULL, &res) == MW_JIGGLE_ENODATA);
    MW_CHECK(mw_jiggle(snip, K, 10u, 4u, NULL, &res) == MW_JIGGLE_EINVAL);
    return mw_test_failures;
}
