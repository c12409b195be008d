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
#define CAP 300
#define SLEN 25
static mw_event_t eva[NCH][CAP], evb[NCH][CAP];
static int32_t sna[NCH][CAP * SLEN], snb[NCH][CAP * SLEN];
static int32_t ringa[NCH][32], ringb[NCH][32];

/* Detection of a bank (channels interleaved) against each channel alone, in random chunks:
 * events, snippets and counters identical. */
static int same_detection(const mw_chain_cfg_t *c, uint32_t n_ch, mw_rng_t *r, uint64_t *digest,
                          int filter, uint32_t *total)
{
    uint32_t na[NCH] = {0}, nb[NCH] = {0};
    for (uint32_t k = 0; k < n_ch; k++) {
        MW_CHECK(mw_chain_init(&cha[k], c, ringa[k], 32u) == MW_OK);
        MW_CHECK(mw_chain_init(&chb[k], c, ringb[k], 32u) == MW_OK);
        mw_chain_prime(&cha[k], c, x[k], ya[k], 1024u);
        mw_chain_prime(&chb[k], c, x[k], yb[k], 1024u);
    }
    if (filter) {
        mw_chain_filter_bank(cha, n_ch, c, &x[0][0], N, &ya[0][0], N, N, 0u);
    } else {
        memcpy(ya, x, sizeof ya);
    }
    static mw_event_t ev[NCH * CAP];
    static int32_t sn[NCH * CAP * SLEN];
    uint32_t cnt[NCH];
    uint32_t pos = 0u;
    while (pos < N) {
        uint32_t len = 1u + mw_rng_u32(r) % 900u;
        len = len < N - pos ? len : N - pos;
        const uint32_t cap = 60u;
        for (uint32_t k = 0; k < n_ch; k++) {
            cnt[k] = 0u;
        }
        mw_chain_detect_bank(cha, n_ch, c, &ya[0][pos], N, len, ev, cap, sn, cnt);
        for (uint32_t k = 0; k < n_ch; k++) {
            for (uint32_t e = 0; e < cnt[k] && na[k] < CAP; e++, na[k]++) {
                eva[k][na[k]] = ev[k * cap + e];
                memcpy(&sna[k][na[k] * SLEN], &sn[(k * cap + e) * SLEN], SLEN * sizeof(int32_t));
            }
            nb[k] += mw_chain_detect(&chb[k], c, &ya[k][pos], len, &evb[k][nb[k]], 60u,
                                     &snb[k][nb[k] * SLEN]);
        }
        pos += len;
    }
    int same = 1;
    for (uint32_t k = 0; k < n_ch; k++) {
        same &= na[k] == nb[k];
        for (uint32_t e = 0; same && e < na[k]; e++) {
            same &= eva[k][e].index == evb[k][e].index && eva[k][e].amplitude == evb[k][e].amplitude &&
                    eva[k][e].width == evb[k][e].width && eva[k][e].threshold == evb[k][e].threshold;
        }
        same &= memcmp(sna[k], snb[k], na[k] * SLEN * sizeof(int32_t)) == 0;
        same &= cha[k].det.n_events == chb[k].det.n_events &&
                cha[k].det.n_dropped == chb[k].det.n_dropped &&
                cha[k].det.n_rejected == chb[k].det.n_rejected && cha[k].noise.m == chb[k].noise.m;
        for (uint32_t e = 0; e < na[k]; e++) {
            *digest = *digest * 1000003u + (uint64_t)eva[k][e].index;
        }
        *total += na[k];
    }
    return same;
}

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

/* Run the best path and a reference path (flags: the scalar kernels, or on x86-64 the AVX2
 * ones) over the same input in random chunks; 1 when outputs and states agree. */
static int same_paths(const mw_chain_cfg_t *c, uint32_t n_ch, mw_rng_t *r, uint64_t *digest,
                      uint32_t flags)
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
        mw_chain_filter_bank(chb, n_ch, c, &x[0][pos], N, &yb[0][pos], N, len, flags);
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
        all_same &= same_paths(&c, 8u, &r, &digest, MW_BANK_PORTABLE);
        all_same &= same_paths(&c, 7u, &r, &digest, MW_BANK_NO_AVX512);
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
        all_same &= same_paths(&c, 2u + (uint32_t)t % (NCH - 1u), &r, &digest,
                               t % 2 ? MW_BANK_PORTABLE : MW_BANK_NO_AVX512);
    }
    MW_CHECK(all_same);
    mw_t_print_hex("random", digest);

    /* Detection of a bank: spiky channels (events, snippets, dead time), then NEO, then raw
     * full-range input given as if filtered (saturated on entry like mw_detect_process). */
    surface_cfg(&c);
    c.det.blank = 100u;
    c.det.ceil_mult_q12 = 30u * 6073u;
    digest = MW_T_DIGEST_INIT;
    int det_same = 1;
    uint32_t total = 0u;
    for (int t = 0; t < 3; t++) {
        fill(&r, 0);
        det_same &= same_detection(&c, 3u + 3u * (uint32_t)t, &r, &digest, 1, &total);
    }
    MW_CHECK(total > 300u);
    c.det.neo = 1u;
    c.det.neo_shift = 20u;
    c.det.thr_mult_q12 = 5u * 4096u;
    fill(&r, 0);
    total = 0u;
    det_same &= same_detection(&c, 5u, &r, &digest, 1, &total);
    MW_CHECK(total > 50u);
    c.det.neo = 0u;
    c.det.thr_mult_q12 = 30364u;
    fill(&r, 1);
    for (uint32_t k = 0; k < NCH; k++) { /* a few large outliers in uniform full-range noise */
        for (int i = 100; i < N; i += 97) {
            x[k][i] = (i & 1) ? INT32_MAX : INT32_MIN;
        }
    }
    total = 0u;
    det_same &= same_detection(&c, 4u, &r, &digest, 0, &total);
    MW_CHECK(det_same);
    mw_t_print_hex("detect", digest);
    return mw_test_failures;
}
