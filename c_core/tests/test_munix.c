/* MUNIX core: ICMUC = N for identical, non-overlapping MUAPs (the identity in Nandedkar 2004);
 * ICMUC = N / (1 + CV^2) for unequal sizes; the epoch rules refuse low-area, solitary-spike and
 * tremor epochs; the log-log fit recovers a known power law and is read at the reference. */
#include "mw_area.h"
#include "mw_area_math.h"
#include "mw_munix.h"
#include "mw_test.h"

#define L 40      /* MUAP length */
#define EP 2000   /* epoch length */
#define SUB 20    /* sub-block */

static int32_t muap[L];
static int32_t cmap[L];
static int32_t ep[EP];
static uint64_t subb[EP / SUB];

static void make_muap(void)
{
    /* a biphasic integer MUAP: + half sine then - half sine, amplitude 1000 */
    static const int32_t half[20] = {0,   156, 309, 454, 588, 707, 809, 891, 951, 988,
                                     1000, 988, 951, 891, 809, 707, 588, 454, 309, 156};
    for (int i = 0; i < 20; i++) {
        muap[i] = -half[i];
        muap[20 + i] = half[i];
    }
}

static void area_of(mw_area_t *a, const int32_t *v, uint32_t n, uint32_t sub_len)
{
    MW_CHECK(mw_area_init(a, sub_len, sub_len ? subb : NULL, sub_len ? EP / SUB : 0u) == 0);
    MW_CHECK(mw_area_process_i32(a, v, n) == 0);
}

