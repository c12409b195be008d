/* Area/power accumulator: sums equal the direct computation in any chunking, clipping is
 * counted, sub-block powers add up to the total, and overflowing blocks are refused. */
#include "mw_area.h"
#include "mw_test.h"

#define N 6000

static int32_t x[N];
static uint64_t sub[64];
static uint64_t sub2[64];

int test_area(void)
{
    mw_rng_t r;
    mw_rng_seed(&r, 21u);
    for (int i = 0; i < N; i++) {
        x[i] = mw_rng_gauss(&r, 200000);
    }
    x[17] = 9000000;  /* clipped to +2^23-1 */
    x[18] = -9000000; /* clipped to -(2^23-1) */
    uint64_t sa = 0u, sq = 0u;
    for (int i = 0; i < N; i++) {
        int32_t v = x[i] > MW_AREA_CODE_MAX ? MW_AREA_CODE_MAX
                                            : (x[i] < -MW_AREA_CODE_MAX ? -MW_AREA_CODE_MAX : x[i]);
        uint64_t a = (uint64_t)(v < 0 ? -v : v);
        sa += a;
        sq += a * a;
    }
    mw_area_t s;
    MW_CHECK(mw_area_init(&s, 100u, sub, 60u) == MW_AREA_OK);
    MW_CHECK(mw_area_process_i32(&s, x, N) == MW_AREA_OK);
    MW_CHECK(s.sum_abs == sa && s.sum_sq == sq && s.n == N && s.clipped == 2u);
    MW_CHECK(s.max == MW_AREA_CODE_MAX && s.min == -MW_AREA_CODE_MAX);
    MW_CHECK(s.sub_n == 60u);
    uint64_t tot = 0u;
    for (uint32_t j = 0; j < s.sub_n; j++) {
        tot += sub[j];
    }
    MW_CHECK(tot == sq);
    /* chunked: the same */
    mw_area_t c;
    MW_CHECK(mw_area_init(&c, 100u, sub2, 60u) == MW_AREA_OK);
    uint32_t pos = 0u, step = 1u;
    while (pos < N) {
        uint32_t m = (N - pos < step) ? (N - pos) : step;
        MW_CHECK(mw_area_process_i32(&c, &x[pos], m) == MW_AREA_OK);
        pos += m;
        step = step * 3u + 1u;
    }
    MW_CHECK(c.sum_abs == sa && c.sum_sq == sq && c.sub_n == 60u);
    for (uint32_t j = 0; j < 60u; j++) {
        MW_CHECK(sub[j] == sub2[j]);
    }
    /* refusals: sub-block buffer too small, too many samples, bad arguments */
    MW_CHECK(mw_area_init(&c, 100u, sub2, 10u) == MW_AREA_OK);
    MW_CHECK(mw_area_process_i32(&c, x, N) == MW_AREA_EFULL);
    MW_CHECK(c.n == 0u);
    MW_CHECK(mw_area_init(&c, 0u, NULL, 0u) == MW_AREA_OK);
    for (int k = 0; k < 10; k++) {
        MW_CHECK(mw_area_process_i32(&c, x, N) == MW_AREA_OK);
    }
    MW_CHECK(mw_area_process_i32(&c, x, N) == MW_AREA_EFULL);
    MW_CHECK(mw_area_init(&c, 10u, NULL, 5u) == MW_AREA_EINVAL);
    mw_t_print_hex("sum_abs", s.sum_abs);
    mw_t_print_hex("sum_sq", s.sum_sq);
    mw_t_print_hex("sub_digest", mw_t_digest64((const int64_t *)sub, 60u, MW_T_DIGEST_INIT));
    return mw_test_failures;
}
