#include "mw_jitter.h"

#include <stddef.h>

static int32_t clip24(int32_t v)
{
    return (v > 8388607) ? 8388607 : ((v < -8388607) ? -8388607 : v);
}

/* Lanczos-4 interpolation kernel (windowed sinc, 8 taps) for 32 sub-sample phases, Q15, each
 * phase summing to exactly 32768: value at i + p/32 = sum_k x[i + k - 3] * k[p][k]. */
static const int32_t lanczos4_q15[32][8] = {
    {0, 0, 0, 32768, 0, 0, 0, 0},
    {-98, 315, -886, 32712, 956, -336, 107, -2},
    {-185, 608, -1700, 32541, 1979, -689, 222, -8},
    {-263, 877, -2440, 32260, 3065, -1058, 346, -19},
    {-330, 1120, -3103, 31868, 4209, -1438, 475, -33},
    {-386, 1336, -3689, 31369, 5407, -1827, 610, -52},
    {-432, 1524, -4199, 30768, 6652, -2220, 749, -74},
    {-468, 1684, -4632, 30068, 7940, -2613, 890, -101},
    {-493, 1817, -4991, 29275, 9263, -3004, 1031, -130},
    {-509, 1922, -5275, 28391, 10615, -3386, 1172, -162},
    {-516, 2000, -5488, 27425, 11990, -3755, 1309, -197},
    {-515, 2051, -5633, 26384, 13379, -4107, 1442, -233},
    {-507, 2077, -5711, 25274, 14775, -4437, 1567, -270},
    {-491, 2079, -5727, 24099, 16172, -4740, 1684, -308},
    {-470, 2059, -5685, 22871, 17560, -5011, 1789, -345},
    {-444, 2018, -5588, 21597, 18931, -5246, 1881, -381},
    {-414, 1958, -5440, 20279, 20281, -5440, 1958, -414},
    {-381, 1881, -5246, 18931, 21597, -5588, 2018, -444},
    {-345, 1789, -5011, 17560, 22871, -5685, 2059, -470},
    {-308, 1684, -4740, 16172, 24099, -5727, 2079, -491},
    {-270, 1567, -4437, 14775, 25274, -5711, 2077, -507},
    {-233, 1442, -4107, 13379, 26384, -5633, 2051, -515},
    {-197, 1309, -3755, 11990, 27425, -5488, 2000, -516},
    {-162, 1172, -3386, 10615, 28391, -5275, 1922, -509},
    {-130, 1031, -3004, 9263, 29275, -4991, 1817, -493},
    {-101, 890, -2613, 7940, 30068, -4632, 1684, -468},
    {-74, 749, -2220, 6652, 30768, -4199, 1524, -432},
    {-52, 610, -1827, 5407, 31369, -3689, 1336, -386},
    {-33, 475, -1438, 4209, 31868, -3103, 1120, -330},
    {-19, 346, -1058, 3065, 32260, -2440, 877, -263},
    {-8, 222, -689, 1979, 32541, -1700, 608, -185},
    {-2, 107, -336, 956, 32712, -886, 315, -98},
};

/* Band-limited value at i + p/32 (Q15-scaled), taps x[i-3 .. i+4] must exist. */
static int64_t interp_q15(const int32_t *x, uint32_t i, uint32_t p, int32_t pol)
{
    int64_t acc = 0;
    for (uint32_t k = 0; k < 8u; k++) {
        acc += (int64_t)clip24(x[i + k - 3u]) * lanczos4_q15[p][k];
    }
    return acc * pol;
}

