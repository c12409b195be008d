#include "mw_munix.h"

#include <stddef.h>

#include "mw_area_math.h"

/* a / b in Q15 for 0 <= a, 0 < b (64-bit), saturating at 2^31 - 1. */
static int32_t ratio_q15(uint64_t a, uint64_t b)
{
    while (a >= ((uint64_t)1u << 47) || b >= ((uint64_t)1u << 62)) {
        a >>= 1;
        b >>= 1;
    }
    if (b == 0u) {
        return INT32_MAX;
    }
    uint64_t q = (a << 15) / b;
    return (q > (uint64_t)INT32_MAX) ? INT32_MAX : (int32_t)q;
}

/* Envelope checks on the sub-block powers: modulation depth and the largest autocorrelation at
 * the tremor lags. The envelope is the sub-block RMS (up to a constant: isqrt of the power),
 * scaled below 2^24 so the 64-bit sums cannot overflow for up to 2^14 sub-blocks. */
static void envelope_checks(const mw_area_t *sip, const mw_munix_rules_t *rules,
                            int32_t *depth_q15, int32_t *tremor_q15)
{
    uint32_t n = sip->sub_n;
    *depth_q15 = 0;
    *tremor_q15 = 0;
    if (n < 4u || n > 16384u) {
        return;
    }
    uint32_t emax = 0u;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t e = mw_isqrt_u64(sip->sub_sq[j]);
        emax = (e > emax) ? e : emax;
    }
    int sh = 0;
    while ((emax >> sh) >= (1u << 24)) {
        sh++;
    }
    int64_t sum = 0;
    for (uint32_t j = 0; j < n; j++) {
        sum += (int64_t)(mw_isqrt_u64(sip->sub_sq[j]) >> sh);
    }
    if (sum == 0) {
        return;
    }
    int64_t mean = sum / (int64_t)n;
    uint64_t var = 0u;
    for (uint32_t j = 0; j < n; j++) {
        int64_t d = (int64_t)(mw_isqrt_u64(sip->sub_sq[j]) >> sh) - mean;
        var += (uint64_t)(d * d);
    }
    uint32_t sd = mw_isqrt_u64(var / n);
    *depth_q15 = ratio_q15(sd, (uint64_t)mean);
    if (var == 0u) {
        return;
    }
    int32_t best = 0;
    for (uint32_t lag = rules->tremor_lag_min; lag <= rules->tremor_lag_max && lag < n; lag++) {
        if (lag == 0u) {
            continue;
        }
        int64_t acc = 0;
        for (uint32_t j = 0; j + lag < n; j++) {
            int64_t a = (int64_t)(mw_isqrt_u64(sip->sub_sq[j]) >> sh) - mean;
            int64_t b = (int64_t)(mw_isqrt_u64(sip->sub_sq[j + lag]) >> sh) - mean;
            acc += a * b;
        }
        if (acc > 0) {
            int32_t r = ratio_q15((uint64_t)acc, var);
            best = (r > best) ? r : best;
        }
    }
    *tremor_q15 = best;
}

int mw_munix_epoch(const mw_area_t *cmap, const mw_area_t *sip, const mw_munix_rules_t *rules,
                   mw_munix_epoch_t *out)
{
    if (cmap == NULL || sip == NULL || rules == NULL || out == NULL) {
        return MW_MUNIX_EINVAL;
    }
    out->reject = 0u;
    out->peak_frac_q15 = 0;
    out->tremor_r_q15 = 0;
    out->depth_q15 = 0;
    out->log2_area_q16 = mw_log2_u64_q16(sip->sum_abs);
    if (cmap->sum_abs == 0u || cmap->sum_sq == 0u || sip->sum_abs == 0u || sip->sum_sq == 0u) {
        out->reject = MW_MUNIX_REJ_EMPTY;
        out->log2_icmuc_q16 = MW_LOG2_ZERO_Q16;
        out->icmuc_q16 = 0u;
        return MW_MUNIX_OK;
    }
    int32_t l = mw_log2_u64_q16(cmap->sum_sq) + mw_log2_u64_q16(sip->sum_abs) -
                mw_log2_u64_q16(cmap->sum_abs) - mw_log2_u64_q16(sip->sum_sq);
    out->log2_icmuc_q16 = l;
    uint64_t ic = mw_exp2_q16(l);
    out->icmuc_q16 = (ic > UINT32_MAX) ? UINT32_MAX : (uint32_t)ic;
    if (cmap->clipped > 0u || sip->clipped > 0u) {
        out->reject |= MW_MUNIX_REJ_CLIPPED;
    }
    if (out->log2_area_q16 < rules->min_log2_area_q16) {
        out->reject |= MW_MUNIX_REJ_LOW_AREA;
    }
    if (sip->sub_n > 0u) {
        uint64_t top = 0u;
        for (uint32_t j = 0; j < sip->sub_n; j++) {
            top = (sip->sub_sq[j] > top) ? sip->sub_sq[j] : top;
        }
        out->peak_frac_q15 = ratio_q15(top, sip->sum_sq);
        if (out->peak_frac_q15 > rules->max_peak_frac_q15) {
            out->reject |= MW_MUNIX_REJ_SPIKE;
        }
        envelope_checks(sip, rules, &out->depth_q15, &out->tremor_r_q15);
        if (out->tremor_r_q15 > rules->max_tremor_r_q15 &&
            out->depth_q15 > rules->min_tremor_depth_q15) {
            out->reject |= MW_MUNIX_REJ_TREMOR;
        }
    }
    return MW_MUNIX_OK;
}

