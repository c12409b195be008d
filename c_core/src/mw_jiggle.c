#include "mw_jiggle.h"

#include <stddef.h>

#include "mw_area_math.h"

static int32_t clip24(int32_t v)
{
    return (v > 8388607) ? 8388607 : ((v < -8388607) ? -8388607 : v);
}

/* a / b in Q15 for a >= 0, b > 0, saturating. */
static int64_t frac_q15(uint64_t a, uint64_t b)
{
    while (a >= ((uint64_t)1u << 47)) {
        a >>= 1;
        b >>= 1;
    }
    if (b == 0u) {
        return INT32_MAX;
    }
    uint64_t q = (a << 15) / b;
    return (q > (uint64_t)INT32_MAX) ? INT32_MAX : (int64_t)q;
}

/* CAD and CCC (Q15) of a and b shifted by s, over [m, len - m). */
static void pair_stats(const int32_t *a, const int32_t *b, uint32_t len, uint32_t m, int32_t s,
                       int64_t *cad, int64_t *ccc)
{
    uint32_t n = len - 2u * m;
    int64_t sa = 0;
    int64_t sb = 0;
    uint64_t sdiff = 0u;
    uint64_t sabs = 0u;
    for (uint32_t t = m; t < len - m; t++) {
        int64_t x = clip24(a[t]);
        int64_t y = clip24(b[(int64_t)t + s]);
        sa += x;
        sb += y;
        int64_t d = y - x;
        sdiff += (uint64_t)((d < 0) ? -d : d);
        sabs += (uint64_t)((x < 0) ? -x : x) + (uint64_t)((y < 0) ? -y : y);
    }
    *cad = (sabs == 0u) ? 0 : frac_q15(2u * sdiff, sabs);
    int64_t ma = sa / (int64_t)n;
    int64_t mb = sb / (int64_t)n;
    int64_t cov = 0;
    uint64_t va = 0u;
    uint64_t vb = 0u;
    for (uint32_t t = m; t < len - m; t++) {
        int64_t x = clip24(a[t]) - ma;
        int64_t y = clip24(b[(int64_t)t + s]) - mb;
        cov += x * y; /* |x|, |y| < 2^25, n <= 4096: |sum| < 2^62 */
        va += (uint64_t)(x * x);
        vb += (uint64_t)(y * y);
    }
    uint64_t den = (uint64_t)mw_isqrt_u64(va) * mw_isqrt_u64(vb);
    if (den == 0u) {
        *ccc = 0;
        return;
    }
    int64_t r = frac_q15((uint64_t)((cov < 0) ? -cov : cov), den);
    r = (r > 32768) ? 32768 : r;
    *ccc = (cov < 0) ? -r : r;
}

int mw_jiggle(const int32_t *snips, uint32_t k, uint32_t len, uint32_t max_shift,
              const uint8_t *skip, mw_jiggle_result_t *out)
{
    if (snips == NULL || out == NULL || len > MW_JIGGLE_MAX_LEN || len < 2u * max_shift + 8u) {
        return MW_JIGGLE_EINVAL;
    }
    out->n_pairs = 0u;
    out->cad_q15 = 0;
    out->ccc_q15 = 0;
    int64_t cad_sum = 0;
    int64_t ccc_sum = 0;
    uint32_t np = 0u;
    int32_t ms = (int32_t)max_shift;
    for (uint32_t j = 1; j < k; j++) {
        if (skip != NULL && (skip[j] || skip[j - 1u])) {
            continue;
        }
        const int32_t *a = snips + (uint64_t)(j - 1u) * len;
        const int32_t *b = snips + (uint64_t)j * len;
        int32_t best_s = 0;
        int64_t best = INT64_MIN;
        for (int32_t s = -ms; s <= ms; s++) {
            int64_t acc = 0;
            for (uint32_t t = max_shift; t < len - max_shift; t++) {
                acc += (int64_t)clip24(a[t]) * clip24(b[(int64_t)t + s]); /* < 2^58 in all */
            }
            if (acc > best) {
                best = acc;
                best_s = s;
            }
        }
        int64_t cad = 0;
        int64_t ccc = 0;
        pair_stats(a, b, len, max_shift, best_s, &cad, &ccc);
        cad_sum += cad;
        ccc_sum += ccc;
        np++;
    }
    out->n_pairs = np;
    if (np == 0u) {
        return MW_JIGGLE_ENODATA;
    }
    out->cad_q15 = (int32_t)(cad_sum / (int64_t)np);
    out->ccc_q15 = (int32_t)(ccc_sum / (int64_t)np);
    return MW_JIGGLE_OK;
}