int mw_jitter_peak_q16(const int32_t *x, uint32_t n, uint32_t lo, uint32_t hi, int32_t pol,
                       int32_t *t_q16, int32_t *value)
{
    if (x == NULL || t_q16 == NULL || value == NULL || lo >= hi || hi > n ||
        n > MW_JITTER_MAX_LEN || (pol != 1 && pol != -1)) {
        return MW_JITTER_EINVAL;
    }
    uint32_t best = lo;
    int32_t bv = clip24(x[lo]) * pol;
    for (uint32_t i = lo + 1u; i < hi; i++) {
        int32_t v = clip24(x[i]) * pol;
        if (v > bv) {
            bv = v;
            best = i;
        }
    }
    *value = bv * pol;
    int64_t t = (int64_t)best * 65536;
    if (best <= lo || best + 1u >= hi) {
        *t_q16 = (int32_t)t; /* extremum on the window edge: not a peak, not interpolated */
        return MW_JITTER_OK;
    }
    if (best >= 4u && best + 5u <= n) {
        /* fine grid of 1/32 sample over [best - 1, best + 1], then a parabola on the fine grid */
        int64_t f[65];
        uint32_t fb = 0u;
        for (uint32_t j = 0; j < 65u; j++) {
            uint32_t i = best - 1u + j / 32u;
            f[j] = interp_q15(x, i, j % 32u, pol);
            if (f[j] > f[fb]) {
                fb = j;
            }
        }
        int64_t pos = ((int64_t)best - 1) * 65536 + (int64_t)fb * 2048; /* 1/32 = 2048 in Q16 */
        if (fb > 0u && fb < 64u) {
            int64_t ym = f[fb - 1u] >> 15;
            int64_t y0 = f[fb] >> 15;
            int64_t yp = f[fb + 1u] >> 15;
            int64_t den = 2 * (ym - 2 * y0 + yp);
            if (den < 0) {
                pos += ((ym - yp) * 2048) / den;
            }
        }
        *t_q16 = (int32_t)pos;
        return MW_JITTER_OK;
    }
    /* too close to the snippet edge for the kernel: parabola through the three samples */
    int64_t ym = (int64_t)clip24(x[best - 1u]) * pol;
    int64_t y0 = (int64_t)bv;
    int64_t yp = (int64_t)clip24(x[best + 1u]) * pol;
    int64_t den = 2 * (ym - 2 * y0 + yp);
    if (den < 0) {
        t += ((ym - yp) * 65536) / den;
    }
    *t_q16 = (int32_t)t;
    return MW_JITTER_OK;
}

int mw_jitter_mcd(const int32_t *snips, uint32_t k, uint32_t len, const mw_jitter_cfg_t *cfg,
                  int32_t *ipi_q16, uint8_t *blocked, mw_jitter_result_t *out)
{
    if (snips == NULL || cfg == NULL || ipi_q16 == NULL || blocked == NULL || out == NULL ||
        len == 0u || len > 32767u || cfg->hi1 > len || cfg->lo1 >= cfg->hi1 ||
        (cfg->hi2 != 0u && (cfg->hi2 > len || cfg->lo2 >= cfg->hi2))) {
        return MW_JITTER_EINVAL;
    }
    out->n_discharges = k;
    out->n_blocked = 0u;
    out->n_diffs = 0u;
    out->mean_ipi_q16 = 0;
    out->mcd_q16 = 0u;
    int pair = (cfg->hi2 != 0u);
    int64_t sum_ipi = 0;
    uint32_t n_ok = 0u;
    for (uint32_t j = 0; j < k; j++) {
        const int32_t *s = snips + (uint64_t)j * len;
        int32_t t1 = 0;
        int32_t v1 = 0;
        int rc = mw_jitter_peak_q16(s, len, cfg->lo1, cfg->hi1, cfg->pol1, &t1, &v1);
        if (rc != MW_JITTER_OK) {
            return rc;
        }
        int blk = (v1 * cfg->pol1 < cfg->block1);
        int32_t ipi = t1;
        if (pair) {
            int32_t t2 = 0;
            int32_t v2 = 0;
            rc = mw_jitter_peak_q16(s, len, cfg->lo2, cfg->hi2, cfg->pol2, &t2, &v2);
            if (rc != MW_JITTER_OK) {
                return rc;
            }
            blk = blk || (v2 * cfg->pol2 < cfg->block2);
            ipi = t2 - t1;
        }
        ipi_q16[j] = ipi;
        blocked[j] = (uint8_t)(blk ? 1 : 0);
        if (blk) {
            out->n_blocked++;
        } else {
            sum_ipi += ipi;
            n_ok++;
        }
    }
    if (n_ok > 0u) {
        out->mean_ipi_q16 = (int32_t)(sum_ipi / (int64_t)n_ok);
    }
    uint64_t acc = 0u;
    uint32_t nd = 0u;
    for (uint32_t j = 1; j < k; j++) {
        if (!blocked[j] && !blocked[j - 1u]) {
            int64_t d = (int64_t)ipi_q16[j] - ipi_q16[j - 1u];
            acc += (uint64_t)((d < 0) ? -d : d);
            nd++;
        }
    }
    out->n_diffs = nd;
    if (nd == 0u) {
        return MW_JITTER_ENODATA;
    }
    uint64_t mcd = (acc + nd / 2u) / nd;
    out->mcd_q16 = (mcd > UINT32_MAX) ? UINT32_MAX : (uint32_t)mcd;
    return MW_JITTER_OK;
}