/* Halve (toward zero) until |v| < 2^lim; returns the number of halvings applied to both. */
static void shrink_pair(int64_t *a, int64_t *b, int lim)
{
    int64_t cap = (int64_t)1 << lim;
    while (*a >= cap || *a <= -cap || *b >= cap || *b <= -cap) {
        *a /= 2;
        *b /= 2;
    }
}

int mw_munix_fit(const mw_munix_epoch_t *epochs, uint32_t n, int32_t ref_log2_area_q16,
                 mw_munix_fit_t *out)
{
    if (epochs == NULL || out == NULL || n > MW_MUNIX_MAX_EPOCHS) {
        return MW_MUNIX_EINVAL;
    }
    out->n_used = 0u;
    out->slope_q16 = 0;
    out->intercept_q16 = 0;
    out->r2_q15 = 0;
    out->log2_munix_q16 = 0;
    out->munix_q16 = 0u;
    int64_t sx = 0;
    int64_t sy = 0;
    uint32_t m = 0u;
    for (uint32_t i = 0; i < n; i++) {
        if (epochs[i].reject == 0u) {
            sx += epochs[i].log2_area_q16;
            sy += epochs[i].log2_icmuc_q16;
            m++;
        }
    }
    out->n_used = m;
    if (m < 3u) {
        return MW_MUNIX_ENOFIT;
    }
    int64_t mx = sx / (int64_t)m;
    int64_t my = sy / (int64_t)m;
    int64_t sxx = 0;
    int64_t sxy = 0;
    int64_t syy = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (epochs[i].reject == 0u) {
            int64_t dx = (int64_t)epochs[i].log2_area_q16 - mx;
            int64_t dy = (int64_t)epochs[i].log2_icmuc_q16 - my;
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
    }
    if (sxx <= 0) {
        return MW_MUNIX_ENOFIT;
    }
    int64_t num = sxy;
    int64_t den = sxx;
    shrink_pair(&num, &den, 46);
    if (den == 0) {
        return MW_MUNIX_ENOFIT;
    }
    int64_t slope = (num * 65536) / den;
    if (slope > INT32_MAX || slope < -INT32_MAX) {
        return MW_MUNIX_ENOFIT;
    }
    out->slope_q16 = (int32_t)slope;
    int64_t icpt = my - (slope * mx) / 65536;
    out->intercept_q16 = (icpt > INT32_MAX) ? INT32_MAX : (icpt < -INT32_MAX ? -INT32_MAX : (int32_t)icpt);
    /* r = sxy / sqrt(sxx syy), r^2 in Q15 */
    if (syy > 0) {
        uint64_t den_r = (uint64_t)mw_isqrt_u64((uint64_t)sxx) * mw_isqrt_u64((uint64_t)syy);
        uint64_t an = (uint64_t)((sxy < 0) ? -sxy : sxy);
        int32_t r = ratio_q15(an, den_r);
        r = (r > 32768) ? 32768 : r;
        out->r2_q15 = (int32_t)(((int64_t)r * r) >> 15);
    }
    int64_t lm = my + (slope * ((int64_t)ref_log2_area_q16 - mx)) / 65536;
    if (lm > INT32_MAX || lm < -INT32_MAX) {
        return MW_MUNIX_ENOFIT;
    }
    out->log2_munix_q16 = (int32_t)lm;
    uint64_t v = mw_exp2_q16((int32_t)lm);
    out->munix_q16 = (v > UINT32_MAX) ? UINT32_MAX : (uint32_t)v;
    return MW_MUNIX_OK;
}

uint32_t mw_munix_musix_q16(uint32_t cmap_amp, uint32_t munix_q16)
{
    if (munix_q16 == 0u) {
        return 0u;
    }
    /* (amp / (munix / 2^16)) in Q16 = amp * 2^32 / munix_q16 */
    uint64_t num = (uint64_t)cmap_amp << 32;
    uint64_t q = num / munix_q16;
    return (q > UINT32_MAX) ? UINT32_MAX : (uint32_t)q;
}
