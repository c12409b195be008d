/* Template sorting: two units with different shapes (and jittered alignment) are separated
 * without a single mistake; frozen templates reproduce the labels; an unknown shape is left
 * unassigned when no slot is free. */
#include "mw_core.h"
#include "mw_sort.h"
#include "mw_test.h"

#define L 24
#define NSP 200

static int32_t snips[NSP * L];
static int32_t templates[4 * L];
static int32_t truth[NSP], units[NSP], units2[NSP], shifts[NSP];
static uint64_t dists[NSP];

static const int32_t shape_a[12] = {0, 10, 35, 75, 100, 60, -20, -55, -45, -25, -10, -3};
static const int32_t shape_b[12] = {0, -5, -30, -90, -100, -20, 50, 70, 40, 15, 5, 0};

int test_sort(void)
{
    mw_rng_t r;
    mw_rng_seed(&r, 99u);
    for (int i = 0; i < NSP; i++) {
        truth[i] = (mw_rng_u32(&r) % 3u) == 0u ? 1 : 0;
        const int32_t *sh = truth[i] ? shape_b : shape_a;
        const int32_t amp = truth[i] ? 9000 : 12000;
        const int off = 6 + (int)(mw_rng_u32(&r) % 3u) - 1; /* +-1 sample misalignment */
        for (int j = 0; j < L; j++) {
            const int k = j - off;
            snips[i * L + j] = mw_rng_gauss(&r, 1000) + ((k >= 0 && k < 12) ? amp * sh[k] / 100 : 0);
        }
    }
    mw_sort_cfg_t c;
    c.len = L;
    c.max_units = 4u;
    c.max_shift = 2u;
    c.update_shift = 4u;
    c.allow_new = 1u;
    c.dist_shift = 2u;
    c.reserved = 0u;
    c.accept_q8 = 3u * 256u;
    const uint64_t var = (1000u >> 2) * (1000u >> 2);
    mw_sort_t s;
    mw_sort_cfg_t bad = c;
    bad.max_shift = 6u;
    MW_CHECK(mw_sort_cfg_check(&bad) == MW_ERR_ARG);
    MW_CHECK(mw_sort_init(&s, &c, templates, 5u) == MW_ERR_ARG);
    MW_CHECK(mw_sort_init(&s, &c, templates, 0u) == MW_OK);
    const uint32_t assigned = mw_sort_process(&s, &c, snips, NSP, var, units, shifts, dists);
    MW_CHECK(assigned == NSP);
    MW_CHECK(s.n_units == 2u);
    /* a unit label means the same truth every time */
    int pure = 1;
    for (int i = 1; i < NSP; i++) {
        pure &= (units[i] == units[0]) == (truth[i] == truth[0]);
    }
    MW_CHECK(pure);
    mw_t_print_vec("units", units, 40);
    mw_t_print_vec("shifts", shifts, 40);
    mw_t_print_hex("templates", mw_t_digest32(templates, 2 * L, MW_T_DIGEST_INIT));

    /* Frozen templates: same labels on a second pass. */
    c.update_shift = 0u;
    c.allow_new = 0u;
    MW_CHECK(mw_sort_init(&s, &c, templates, 2u) == MW_OK);
    mw_sort_process(&s, &c, snips, NSP, var, units2, NULL, NULL);
    int same = 1;
    for (int i = 0; i < NSP; i++) {
        same &= units2[i] == units[i];
    }
    MW_CHECK(same);
    /* An unknown shape (inverted A) is not forced into a unit. */
    int32_t odd[L];
    for (int j = 0; j < L; j++) {
        odd[j] = -snips[j] * (truth[0] == 0 ? 1 : 0) + (truth[0] == 0 ? 0 : 5000);
    }
    int32_t shv = 0;
    uint64_t dv = 0u;
    MW_CHECK(mw_sort_assign(&s, &c, odd, var, &shv, &dv) == -1);
    mw_t_print_i64("odd_dist", (int64_t)dv);
    return mw_test_failures;
}
