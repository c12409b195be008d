/* log2 / exp2 / isqrt helpers of the MUNE modules: exact on powers of two, within their stated
 * error elsewhere, monotone, and saturating at the ends. */
#include "mw_area_math.h"
#include "mw_test.h"

int test_area_math(void)
{
    for (int p = 0; p < 64; p++) {
        MW_CHECK(mw_log2_u64_q16((uint64_t)1u << p) == (int32_t)(p * 65536));
    }
    MW_CHECK(mw_log2_u64_q16(0u) == MW_LOG2_ZERO_Q16);
    /* log2(3) = 1.5849625 -> 103872.6 in Q16; truncation error below 2 LSB */
    int32_t l3 = mw_log2_u64_q16(3u);
    MW_CHECK(l3 >= 103870 && l3 <= 103873);
    /* monotone over a sweep */
    int32_t prev = mw_log2_u64_q16(1u);
    uint64_t h = MW_T_DIGEST_INIT;
    for (uint64_t x = 2u; x < ((uint64_t)1u << 62); x += x / 7u + 1u) {
        int32_t l = mw_log2_u64_q16(x);
        MW_CHECK(l >= prev);
        prev = l;
        h = mw_t_digest32(&l, 1u, h);
    }
    mw_t_print_hex("log2_digest", h);
    /* exp2 inverts log2 within 1e-5 relative (values >= 1.0 in Q16) */
    for (int32_t q = 0; q < 30 * 65536; q += 65536 / 3 + 17) {
        uint64_t e = mw_exp2_q16(q);
        int32_t back = mw_log2_u64_q16(e) - 16 * 65536;
        int32_t d = back - q;
        MW_CHECK(d > -4 && d < 4);
    }
    MW_CHECK(mw_exp2_q16(0) == 65536u);
    MW_CHECK(mw_exp2_q16(65536) == 131072u);
    MW_CHECK(mw_exp2_q16(-65536) == 32768u);
    MW_CHECK(mw_exp2_q16(48 * 65536) == UINT64_MAX);
    MW_CHECK(mw_exp2_q16(-40 * 65536) == 0u);
    mw_t_print_hex("exp2_e", mw_exp2_q16(94548)); /* 2^1.4427 ~= e */
    /* isqrt: exact floor on squares and their neighbours */
    for (uint32_t r = 1u; r < 4000000000u; r += r / 3u + 1u) {
        uint64_t sq = (uint64_t)r * r;
        MW_CHECK(mw_isqrt_u64(sq) == r);
        MW_CHECK(mw_isqrt_u64(sq - 1u) == r - 1u);
        MW_CHECK(mw_isqrt_u64(sq + 1u) == r);
    }
    MW_CHECK(mw_isqrt_u64(UINT64_MAX) == 4294967295u);
    mw_t_print_i64("isqrt_2e18", (int64_t)mw_isqrt_u64(2000000000000000000ull));
    return mw_test_failures;
}
