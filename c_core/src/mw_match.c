#include "mw_match.h"

#include <stddef.h>

#include "mw_core.h"
#include "mw_dsp.h"

#define MW__EXTRA_MAX ((int64_t)1 << 60)

int32_t mw_match_cfg_check(const mw_match_cfg_t *cfg)
{
    if (cfg == NULL || cfg->len < 4u || cfg->len > MW_MATCH_MAX_LEN || cfg->n_rows == 0u ||
        cfg->n_rows > MW_MATCH_MAX_ROWS || cfg->n_ch == 0u || cfg->n_ch > MW_MATCH_MAX_CH ||
        (uint32_t)cfg->n_ch * cfg->len > MW_MATCH_MAX_SPAN || cfg->alpha_lo_q14 == 0u ||
        cfg->alpha_lo_q14 > cfg->alpha_hi_q14 || cfg->gap > 32767u || cfg->frac_q8 > 256u ||
        cfg->pair_reach > MW_MATCH_MAX_REACH || cfg->refit > 8u || cfg->floor < 0 ||
        cfg->floor > ((int64_t)1 << 50) || cfg->pair_trigger < 0 ||
        cfg->pair_trigger > ((int64_t)1 << 50)) {
        return MW_ERR_ARG;
    }
    return MW_OK;
}

/* sum over channels and samples of a[ch][i] * b[ch][i]; a with the residual's stride */
static int64_t mw__dot(const int16_t *a, uint32_t stride, const int16_t *b, uint32_t n_ch,
                       uint32_t len)
{
    int64_t c = 0;
    for (uint32_t ch = 0; ch < n_ch; ch++) {
        const int16_t *x = &a[(size_t)ch * stride];
        const int16_t *t = &b[(size_t)ch * len];
        int64_t s = 0; /* one channel: len <= 512 products < 2^30 each, < 2^39 */
        for (uint32_t i = 0; i < len; i++) {
            s += (int32_t)x[i] * t[i];
        }
        c += s;
    }
    return c;
}

/* sum over channels and samples of a[ch][i]^2, channels `stride` apart */
static int64_t mw__energy(const int16_t *a, uint32_t stride, uint32_t n_ch, uint32_t len)
{
    int64_t e = 0;
    for (uint32_t ch = 0; ch < n_ch; ch++) {
        const int16_t *x = &a[(size_t)ch * stride];
        int64_t s = 0;
        for (uint32_t i = 0; i < len; i++) {
            s += (int32_t)x[i] * x[i];
        }
        e += s;
    }
    return e;
}

