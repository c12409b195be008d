#include "mw_match.h"

#include <stddef.h>

#include "mw_core.h"
#include "mw_dsp.h"

int32_t mw_match_cfg_check(const mw_match_cfg_t *cfg)
{
    if (cfg == NULL || cfg->len < 4u || cfg->len > MW_MATCH_MAX_LEN || cfg->n_rows == 0u ||
        cfg->n_rows > MW_MATCH_MAX_ROWS || cfg->alpha_lo_q14 == 0u ||
        cfg->alpha_lo_q14 > cfg->alpha_hi_q14 || cfg->gap > 32767u || cfg->frac_q8 > 256u ||
        cfg->floor < 0) {
        return MW_ERR_ARG;
    }
    return MW_OK;
}

int32_t mw_match_init(mw_match_t *m, const mw_match_cfg_t *cfg, const int16_t *templates,
                      const uint16_t *unit, const int64_t *min_gain)
{
    if (m == NULL || templates == NULL || unit == NULL || min_gain == NULL ||
        mw_match_cfg_check(cfg) != MW_OK) {
        return MW_ERR_ARG;
    }
    for (uint32_t k = 0; k < cfg->n_rows; k++) {
        const int16_t *t = &templates[(size_t)k * cfg->len];
        int64_t e = 0;
        for (uint32_t i = 0; i < cfg->len; i++) {
            e += (int64_t)t[i] * t[i];
        }
        if (e <= 0 || min_gain[k] <= 0) {
            return MW_ERR_ARG;
        }
        m->energy[k] = e;
    }
    m->len = cfg->len;
    m->n_rows = cfg->n_rows;
    m->templates = templates;
    m->unit = unit;
    m->min_gain = min_gain;
    return MW_OK;
}

/* Is `u` fitted within gap samples of position t (among the hits so far)? */
static int mw__blocked(const mw_match_t *m, const mw_match_hit_t *hits, uint32_t n_hits,
                       uint16_t u, int32_t t, int32_t gap)
{
    for (uint32_t h = 0; h < n_hits; h++) {
        const int32_t d = hits[h].pos - t;
        if (m->unit[hits[h].row] == u && d < gap && d > -gap) {
            return 1;
        }
    }
    return 0;
}

/* The best candidate at start position t over every row. */
static mw_match_best_t mw__eval(const mw_match_t *m, const mw_match_cfg_t *cfg,
                                const int16_t *r, int32_t t, const mw_match_hit_t *hits,
                                uint32_t n_hits)
{
    mw_match_best_t best = {-1, 0, -1};
    const uint32_t len = cfg->len;
    const int16_t *x = &r[t];
    int64_t w = 0;
    for (uint32_t i = 0; i < len; i++) {
        w += (int64_t)x[i] * x[i];
    }
    const int64_t above = w - cfg->floor;
    for (uint32_t k = 0; k < cfg->n_rows; k++) {
        const int16_t *tm = &m->templates[(size_t)k * len];
        int64_t c = 0;
        for (uint32_t i = 0; i < len; i++) {
            c += (int64_t)x[i] * tm[i];
        }
        if (c <= 0) {
            continue;
        }
        const int64_t e = m->energy[k];
        /* c < 2^39: c * 2^14 < 2^53 */
        const int64_t alpha = (c * MW_MATCH_ALPHA_ONE) / e;
        if (alpha < cfg->alpha_lo_q14 || alpha > cfg->alpha_hi_q14) {
            continue;
        }
        const int64_t gain = mw_asr64(alpha * c, 14); /* alpha <= 2^16: < 2^55 */
        if (gain < m->min_gain[k] || gain <= best.gain) {
            continue;
        }
        /* gain >= frac * (W - floor): gain < 2^55, frac <= 2^8 */
        if (above > 0 && gain * 256 < (int64_t)cfg->frac_q8 * above) {
            continue;
        }
        if (cfg->gap > 0u && hits != NULL &&
            mw__blocked(m, hits, n_hits, m->unit[k], t, (int32_t)cfg->gap)) {
            continue;
        }
        best.gain = gain;
        best.alpha_q14 = (int32_t)alpha;
        best.row = (int32_t)k;
    }
    return best;
}

static int16_t mw__sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32767 ? -32767 : v));
}

int32_t mw_match_segment(const mw_match_t *m, const mw_match_cfg_t *cfg, int16_t *resid,
                         uint32_t n, mw_match_best_t *work, mw_match_hit_t *hits,
                         uint32_t max_hits)
{
    if (m == NULL || resid == NULL || work == NULL || hits == NULL ||
        mw_match_cfg_check(cfg) != MW_OK || cfg->len != m->len || cfg->n_rows != m->n_rows ||
        n > 0x7fffffffu) {
        return MW_ERR_ARG;
    }
    const uint32_t len = cfg->len;
    if (n < len || max_hits == 0u) {
        return 0;
    }
    const int32_t last = (int32_t)(n - len); /* start positions 0..last */
    for (int32_t t = 0; t <= last; t++) {
        work[t] = mw__eval(m, cfg, resid, t, hits, 0u);
    }
    /* positions whose candidates a fit at t0 can change: the supports it overlaps, and the
     * unit's refractory window */
    const int32_t reach = (int32_t)len - 1 > (int32_t)cfg->gap - 1 ? (int32_t)len - 1
                                                                     : (int32_t)cfg->gap - 1;
    uint32_t n_hits = 0u;
    while (n_hits < max_hits) {
        int32_t t0 = -1;
        int64_t g0 = -1;
        for (int32_t t = 0; t <= last; t++) {
            if (work[t].gain > g0) {
                g0 = work[t].gain;
                t0 = t;
            }
        }
        if (t0 < 0) {
            break;
        }
        const mw_match_best_t b = work[t0];
        const int16_t *tm = &m->templates[(size_t)b.row * len];
        for (uint32_t i = 0; i < len; i++) {
            const int32_t sub =
                (int32_t)mw_asr64((int64_t)b.alpha_q14 * tm[i] + (MW_MATCH_ALPHA_ONE / 2), 14);
            resid[(uint32_t)t0 + i] = mw__sat16((int32_t)resid[(uint32_t)t0 + i] - sub);
        }
        hits[n_hits].pos = t0;
        hits[n_hits].row = b.row;
        hits[n_hits].alpha_q14 = b.alpha_q14;
        hits[n_hits].reserved = 0;
        hits[n_hits].gain = b.gain;
        n_hits++;
        const int32_t lo = t0 - reach < 0 ? 0 : t0 - reach;
        const int32_t hi = t0 + reach > last ? last : t0 + reach;
        for (int32_t t = lo; t <= hi; t++) {
            work[t] = mw__eval(m, cfg, resid, t, hits, n_hits);
        }
    }
    return (int32_t)n_hits;
}
