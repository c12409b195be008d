/* Biquad cascades: DC behaviour, agreement between the int16 and int32 paths and between the
 * Q15 and Q31x64 kinds, saturation, chunk invariance. */
#include "mw_biquad.h"
#include "mw_core.h"
#include "mw_test.h"
#include "test_vectors.h"

#define N 4000

static int32_t x[N], y[N], y2[N];
static int16_t x16[N], y16[N];

int test_biquad(void)
{
    mw_biq15_state_t st15[2];
    mw_biq31_state_t st31[2];
    mw_biquad_q15_t lp;
    mw_biquad_q31x64_t hp;

    /* Arguments are validated. */
    MW_CHECK(mw_biquad_q15_init(&lp, 0u, TV_LP450_Q15, st15, 1) == MW_ERR_ARG);
    MW_CHECK(mw_biquad_q15_init(&lp, 1u, TV_LP450_Q15, st15, 9) == MW_ERR_ARG);
    static const int32_t too_big[5] = {INT32_MAX, INT32_MAX, INT32_MAX, 0, 0};
    MW_CHECK(mw_biquad_q31x64_init(&hp, 1u, too_big, st31, 2) == MW_ERR_RANGE);

    /* Low-pass: unit DC gain. */
    MW_CHECK(mw_biquad_q15_init(&lp, 1u, TV_LP450_Q15, st15, 1) == MW_OK);
    for (int i = 0; i < N; i++) {
        x[i] = 1000000;
    }
    mw_biquad_q15_process(&lp, x, y, N);
    MW_CHECK(y[N - 1] > 999000 && y[N - 1] < 1001000);
    mw_t_print_hex("lp_step", mw_t_digest32(y, N, MW_T_DIGEST_INIT));

    /* High-pass Q31x64: removes a DC offset to exactly zero in steady state. */
    MW_CHECK(mw_biquad_q31x64_init(&hp, 1u, TV_HP20_Q31, st31, 2) == MW_OK);
    mw_biquad_q31x64_process(&hp, x, y, N);
    MW_CHECK(y[0] > 900000);
    MW_CHECK(y[N - 1] >= -1 && y[N - 1] <= 1);
    mw_t_print_hex("hp_step", mw_t_digest32(y, N, MW_T_DIGEST_INIT));

    /* int16 path == int32 path while nothing saturates. */
    mw_t_signal(x, N, 7u, 3000, 12000, 200u, 0, 0, 80u);
    for (int i = 0; i < N; i++) {
        x16[i] = (int16_t)x[i];
    }
    MW_CHECK(mw_biquad_q15_init(&lp, 1u, TV_LP450_Q15, st15, 1) == MW_OK);
    mw_biquad_q15_process(&lp, x, y, N);
    MW_CHECK(mw_biquad_q15_init(&lp, 1u, TV_LP450_Q15, st15, 1) == MW_OK);
    mw_biquad_q15_process_i16(&lp, x16, y16, N);
    int same = 1;
    for (int i = 0; i < N; i++) {
        same &= y[i] == y16[i];
    }
    MW_CHECK(same);
    mw_t_print_hex("lp_noise", mw_t_digest32(y, N, MW_T_DIGEST_INIT));

    /* Q15 and Q31x64 versions of the same high-pass agree closely on a large signal. */
    for (int i = 0; i < N; i++) {
        x[i] *= 1000;
    }
    mw_biquad_q15_t hp15;
    MW_CHECK(mw_biquad_q15_init(&hp15, 1u, TV_HP20_Q15, st15, 1) == MW_OK);
    mw_biquad_q15_process(&hp15, x, y, N);
    MW_CHECK(mw_biquad_q31x64_init(&hp, 1u, TV_HP20_Q31, st31, 2) == MW_OK);
    mw_biquad_q31x64_process(&hp, x, y2, N);
    int64_t maxdiff = 0, maxy = 0;
    for (int i = 0; i < N; i++) {
        int64_t d = (int64_t)y[i] - y2[i];
        d = d < 0 ? -d : d;
        maxdiff = d > maxdiff ? d : maxdiff;
        maxy = (y2[i] > maxy) ? y2[i] : maxy;
    }
    MW_CHECK(maxdiff * 100 < maxy); /* within 1 % of the peak */
    mw_t_print_hex("hp31_noise", mw_t_digest32(y2, N, MW_T_DIGEST_INIT));

    /* Chunk invariance: any split gives the same output as one call (in place too). */
    MW_CHECK(mw_biquad_q31x64_init(&hp, 1u, TV_HP20_Q31, st31, 2) == MW_OK);
    for (int i = 0; i < N; i++) {
        y[i] = x[i];
    }
    int pos = 0, step = 1;
    while (pos < N) {
        int len = step < N - pos ? step : N - pos;
        mw_biquad_q31x64_process(&hp, &y[pos], &y[pos], (uint32_t)len);
        pos += len;
        step = step * 3 + 1;
    }
    same = 1;
    for (int i = 0; i < N; i++) {
        same &= y[i] == y2[i];
    }
    MW_CHECK(same);

    /* Saturation: full-scale alternating input stays in range, no overflow (UBSan watches). */
    for (int i = 0; i < N; i++) {
        x[i] = (i & 1) ? INT32_MAX : INT32_MIN;
        x16[i] = (int16_t)((i & 1) ? INT16_MAX : INT16_MIN);
    }
    MW_CHECK(mw_biquad_q31x64_init(&hp, 1u, TV_HP20_Q31, st31, 2) == MW_OK);
    mw_biquad_q31x64_process(&hp, x, y, N);
    int in_range = 1;
    for (int i = 0; i < N; i++) {
        in_range &= y[i] <= MW_DATA_MAX && y[i] >= -MW_DATA_MAX;
    }
    MW_CHECK(in_range);
    /* gain ~1 at Nyquist: the output swings over 99 % of the range */
    MW_CHECK(y[N - 1] > MW_DATA_MAX / 100 * 99 || y[N - 1] < -(MW_DATA_MAX / 100 * 99));
    MW_CHECK(mw_biquad_q15_init(&hp15, 1u, TV_HP20_Q15, st15, 1) == MW_OK);
    mw_biquad_q15_process_i16(&hp15, x16, y16, N);
    MW_CHECK(y16[N - 1] == INT16_MAX || y16[N - 1] == INT16_MIN);
    mw_t_print_hex("sat", mw_t_digest32(y, N, MW_T_DIGEST_INIT));
    return mw_test_failures;
}
