#include "mw_sort.h"

#include <stddef.h>

#include "mw_core.h"
#include "mw_detect.h"
#include "mw_dsp.h"

#define MW__DIFF_MAX 1048576

int32_t mw_sort_cfg_check(const mw_sort_cfg_t *cfg)
{
    if (cfg == NULL || cfg->len < 4u || cfg->len > MW_DETECT_MAX_SNIPPET || cfg->max_units == 0u ||
        cfg->max_units > MW_SORT_MAX_UNITS || 4u * cfg->max_shift >= cfg->len ||
        cfg->update_shift > 16u || cfg->allow_new > 1u || cfg->dist_shift > 31u ||
        cfg->accept_q8 == 0u || cfg->accept_q8 > MW_SORT_MAX_ACCEPT_Q8) {
        return MW_ERR_ARG;
    }
    return MW_OK;
}

int32_t mw_sort_init(mw_sort_t *s, const mw_sort_cfg_t *cfg, int32_t *templates,
                     uint32_t n_units)
{
    if (s == NULL || templates == NULL || mw_sort_cfg_check(cfg) != MW_OK ||
        n_units > cfg->max_units) {
        return MW_ERR_ARG;
    }
    s->n_units = n_units;
    s->templates = templates;
    for (uint32_t u = 0; u < MW_SORT_MAX_UNITS; u++) {
        s->count[u] = u < n_units ? 1u : 0u;
    }
    return MW_OK;
}

static uint64_t mw__ssd(const mw_sort_cfg_t *cfg, const int32_t *snip, const int32_t *tmpl,
                        int32_t shift)
{
    const uint32_t m = cfg->max_shift;
    uint64_t acc = 0u;
    for (uint32_t j = m; j < (uint32_t)cfg->len - m; j++) {
        int64_t d = mw_asr64((int64_t)mw_sat_data(snip[(int32_t)j + shift]) - tmpl[j],
                             cfg->dist_shift);
        if (d > MW__DIFF_MAX) {
            d = MW__DIFF_MAX;
        } else if (d < -MW__DIFF_MAX) {
            d = -MW__DIFF_MAX;
        }
        acc += (uint64_t)(d * d);
    }
    return acc;
}

static uint32_t mw__ilog2(uint32_t v)
{
    uint32_t r = 0u;
    while (v > 1u) {
        v >>= 1;
        r++;
    }
    return r;
}

int32_t mw_sort_assign(mw_sort_t *s, const mw_sort_cfg_t *cfg, const int32_t *snip,
                       uint64_t noise_var, int32_t *shift, uint64_t *dist)
{
    const uint32_t len = cfg->len;
    const int32_t m = (int32_t)cfg->max_shift;
    if (noise_var > (uint64_t)MW_SORT_MAX_NOISE_VAR) {
        noise_var = (uint64_t)MW_SORT_MAX_NOISE_VAR;
    }
    int32_t best_u = -1;
    int32_t best_sh = 0;
    uint64_t best = UINT64_MAX;
    for (uint32_t u = 0; u < s->n_units; u++) {
        const int32_t *tm = &s->templates[(size_t)u * len];
        /* shifts in the order 0, -1, +1, -2, +2, ... so ties prefer small shifts */
        for (int32_t k = 0; k <= 2 * m; k++) {
            const int32_t sh = (k & 1) ? -((k + 1) / 2) : k / 2;
            const uint64_t d = mw__ssd(cfg, snip, tm, sh);
            if (d < best) {
                best = d;
                best_u = (int32_t)u;
                best_sh = sh;
            }
        }
    }
    const uint64_t n_cmp = len - 2u * (uint32_t)m;
    const uint64_t limit = (cfg->accept_q8 * n_cmp * (noise_var > 0u ? noise_var : 1u)) >> 8;
    int32_t unit = -1;
    if (best_u >= 0 && best <= limit) {
        unit = best_u;
        int32_t *tm = &s->templates[(size_t)unit * len];
        if (s->count[unit] < UINT32_MAX) {
            s->count[unit]++;
        }
        if (cfg->update_shift != 0u) {
            uint32_t r = mw__ilog2(s->count[unit]);
            if (r > cfg->update_shift) {
                r = cfg->update_shift;
            }
            for (uint32_t j = 0; j < len; j++) {
                const int32_t jj = (int32_t)j + best_sh;
                if (jj >= 0 && jj < (int32_t)len) {
                    const int64_t d = (int64_t)mw_sat_data(snip[jj]) - tm[j];
                    tm[j] = (int32_t)(tm[j] + mw_asr64(d, r));
                }
            }
        }
    } else if (cfg->allow_new && s->n_units < cfg->max_units) {
        unit = (int32_t)s->n_units++;
        int32_t *tm = &s->templates[(size_t)unit * len];
        for (uint32_t j = 0; j < len; j++) {
            tm[j] = mw_sat_data(snip[j]);
        }
        s->count[unit] = 1u;
        best_sh = 0;
        best = 0u;
    }
    if (shift != NULL) {
        *shift = unit >= 0 ? best_sh : 0;
    }
    if (dist != NULL) {
        *dist = best;
    }
    return unit;
}

uint32_t mw_sort_process(mw_sort_t *s, const mw_sort_cfg_t *cfg, const int32_t *snips, uint32_t n,
                         uint64_t noise_var, int32_t *units, int32_t *shifts, uint64_t *dists)
{
    uint32_t assigned = 0u;
    for (uint32_t i = 0; i < n; i++) {
        int32_t sh = 0;
        uint64_t d = 0u;
        const int32_t u =
            mw_sort_assign(s, cfg, &snips[(size_t)i * cfg->len], noise_var, &sh, &d);
        units[i] = u;
        if (shifts != NULL) {
            shifts[i] = sh;
        }
        if (dists != NULL) {
            dists[i] = d;
        }
        if (u >= 0) {
            assigned++;
        }
    }
    return assigned;
}