int32_t mw_match_init(mw_match_t *m, const mw_match_cfg_t *cfg, const int16_t *templates,
                      const uint16_t *unit, const int64_t *min_gain, const int64_t *spill,
                      const int64_t *leftover, const uint16_t *alpha, int64_t *cross)
{
    if (m == NULL || templates == NULL || unit == NULL || min_gain == NULL ||
        mw_match_cfg_check(cfg) != MW_OK || (cfg->pair_reach > 0u && cross == NULL)) {
        return MW_ERR_ARG;
    }
    const uint32_t len = cfg->len, n_ch = cfg->n_ch, span = len * n_ch;
    for (uint32_t k = 0; k < cfg->n_rows; k++) {
        const int16_t *t = &templates[(size_t)k * span];
        const int64_t e = mw__dot(t, len, t, n_ch, len);
        if (e <= 0 || min_gain[k] <= 0 || min_gain[k] >= ((int64_t)1 << 60) ||
            (spill != NULL && (spill[k] < 0 || spill[k] > ((int64_t)1 << 40))) ||
            (leftover != NULL && (leftover[k] < 0 || leftover[k] > ((int64_t)1 << 44))) ||
            (alpha != NULL && (alpha[2u * k] == 0u || alpha[2u * k] > alpha[2u * k + 1u]))) {
            return MW_ERR_ARG;
        }
        m->energy[k] = e;
    }
    /* cross[(k1 * rows + k2) * (2 reach + 1) + reach + d] = T_k1 . T_k2 with T_k2 starting d
     * samples after T_k1 (d may be negative) */
    const int32_t reach = (int32_t)cfg->pair_reach;
    if (reach > 0) {
        const uint32_t nd = 2u * (uint32_t)reach + 1u;
        for (uint32_t k1 = 0; k1 < cfg->n_rows; k1++) {
            for (uint32_t k2 = 0; k2 < cfg->n_rows; k2++) {
                const int16_t *a = &templates[(size_t)k1 * span];
                const int16_t *b = &templates[(size_t)k2 * span];
                for (int32_t d = -reach; d <= reach; d++) {
                    int64_t s = 0;
                    const uint32_t ad = (uint32_t)(d > 0 ? d : -d);
                    if (ad < len) {
                        for (uint32_t ch = 0; ch < n_ch; ch++) {
                            const int16_t *x = &a[(size_t)ch * len];
                            const int16_t *y = &b[(size_t)ch * len];
                            for (uint32_t j = 0; j + ad < len; j++) {
                                s += d >= 0 ? (int32_t)x[j + ad] * y[j] : (int32_t)x[j] * y[j + ad];
                            }
                        }
                    }
                    cross[((size_t)k1 * cfg->n_rows + k2) * nd + (uint32_t)(d + reach)] = s;
                }
            }
        }
    }
    m->len = cfg->len;
    m->n_rows = cfg->n_rows;
    m->n_ch = cfg->n_ch;
    m->pair_reach = cfg->pair_reach;
    m->templates = templates;
    m->unit = unit;
    m->min_gain = min_gain;
    m->spill = spill;
    m->leftover = leftover;
    m->alpha = alpha;
    m->cross = reach > 0 ? cross : NULL;
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

/* c^2 / E for c > 0 (else 0) as alpha * c, alpha = c / E in Q14: c^2/E <= W < 2^42 */
static int64_t mw__gain(int64_t c, int64_t e)
{
    if (c <= 0) {
        return 0;
    }
    return mw_asr64(((c * MW_MATCH_ALPHA_ONE) / e) * c, 14);
}

static int64_t mw__spill(const mw_match_t *m, int32_t row)
{
    return m->spill != NULL ? m->spill[row] : 0;
}

static int64_t mw__leftover(const mw_match_t *m, int32_t row)
{
    return m->leftover != NULL ? m->leftover[row] : 0;
}

/* Is amplitude a (Q14) in row k's accepted range? */
static int mw__alpha_ok(const mw_match_t *m, const mw_match_cfg_t *cfg, uint32_t k, int64_t a)
{
    const int64_t lo = m->alpha != NULL ? m->alpha[2u * k] : cfg->alpha_lo_q14;
    const int64_t hi = m->alpha != NULL ? m->alpha[2u * k + 1u] : cfg->alpha_hi_q14;
    return a >= lo && a <= hi;
}

/* The best candidate at start position t over every row, into *b (its extra and load are
 * kept: they depend on the fits around, not on the residual). */
static void mw__eval(const mw_match_t *m, const mw_match_cfg_t *cfg, const int16_t *r,
                     int32_t t, const mw_match_hit_t *hits, uint32_t n_hits, mw_match_best_t *b)
{
    const uint32_t len = cfg->len, n_ch = cfg->n_ch, span = len * n_ch;
    const int16_t *x = &r[t];
    const int64_t w = mw__energy(x, cfg->stride, n_ch, len);
    b->gain = -1;
    b->energy = w;
    b->alpha_q14 = 0;
    b->row = -1;
    const int64_t above = w - cfg->floor;
    for (uint32_t k = 0; k < cfg->n_rows; k++) {
        const int64_t c = mw__dot(x, cfg->stride, &m->templates[(size_t)k * span], n_ch, len);
        if (c <= 0) {
            continue;
        }
        const int64_t e = m->energy[k];
        /* c < 2^42: c * 2^14 < 2^56 */
        const int64_t alpha = (c * MW_MATCH_ALPHA_ONE) / e;
        if (!mw__alpha_ok(m, cfg, k, alpha)) {
            continue;
        }
        const int64_t gain = mw_asr64(alpha * c, 14); /* alpha < 2^16: < 2^58 */
        /* min_gain < 2^60, extra <= 2^60 */
        if (gain < m->min_gain[k] + b->extra || gain <= b->gain) {
            continue;
        }
        /* gain >= frac * (W - floor): gain < 2^44, frac <= 2^8 */
        if (above > 0 && gain * 256 < (int64_t)cfg->frac_q8 * above) {
            continue;
        }
        if (cfg->gap > 0u && hits != NULL &&
            mw__blocked(m, hits, n_hits, m->unit[k], t, (int32_t)cfg->gap)) {
            continue;
        }
        b->gain = gain;
        b->alpha_q14 = (int32_t)alpha;
        b->row = (int32_t)k;
    }
}

static uint64_t mw__absu(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* Joint least-squares fit of two rows: (a1, a2) in Q14 and the gain, or -1 when the pair is
 * not identifiable or an amplitude is implausible. |c|, |x|, e < 2^43. */
static int64_t mw__solve2(const mw_match_t *m, const mw_match_cfg_t *cfg, uint32_t k1,
                          uint32_t k2, int64_t c1, int64_t c2, int64_t x, int32_t *a1_out,
                          int32_t *a2_out)
{
    const int64_t e1 = m->energy[k1], e2 = m->energy[k2];
    uint64_t big = (uint64_t)e1 > (uint64_t)e2 ? (uint64_t)e1 : (uint64_t)e2;
    const uint64_t mc = mw__absu(c1) > mw__absu(c2) ? mw__absu(c1) : mw__absu(c2);
    big = big > mc ? big : mc;
    big = big > mw__absu(x) ? big : mw__absu(x);
    unsigned s = 0u;
    while ((big >> s) >= ((uint64_t)1 << 30)) {
        s++;
    }
    const int64_t c1s = mw_asr64(c1, s), c2s = mw_asr64(c2, s);
    const int64_t e1s = mw_asr64(e1, s), e2s = mw_asr64(e2, s), xs = mw_asr64(x, s);
    const int64_t ee = e1s * e2s;     /* < 2^60 */
    const int64_t det = ee - xs * xs; /* >= 0 up to rounding */
    /* identifiable: the part of each template the other cannot explain passes that row's
     * noise test, det / e2 >= min_gain1 and det / e1 >= min_gain2 (the amplitudes' noise SD
     * stays below 1/z); and det precise enough for Q14 amplitudes */
    const int64_t g1 = mw_asr64(m->min_gain[k1], s), g2 = mw_asr64(m->min_gain[k2], s);
    const int64_t lim = (int64_t)1 << 30;
    if (det <= 0 || det < ((int64_t)1 << 28) || det < (g1 < lim ? g1 : lim) * e2s ||
        det < (g2 < lim ? g2 : lim) * e1s) {
        return -1;
    }
    const int64_t dq = mw_asr64(det, 14);
    const int64_t n1 = c1s * e2s - c2s * xs; /* each product < 2^60 */
    const int64_t n2 = c2s * e1s - c1s * xs;
    const int64_t a1 = n1 / dq, a2 = n2 / dq;
    if (!mw__alpha_ok(m, cfg, k1, a1) || !mw__alpha_ok(m, cfg, k2, a2)) {
        return -1;
    }
    *a1_out = (int32_t)a1;
    *a2_out = (int32_t)a2;
    return mw_asr64(a1 * c1 + a2 * c2, 14); /* a < 2^16, |c| < 2^43: < 2^60 */
}

/* Pair search around position t0 where the best single fit gains g0 (0: no single fit):
 * writes the pair to out and returns its joint gain, or -1 when no pair beats the single fit
 * by the rules in mw_match.h. */
static int64_t mw__pair(const mw_match_t *m, const mw_match_cfg_t *cfg, const int16_t *r,
                        const mw_match_best_t *work, int32_t last, int32_t t0, int64_t g0,
                        const mw_match_hit_t *hits, uint32_t n_hits, mw_match_pair_work_t *pw,
                        mw_match_hit_t out[2])
{
    const int32_t reach = (int32_t)cfg->pair_reach, len = (int32_t)cfg->len;
    const uint32_t rows = cfg->n_rows, span = (uint32_t)cfg->len * cfg->n_ch;
    const uint32_t nd = 2u * (uint32_t)reach + 1u;
    const int32_t lo = t0 - reach < 0 ? 0 : t0 - reach;
    const int32_t hi = t0 + reach > last ? last : t0 + reach;
    const int32_t nw = hi - lo + 1; /* <= 2 reach + 1 */
    for (uint32_t k = 0; k < rows; k++) {
        for (int32_t p = 0; p < nw; p++) {
            const size_t i = (size_t)k * nd + (uint32_t)p;
            pw->c[i] = mw__dot(&r[lo + p], cfg->stride, &m->templates[(size_t)k * span],
                               cfg->n_ch, cfg->len);
            pw->blocked[i] = (uint8_t)(cfg->gap > 0u && mw__blocked(m, hits, n_hits, m->unit[k],
                                                                     lo + p, (int32_t)cfg->gap));
        }
    }
    int64_t best = -1;
    for (int32_t p1 = 0; p1 < nw; p1++) {
        for (int32_t p2 = p1; p2 < nw && p2 - p1 <= reach; p2++) {
            const int32_t d = p2 - p1;
            const int64_t ov = (int64_t)(len - d); /* samples the two supports share */
            const int64_t x1 = work[lo + p1].extra, x2 = work[lo + p2].extra;
            for (uint32_t k1 = 0; k1 < rows; k1++) {
                const size_t i1 = (size_t)k1 * nd + (uint32_t)p1;
                if (pw->blocked[i1]) {
                    continue;
                }
                const int64_t c1 = pw->c[i1], e1 = m->energy[k1];
                const int64_t alone1 = mw__gain(c1, e1);
                const int64_t need1 = m->min_gain[k1] + x1; /* < 2^61 */
                const int64_t sp1 = mw__spill(m, (int32_t)k1) * ov; /* <= 2^49 */
                for (uint32_t k2 = d == 0 ? k1 + 1u : 0u; k2 < rows; k2++) {
                    const size_t i2 = (size_t)k2 * nd + (uint32_t)p2;
                    if (pw->blocked[i2] || (m->unit[k1] == m->unit[k2] && d < (int32_t)cfg->gap)) {
                        continue;
                    }
                    const int64_t c2 = pw->c[i2], e2 = m->energy[k2];
                    const int64_t x =
                        m->cross[((size_t)k1 * rows + k2) * nd + (uint32_t)(d + reach)];
                    int32_t a1 = 0, a2 = 0;
                    const int64_t g = mw__solve2(m, cfg, k1, k2, c1, c2, x, &a1, &a2);
                    if (g <= best || g <= g0) {
                        continue;
                    }
                    const int64_t need2 = m->min_gain[k2] + x2;
                    const int64_t sp2 = mw__spill(m, (int32_t)k2) * ov;
                    if (g - g0 < (need1 > need2 ? need1 : need2) ||
                        g - mw__gain(c2, e2) < need1 + sp2 || g - alone1 < need2 + sp1) {
                        continue;
                    }
                    best = g;
                    out[0].pos = lo + p1;
                    out[0].row = (int32_t)k1;
                    out[0].alpha_q14 = a1;
                    out[1].pos = lo + p2;
                    out[1].row = (int32_t)k2;
                    out[1].alpha_q14 = a2;
                }
            }
        }
    }
    if (best >= 0) {
        for (int h = 0; h < 2; h++) {
            out[h].flags = MW_MATCH_PAIR;
            out[h].gain = best;
        }
    }
    return best;
}

static int16_t mw__sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32767 ? -32767 : v));
}

