#include "mw_firing.h"

#include <stddef.h>

#include "mw_area_math.h"

/* (hi:lo) / d for d > 0 when the quotient fits 64 bits (long division in 32-bit digits), else UINT64_MAX. */
static uint64_t div_u128_u32(uint64_t hi, uint64_t lo, uint32_t d)
{
    if (hi >= d) {
        return UINT64_MAX;
    }
    uint64_t r = hi;
    uint64_t q1 = ((r << 32) | (lo >> 32)) / d;
    r = ((r << 32) | (lo >> 32)) % d;
    uint64_t q0 = ((r << 32) | (lo & 0xFFFFFFFFu)) / d;
    return (q1 << 32) + q0;
}

int mw_firing_stats(const uint32_t *t, uint32_t n, uint32_t fs_hz, uint32_t min_isi,
                    uint32_t max_isi, mw_firing_stats_t *out)
{
    if (out == NULL || (t == NULL && n > 0u) || fs_hz == 0u || min_isi == 0u ||
        min_isi > max_isi || max_isi > MW_FIRING_MAX_ISI || n > MW_FIRING_MAX_SPIKES) {
        return MW_FIRING_EINVAL;
    }
    out->n_spikes = n;
    out->n_isi = 0u;
    out->n_short = 0u;
    out->n_long = 0u;
    out->mean_isi_q16 = 0u;
    out->sd_isi_q16 = 0u;
    out->rate_hz_q16 = 0u;
    out->cv_q16 = 0u;
    uint64_t s1 = 0u;
    for (uint32_t i = 1; i < n; i++) {
        if (t[i] <= t[i - 1]) {
            return MW_FIRING_EORDER;
        }
        uint32_t d = t[i] - t[i - 1];
        if (d < min_isi) {
            out->n_short++;
        } else if (d > max_isi) {
            out->n_long++;
        } else {
            s1 += d;
            out->n_isi++;
        }
    }
    uint32_t m = out->n_isi;
    if (m < 2u) {
        return MW_FIRING_OK;
    }
    /* mean in Q16: s1 < 2^42, so s1 << 16 < 2^58 */
    uint64_t mean_q16 = ((s1 << 16) + m / 2u) / m;
    out->mean_isi_q16 = mean_q16;
    /* squared deviations in Q16 (deviation in Q8 < 2^30, square < 2^60), summed in 128 bits */
    uint64_t lo = 0u;
    uint64_t hi = 0u;
    int64_t mean_q8 = (int64_t)((mean_q16 + 128u) >> 8);
    for (uint32_t i = 1; i < n; i++) {
        uint32_t d = t[i] - t[i - 1];
        if (d >= min_isi && d <= max_isi) {
            int64_t dev = ((int64_t)d << 8) - mean_q8;
            uint64_t sq = (uint64_t)(dev * dev);
            lo += sq;
            hi += (lo < sq) ? 1u : 0u;
        }
    }
    uint64_t var_q16 = div_u128_u32(hi, lo, m - 1u);
    uint64_t sd_q16 = (var_q16 < ((uint64_t)1u << 48)) ? mw_isqrt_u64(var_q16 << 16)
                                                        : ((uint64_t)mw_isqrt_u64(var_q16) << 8);
    out->sd_isi_q16 = sd_q16;
    /* rate = fs / mean_isi in Q16 = fs * 2^32 / mean_q16 */
    uint64_t rate = (((uint64_t)fs_hz << 32) + mean_q16 / 2u) / mean_q16;
    out->rate_hz_q16 = (rate > UINT32_MAX) ? UINT32_MAX : (uint32_t)rate;
    uint64_t cv = ((sd_q16 << 16) + mean_q16 / 2u) / mean_q16;
    out->cv_q16 = (cv > UINT32_MAX) ? UINT32_MAX : (uint32_t)cv;
    return MW_FIRING_OK;
}