int test_munix(void)
{
    make_muap();
    mw_munix_rules_t rules = {MW_LOG2_ZERO_Q16, 32768, 32768, 32768, 4u, 12u};
    mw_area_t ca, sa;
    mw_munix_epoch_t e;
    /* identity: CMAP = N x MUAP, epoch = k MUAPs, non-overlapping */
    const int32_t ns[4] = {5, 20, 80, 200};
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < L; i++) {
            cmap[i] = ns[t] * muap[i];
        }
        area_of(&ca, cmap, L, 0u);
        for (int i = 0; i < EP; i++) {
            ep[i] = 0;
        }
        for (int k = 0; k < 12; k++) {
            for (int i = 0; i < L; i++) {
                ep[100 + 150 * k + i] = muap[i];
            }
        }
        area_of(&sa, ep, EP, SUB);
        MW_CHECK(mw_munix_epoch(&ca, &sa, &rules, &e) == MW_MUNIX_OK);
        int32_t err = e.log2_icmuc_q16 - mw_log2_u64_q16((uint64_t)ns[t]);
        MW_CHECK(err > -4 && err < 4);
        MW_CHECK(e.reject == 0u);
        mw_t_print_i64("icmuc_q16", e.icmuc_q16);
    }
    /* unequal sizes s_i = 1, 2, 3: CMAP = (1+2+3) x MUAP, SIP one discharge each:
     * ICMUC = (sum s)^2 / sum s^2 = 36 / 14 */
    for (int i = 0; i < L; i++) {
        cmap[i] = 6 * muap[i];
    }
    area_of(&ca, cmap, L, 0u);
    for (int i = 0; i < EP; i++) {
        ep[i] = 0;
    }
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < L; i++) {
            ep[200 + 300 * k + i] = (k + 1) * muap[i];
        }
    }
    area_of(&sa, ep, EP, SUB);
    MW_CHECK(mw_munix_epoch(&ca, &sa, &rules, &e) == MW_MUNIX_OK);
    /* 36/14 = 2.5714 -> 168521 in Q16 */
    MW_CHECK(e.icmuc_q16 > 168500u && e.icmuc_q16 < 168545u);
    /* solitary spike: that epoch's largest 20-sample block holds > 25 % of its power */
    mw_munix_rules_t strict = rules;
    strict.max_peak_frac_q15 = 8192;
    MW_CHECK(mw_munix_epoch(&ca, &sa, &strict, &e) == MW_MUNIX_OK);
    MW_CHECK(e.reject & MW_MUNIX_REJ_SPIKE);
    /* low area: the reference above the epoch's area */
    strict = rules;
    strict.min_log2_area_q16 = e.log2_area_q16 + 65536;
    MW_CHECK(mw_munix_epoch(&ca, &sa, &strict, &e) == MW_MUNIX_OK);
    MW_CHECK(e.reject & MW_MUNIX_REJ_LOW_AREA);
    /* tremor: MUAP bursts every 8 sub-blocks (a 6.25 Hz envelope at 1 kHz-equivalent) */
    for (int i = 0; i < EP; i++) {
        ep[i] = 0;
    }
    for (int b = 0; b < EP / (8 * SUB); b++) {
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < L && b * 8 * SUB + k * 45 + i < EP; i++) {
                ep[b * 8 * SUB + k * 45 + i] += muap[i];
            }
        }
    }
    area_of(&sa, ep, EP, SUB);
    strict = rules;
    strict.max_tremor_r_q15 = 16384;
    strict.min_tremor_depth_q15 = 11469;
    MW_CHECK(mw_munix_epoch(&ca, &sa, &strict, &e) == MW_MUNIX_OK);
    MW_CHECK(e.reject & MW_MUNIX_REJ_TREMOR);
    mw_t_print_i64("tremor_r_q15", e.tremor_r_q15);
    mw_t_print_i64("depth_q15", e.depth_q15);
    /* empty epoch */
    for (int i = 0; i < EP; i++) {
        ep[i] = 0;
    }
    area_of(&sa, ep, EP, SUB);
    MW_CHECK(mw_munix_epoch(&ca, &sa, &rules, &e) == MW_MUNIX_OK);
    MW_CHECK(e.reject == MW_MUNIX_REJ_EMPTY);
    /* fit: log2 ICMUC = 7 - 0.5 (log2 area - 20) exactly -> slope -0.5, value at 24 = 5 */
    mw_munix_epoch_t eps[8];
    for (int i = 0; i < 8; i++) {
        eps[i].log2_area_q16 = (18 + i) * 65536;
        eps[i].log2_icmuc_q16 = 7 * 65536 - (i - 2) * 32768;
        eps[i].reject = (i == 7) ? MW_MUNIX_REJ_SPIKE : 0u;
        if (i == 7) {
            eps[i].log2_icmuc_q16 = 0; /* an outlier that must be left out */
        }
    }
    mw_munix_fit_t fit;
    MW_CHECK(mw_munix_fit(eps, 8u, 24 * 65536, &fit) == MW_MUNIX_OK);
    MW_CHECK(fit.n_used == 7u);
    MW_CHECK(fit.slope_q16 == -32768);
    MW_CHECK(fit.r2_q15 > 32700);
    MW_CHECK(fit.log2_munix_q16 == 5 * 65536);
    MW_CHECK(fit.munix_q16 == 32u * 65536u);
    mw_t_print_i64("munix_q16", fit.munix_q16);
    mw_t_print_i64("intercept_q16", fit.intercept_q16);
    /* too few accepted epochs, or no spread of areas: no fit */
    MW_CHECK(mw_munix_fit(eps, 2u, 0, &fit) == MW_MUNIX_ENOFIT);
    for (int i = 0; i < 8; i++) {
        eps[i].log2_area_q16 = 20 * 65536;
        eps[i].reject = 0u;
    }
    MW_CHECK(mw_munix_fit(eps, 8u, 0, &fit) == MW_MUNIX_ENOFIT);
    MW_CHECK(mw_munix_fit(eps, MW_MUNIX_MAX_EPOCHS + 1u, 0, &fit) == MW_MUNIX_EINVAL);
    /* MUSIX = amplitude / MUNIX: 6000 / 32 = 187.5 */
    MW_CHECK(mw_munix_musix_q16(6000u, 32u * 65536u) == 12288000u);
    MW_CHECK(mw_munix_musix_q16(6000u, 0u) == 0u);
    return mw_test_failures;
}