/* Take a hit's fitted waveform off the residual (sign -1) or put it back (+1). */
static void mw__apply(const mw_match_t *m, const mw_match_cfg_t *cfg, int16_t *resid,
                      const mw_match_hit_t *h, int32_t sign)
{
    const uint32_t len = cfg->len, n_ch = cfg->n_ch;
    const int16_t *tm = &m->templates[(size_t)h->row * len * n_ch];
    for (uint32_t ch = 0; ch < n_ch; ch++) {
        int16_t *x = &resid[(size_t)ch * cfg->stride + (uint32_t)h->pos];
        const int16_t *t = &tm[(size_t)ch * len];
        for (uint32_t i = 0; i < len; i++) {
            const int32_t v =
                (int32_t)mw_asr64((int64_t)h->alpha_q14 * t[i] + (MW_MATCH_ALPHA_ONE / 2), 14);
            x[i] = mw__sat16((int32_t)x[i] + sign * v);
        }
    }
}

/* Re-fit the hits overlapping [lo, hi) (samples of the segment), up to cfg->refit sweeps:
 * each is put back and fitted again on the residual, its row (a sub-sample phase of the same
 * unit) and position free within MW__REFIT_MOVE samples, its amplitude clamped to its row's
 * range; returns in [*a, *b] the span of the hits it visited. */
