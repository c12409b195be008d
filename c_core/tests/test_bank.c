/* Bank filtering (several channels sharing one configuration): mw_chain_filter_bank gives
 * exactly the output and the filter states of mw_chain_filter per channel, whatever path it
 * takes (on x86-64 with AVX2+FMA the double-precision vector kernels, elsewhere the scalar
 * ones), for the surface preset and for random Q15/Q31 sections (random post-shifts, gains,
 * unstable ones that saturate), random and full-scale input, 2..9 channels, any chunking. */
#include <string.h>

#include "mw_chain.h"
#include "mw_core.h"
#include "mw_test.h"
#include "test_vectors.h"

#define NCH 9
#define N 3000

static int32_t x[NCH][N], ya[NCH][N], yb[NCH][N];
static mw_chain_t cha[NCH], chb[NCH];

static void surface_cfg(mw_chain_cfg_t *c)
{
    memset(c, 0, sizeof *c);
    for (int j = 0; j < 5; j++) {
        c->coeffs[0][j] = TV_HP20_Q15[j];
        c->coeffs[1][j] = TV_LP450_Q15[j];
        c->coeffs[2][j] = TV_NOTCH50_Q31[j];
    }
    c->post_shift[0] = 1;
    c->post_shift[1] = 1;
    c->post_shift[2] = 2;
    c->kind[0] = MW_SECTION_Q15;
    c->kind[1] = MW_SECTION_Q15;
    c->kind[2] = MW_SECTION_Q31;
    c->n_sections = 3u;
    c->noise_shift = 10u;
    c->det.thr_mult_q12 = 30364u;
    c->det.dead = 24u;
    c->det.align = 8u;
    c->det.pre = 8u;
    c->det.post = 16u;
    c->det.polarity = MW_POL_BOTH;
}

static void random_cfg(mw_chain_cfg_t *c, mw_rng_t *r)
{
    surface_cfg(c);
    c->n_sections = (uint8_t)(1u + mw_rng_u32(r) % 4u);
    c->input_shift = (uint8_t)(mw_rng_u32(r) % 3u == 0u ? mw_rng_u32(r) % 17u : 0u);
    for (uint32_t k = 0; k < c->n_sections; k++) {
        const int q31 = (int)(mw_rng_u32(r) & 1u);
        c->kind[k] = q31 ? MW_SECTION_Q31 : MW_SECTION_Q15;
        c->post_shift[k] = (int8_t)(mw_rng_u32(r) % 9u);
        for (int j = 0; j < 5; j++) {
            /* Q31: |c| < 2^29 keeps sum |c| <= 2^32 (the range the core accepts) */
            c->coeffs[k][j] = q31 ? (int32_t)(mw_rng_u32(r) >> 2) - (1 << 29)
                                  : (int32_t)(int16_t)mw_rng_u32(r);
        }
    }
}

static void fill(mw_rng_t *r, int kind)
{
    for (int c = 0; c < NCH; c++) {
        for (int i = 0; i < N; i++) {
            const uint32_t u = mw_rng_u32(r);
            if (kind == 0) {
                x[c][i] = mw_rng_gauss(r, 3000000) + ((i / 40) % 7 == 0 ? 40000000 : 0);
            } else if (kind == 1) {
                x[c][i] = (int32_t)u; /* full int32 range, saturated on entry */
            } else {
                x[c][i] = (u & 1u) ? INT32_MAX : INT32_MIN;
            }
        }
    }
}

/* Run both paths over the same input in random chunks; 1 when outputs and states agree. */
static int same_paths(const mw_chain_cfg_t *c, uint32_t n_ch, mw_rng_t *r, uint64_t *digest)
{
    for (uint32_t k = 0; k < n_ch; k++) {
        MW_CHECK(mw_chain_init(&cha[k], c, NULL, 0u) == MW_OK);
        MW_CHECK(mw_chain_init(&chb[k], c, NULL, 0u) == MW_OK);
        mw_chain_settle(&cha[k], c, x[k][0]);
        mw_chain_settle(&chb[k], c, x[k][0]);
    }
    uint32_t pos = 0u;
    while (pos < N) {
        uint32_t len = 1u + mw_rng_u32(r) % 700u;
        len = len < N - pos ? len : N - pos;
        mw_chain_filter_bank(cha, n_ch, c, &x[0][pos], N, &ya[0][pos], N, len, 0u);
        mw_chain_filter_bank(chb, n_ch, c, &x[0][pos], N, &yb[0][pos], N, len, MW_BANK_PORTABLE);
        pos += len;
    }
    int same = 1;
    for (uint32_t k = 0; k < n_ch; k++) {
        same &= memcmp(ya[k], yb[k], sizeof ya[k]) == 0;
        same &= memcmp(cha[k].sec, chb[k].sec, sizeof cha[k].sec) == 0;
        *digest = mw_t_digest32(ya[k], N, *digest);
    }
    return same;
}

int test_bank(void)
{
    mw_rng_t r;
    mw_rng_seed(&r, 2024u);
    mw_chain_cfg_t c;
    surface_cfg(&c);
    MW_CHECK(mw_chain_cfg_check(&c) == MW_OK);
    uint64_t digest = MW_T_DIGEST_INIT;
    int all_same = 1;
    for (int kind = 0; kind < 3; kind++) {
        fill(&r, kind);
        all_same &= same_paths(&c, 8u, &r, &digest);
    }
    mw_t_print_hex("surface", digest);

    /* The bank equals one mw_chain_filter per channel (the scalar reference). */
    fill(&r, 0);
    int same_single = 1;
    for (uint32_t k = 0; k < 8u; k++) {
        MW_CHECK(mw_chain_init(&cha[k], &c, NULL, 0u) == MW_OK);
    }
    mw_chain_filter_bank(cha, 8u, &c, &x[0][0], N, &ya[0][0], N, N, 0u);
    for (uint32_t k = 0; k < 8u; k++) {
        MW_CHECK(mw_chain_init(&chb[0], &c, NULL, 0u) == MW_OK);
        mw_chain_filter(&chb[0], &c, x[k], yb[k], N);
        same_single &= memcmp(ya[k], yb[k], sizeof ya[k]) == 0;
    }
    MW_CHECK(same_single);

    digest = MW_T_DIGEST_INIT;
    for (int t = 0; t < 24; t++) {
        random_cfg(&c, &r);
        if (mw_chain_cfg_check(&c) != MW_OK) {
            MW_CHECK(0);
            continue;
        }
        fill(&r, t % 3);
        all_same &= same_paths(&c, 2u + (uint32_t)t % (NCH - 1u), &r, &digest);
    }
    MW_CHECK(all_same);
    mw_t_print_hex("random", digest);
    return mw_test_failures;
}