#define MW__REFIT_MOVE 2
static void mw__backfit(const mw_match_t *m, const mw_match_cfg_t *cfg, int16_t *resid,
                        int32_t last, mw_match_hit_t *hits, uint32_t n_hits, int32_t lo,
                        int32_t hi, int32_t *a, int32_t *b)
{
    const int32_t len = (int32_t)cfg->len;
    const uint32_t span = (uint32_t)cfg->len * cfg->n_ch;
    for (uint32_t sweep = 0; sweep < cfg->refit; sweep++) {
        int changed = 0;
        for (uint32_t h = 0; h < n_hits; h++) {
            mw_match_hit_t *hp = &hits[h];
            if (hp->pos + len <= lo || hp->pos >= hi) {
                continue;
            }
            mw__apply(m, cfg, resid, hp, 1);
            const uint16_t u = m->unit[hp->row];
            int64_t best = -1;
            int32_t bp = hp->pos, br = hp->row;
            int64_t ba = hp->alpha_q14;
            for (int32_t p = hp->pos - MW__REFIT_MOVE; p <= hp->pos + MW__REFIT_MOVE; p++) {
                if (p < 0 || p > last) {
                    continue;
                }
                for (uint32_t k = 0; k < cfg->n_rows; k++) {
                    if (m->unit[k] != u) {
                        continue;
                    }
                    const int64_t c = mw__dot(&resid[p], cfg->stride,
                                              &m->templates[(size_t)k * span], cfg->n_ch,
                                              cfg->len);
                    const int64_t lo_a = m->alpha != NULL ? m->alpha[2u * k] : cfg->alpha_lo_q14;
                    const int64_t hi_a =
                        m->alpha != NULL ? m->alpha[2u * k + 1u] : cfg->alpha_hi_q14;
                    int64_t al = c > 0 ? (c * MW_MATCH_ALPHA_ONE) / m->energy[k] : lo_a;
                    al = al < lo_a ? lo_a : (al > hi_a ? hi_a : al);
                    /* energy removed by al * T_k: 2 al c - al^2 E (Q14 scaled, < 2^60) */
                    const int64_t g = mw_asr64(2 * al * c, 14) -
                                      mw_asr64(mw_asr64(al * al, 14) * m->energy[k], 14);
                    if (g > best) {
                        best = g;
                        bp = p;
                        br = (int32_t)k;
                        ba = al;
                    }
                }
            }
            changed |= bp != hp->pos || br != hp->row || ba != hp->alpha_q14;
            hp->pos = bp;
            hp->row = br;
            hp->alpha_q14 = (int32_t)ba;
            *a = bp < *a ? bp : *a;
            *b = bp > *b ? bp : *b;
            mw__apply(m, cfg, resid, hp, -1);
        }
        if (!changed) {
            break;
        }
    }
}

/* A fit at p raises what candidates around it must gain (spill) and the leftover energy
 * expected there (load), by the share of their supports it overlaps. */
static void mw__spread(const mw_match_t *m, const mw_match_cfg_t *cfg, mw_match_best_t *work,
                       int32_t last, const mw_match_hit_t *h)
{
    const int32_t len = (int32_t)cfg->len;
    const int64_t sp = mw__spill(m, h->row), lv = mw__leftover(m, h->row);
    if (sp == 0 && lv == 0) {
        return;
    }
    const int32_t a = h->pos - len + 1 < 0 ? 0 : h->pos - len + 1;
    const int32_t z = h->pos + len - 1 > last ? last : h->pos + len - 1;
    for (int32_t t = a; t <= z; t++) {
        const int64_t ov = (int64_t)(len - (t > h->pos ? t - h->pos : h->pos - t));
        const int64_t x = work[t].extra + sp * ov;  /* sp * ov <= 2^49 */
        const int64_t l = work[t].load + lv * ov / len; /* lv * ov <= 2^53 */
        work[t].extra = x < MW__EXTRA_MAX ? x : MW__EXTRA_MAX;
        work[t].load = l < MW__EXTRA_MAX ? l : MW__EXTRA_MAX;
    }
}

int32_t mw_match_segment(const mw_match_t *m, const mw_match_cfg_t *cfg, int16_t *resid,
                         uint32_t n, mw_match_best_t *work, mw_match_pair_work_t *pw,
                         mw_match_hit_t *hits, uint32_t max_hits)
{
    if (m == NULL || resid == NULL || work == NULL || hits == NULL ||
        mw_match_cfg_check(cfg) != MW_OK || cfg->len != m->len || cfg->n_rows != m->n_rows ||
        cfg->n_ch != m->n_ch || cfg->pair_reach != m->pair_reach ||
        (cfg->pair_reach > 0u && pw == NULL) || n > 0x7fffffffu ||
        (cfg->n_ch > 1u && cfg->stride < n)) {
        return MW_ERR_ARG;
    }
    const uint32_t len = cfg->len;
    if (n < len || max_hits == 0u) {
        return 0;
    }
    const int32_t last = (int32_t)(n - len); /* start positions 0..last */
    for (int32_t t = 0; t <= last; t++) {
        work[t].extra = 0;
        work[t].load = 0;
        mw__eval(m, cfg, resid, t, hits, 0u, &work[t]);
    }
    /* positions whose candidates a fit at t0 can change: the supports it overlaps, and the
     * unit's refractory window */
    const int32_t reach = (int32_t)len - 1 > (int32_t)cfg->gap - 1 ? (int32_t)len - 1
                                                                     : (int32_t)cfg->gap - 1;
    const int32_t pr = (int32_t)cfg->pair_reach;
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
        mw_match_hit_t fit[2];
        uint32_t n_fit = 0u;
        if (t0 >= 0) {
            const mw_match_best_t b = work[t0];
            n_fit = 1u;
            fit[0].pos = t0;
            fit[0].row = b.row;
            fit[0].alpha_q14 = b.alpha_q14;
            fit[0].flags = 0;
            fit[0].gain = b.gain;
            /* energy, leftover, load < 2^45 each */
            if (pr > 0 && n_hits + 2u <= max_hits &&
                b.energy - b.gain > cfg->pair_trigger + mw__leftover(m, b.row) + b.load &&
                mw__pair(m, cfg, resid, work, last, t0, b.gain, hits, n_hits, pw, fit) >= 0) {
                n_fit = 2u;
            }
        } else if (pr > 0 && n_hits + 2u <= max_hits) {
            /* no single candidate: the most energetic place not yet searched for a pair */
            int64_t wmax = 0;
            for (int32_t t = 0; t <= last; t++) {
                const int64_t over = work[t].energy - cfg->pair_trigger - work[t].load;
                if (work[t].row != -2 && over > wmax) {
                    wmax = over;
                    t0 = t;
                }
            }
            if (t0 < 0) {
                break;
            }
            if (mw__pair(m, cfg, resid, work, last, t0, 0, hits, n_hits, pw, fit) >= 0) {
                n_fit = 2u;
            } else {
                const int32_t a = t0 - pr < 0 ? 0 : t0 - pr, z = t0 + pr > last ? last : t0 + pr;
                for (int32_t t = a; t <= z; t++) {
                    work[t].row = -2;
                }
                continue;
            }
        } else {
            break;
        }
        int32_t lo = last, hi = 0, f_lo = last, f_hi = 0;
        for (uint32_t f = 0; f < n_fit; f++) {
            mw__apply(m, cfg, resid, &fit[f], -1);
            hits[n_hits++] = fit[f];
            mw__spread(m, cfg, work, last, &fit[f]);
            f_lo = fit[f].pos < f_lo ? fit[f].pos : f_lo;
            f_hi = fit[f].pos > f_hi ? fit[f].pos : f_hi;
        }
        if (cfg->refit > 0u) {
            mw__backfit(m, cfg, resid, last, hits, n_hits, f_lo, f_hi + (int32_t)len, &f_lo,
                        &f_hi);
        }
        lo = f_lo - reach;
        hi = f_hi + reach;
        lo = lo < 0 ? 0 : lo;
        hi = hi > last ? last : hi;
        for (int32_t t = lo; t <= hi; t++) {
            mw__eval(m, cfg, resid, t, hits, n_hits, &work[t]);
        }
    }
    return (int32_t)n_hits;
}
