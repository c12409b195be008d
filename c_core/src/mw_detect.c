#include "mw_detect.h"

#include <stddef.h>

#include "mw_detect_impl.h"
#include "mw_dsp.h"
#include "mw_noise_impl.h"


int32_t mw_detect_cfg_check(const mw_detect_cfg_t *cfg)
{
    if (cfg == NULL || cfg->polarity < MW_POL_NEG || cfg->polarity > MW_POL_BOTH ||
        cfg->neo > 1u || cfg->neo_shift > 62u || cfg->thr_mult_q12 == 0u ||
        cfg->thr_mult_q12 > MW_DETECT_MAX_MULT_Q12 ||
        cfg->ceil_mult_q12 > MW_DETECT_MAX_MULT_Q12 ||
        (cfg->ceil_mult_q12 != 0u && cfg->ceil_mult_q12 <= cfg->thr_mult_q12) ||
        (uint32_t)cfg->dead < (uint32_t)cfg->align + 1u ||
        (uint32_t)cfg->pre + cfg->post + 1u > MW_DETECT_MAX_SNIPPET) {
        return MW_ERR_ARG;
    }
    /* Events wait `post` samples for their snippet; at most MW_DETECT_PENDING may wait. */
    if ((uint32_t)cfg->post / cfg->dead + 1u > MW_DETECT_PENDING) {
        return MW_ERR_ARG;
    }
    return MW_OK;
}

int32_t mw_detect_init(mw_detect_t *s, const mw_detect_cfg_t *cfg, int32_t *ring,
                       uint32_t ring_len)
{
    if (s == NULL || mw_detect_cfg_check(cfg) != MW_OK) {
        return MW_ERR_ARG;
    }
    if (ring != NULL) {
        const uint32_t need = (uint32_t)cfg->pre + cfg->post + 1u;
        if (ring_len < need || (ring_len & (ring_len - 1u)) != 0u) {
            return MW_ERR_ARG;
        }
        for (uint32_t i = 0; i < ring_len; i++) {
            ring[i] = 0;
        }
    }
    s->t = 0;
    s->peak_idx = 0;
    s->prev = 0;
    s->xd1 = s->xd2 = 0;
    s->peak = 0;
    s->thr_at = 0;
    s->dmax = 0u;
    s->ceil_at = 0u;
    s->dead_left = 0u;
    s->win_left = 0u;
    s->width = 0;
    s->phase = 0u;
    s->over = 0u;
    s->cross_sign = 0;
    s->n_pend = 0u;
    s->reserved[0] = 0u; /* NEO: 1 once the first input sample is in the delay line */
    s->reserved[1] = 0u;
    s->ring = ring;
    s->ring_mask = ring != NULL ? ring_len - 1u : 0u;
    s->ring_pos = 0u;
    s->n_events = s->n_rejected = s->n_dropped = s->n_warmup = 0u;
    s->blank_left = cfg->blank;
    return MW_OK;
}

uint32_t mw_detect_max_events(const mw_detect_cfg_t *cfg, uint32_t n)
{
    return n / (cfg->dead > 0u ? cfg->dead : 1u) + MW_DETECT_PENDING + 2u;
}

static void mw__emit(mw_detect_t *s, const mw_detect_cfg_t *cfg, const mw_event_t *e,
                     mw__out_t *o)
{
    if (o->n >= o->cap) {
        s->n_dropped++;
        return;
    }
    mw_event_t *dst = &o->ev[o->n];
    *dst = *e;
    if (s->ring != NULL && o->snip != NULL) {
        const uint32_t len = (uint32_t)cfg->pre + cfg->post + 1u;
        int32_t *out = o->snip + (size_t)o->n * len;
        const int64_t last = s->t - 1; /* index of the newest sample in the ring */
        int64_t j = e->index - (int64_t)cfg->pre;
        for (uint32_t k = 0; k < len; k++, j++) {
            if (j > last || j < 0) {
                out[k] = 0;
                if (j > last) {
                    dst->flags |= MW_EV_TRUNCATED;
                }
            } else {
                const uint32_t back = (uint32_t)(last - j); /* < ring length by construction */
                out[k] = s->ring[(s->ring_pos - 1u - back) & s->ring_mask];
            }
        }
    }
    o->n++;
    s->n_events++;
}

static void mw__finalize(mw_detect_t *s, const mw_detect_cfg_t *cfg, int64_t idx, uint8_t flags,
                         mw__out_t *o)
{
    const int64_t dl = s->peak_idx + (int64_t)cfg->dead - idx;
    s->dead_left = (uint16_t)(dl > 0 ? dl : 0);
    s->phase = 0u;
    if (s->ceil_at != 0u && s->dmax > s->ceil_at) {
        s->n_rejected++;
        return;
    }
    mw_event_t e;
    e.index = s->peak_idx;
    e.amplitude = s->peak;
    e.threshold = s->thr_at;
    e.width = s->width;
    e.polarity = (int8_t)(s->peak < 0 ? -1 : 1);
    e.flags = flags;
    if (s->ring != NULL) {
        if (s->n_pend < MW_DETECT_PENDING) {
            s->pend[s->n_pend++] = e;
        } else {
            s->n_dropped++;
        }
    } else {
        mw__emit(s, cfg, &e, o);
    }
}

static void mw__emit_due(mw_detect_t *s, const mw_detect_cfg_t *cfg, int64_t upto, mw__out_t *o)
{
    while (s->n_pend > 0u && s->pend[0].index + (int64_t)cfg->post <= upto) {
        mw__emit(s, cfg, &s->pend[0], o);
        for (uint32_t k = 1; k < s->n_pend; k++) {
            s->pend[k - 1u] = s->pend[k];
        }
        s->n_pend--;
    }
}

MW_INLINE int32_t mw__thr(uint32_t m, uint32_t mult_q12)
{
    const uint64_t tq = ((uint64_t)m * mult_q12) >> 12;
    return tq > (uint64_t)MW_DATA_MAX ? MW_DATA_MAX : (int32_t)tq;
}

/* A crossing at idx: start aligning (or finalize at once when align == 0). */
static void mw__start(mw_detect_t *s, const mw_detect_cfg_t *cfg, const mw_noise_t *noise,
                      int32_t x, uint32_t ad, int32_t thr, int8_t sign, int64_t idx, mw__out_t *o)
{
    const uint64_t cq = ((uint64_t)noise->m * cfg->ceil_mult_q12) >> 12;
    s->phase = 1u;
    s->peak = x;
    s->peak_idx = idx;
    s->thr_at = thr;
    s->ceil_at = cq > 0xffffffffu ? 0xffffffffu : (uint32_t)cq;
    if (cfg->ceil_mult_q12 != 0u && s->ceil_at == 0u) {
        s->ceil_at = 1u;
    }
    s->dmax = ad;
    s->width = 1;
    s->over = 1u;
    s->cross_sign = sign;
    s->win_left = cfg->align;
    if (cfg->align == 0u) {
        mw__finalize(s, cfg, idx, 0u, o);
    }
}

/* One sample of the detection state machine: x is the filtered sample, d its detection value,
 * thr the threshold of the current noise block, searched = 0 while the noise warms up. */
static void mw__step(mw_detect_t *s, const mw_detect_cfg_t *cfg, const mw_noise_t *noise,
                     int32_t x, int32_t d, int32_t thr, int searched, mw__out_t *o)
{
    const int64_t idx = s->t;
    if (s->ring != NULL) {
        s->ring[s->ring_pos & s->ring_mask] = x;
        s->ring_pos++;
    }
    s->t = idx + 1;
    if (!searched || s->blank_left != 0u) {
        if (s->blank_left != 0u) {
            s->blank_left--;
        }
        s->n_warmup++;
        s->prev = d;
        return;
    }
    const uint32_t ad = mw_abs32(d);
    if (s->phase != 0u) {
        const uint8_t pol = cfg->polarity;
        if (pol == MW_POL_POS ? x > s->peak
                              : (pol == MW_POL_NEG ? x < s->peak
                                                   : mw_abs32(x) > mw_abs32(s->peak))) {
            s->peak = x;
            s->peak_idx = idx;
        }
        if (s->over) {
            if (s->cross_sign > 0 ? d >= s->thr_at : d <= -s->thr_at) {
                s->width++;
            } else {
                s->over = 0u;
            }
        }
        if (ad > s->dmax) {
            s->dmax = ad;
        }
        if (--s->win_left == 0u) {
            mw__finalize(s, cfg, idx, 0u, o);
        }
    } else if (s->dead_left > 0u) {
        s->dead_left--;
    } else {
        const uint8_t pol = cfg->neo ? (uint8_t)MW_POL_POS : cfg->polarity;
        int8_t sign = 0;
        if ((pol & MW_POL_POS) && s->prev < thr && d >= thr) {
            sign = 1;
        } else if ((pol & MW_POL_NEG) && s->prev > -thr && d <= -thr) {
            sign = -1;
        }
        if (sign != 0) {
            mw__start(s, cfg, noise, x, ad, thr, sign, idx, o);
        }
    }
    if (s->n_pend > 0u) {
        mw__emit_due(s, cfg, idx, o);
    }
    s->prev = d;
}

/* Samples that change nothing but the history: copy them into the ring, advance time. */
static void mw__skip(mw_detect_t *s, const int32_t *xs, const int32_t *ds, uint32_t len)
{
    if (s->ring != NULL) {
        for (uint32_t k = 0; k < len; k++) {
            s->ring[(s->ring_pos + k) & s->ring_mask] = xs[k];
        }
        s->ring_pos += len;
    }
    s->t += (int64_t)len;
    s->prev = ds[len - 1u];
}

/* Samples of an event's alignment window (searched, nothing pending): the extremum, the width
 * and the largest |d| in one loop per polarity; the event is finalized at the window's end.
 * Same effect as mw__step on each. Returns the samples used (1..len). */
static uint32_t mw__align_run(mw_detect_t *s, const mw_detect_cfg_t *cfg, const int32_t *xs,
                              const int32_t *ds, uint32_t len, mw__out_t *o)
{
    const uint32_t run = s->win_left < len ? s->win_left : len;
    int32_t peak = s->peak;
    uint32_t at = 0u, found = 0u;
    if (cfg->polarity == MW_POL_POS) {
        for (uint32_t j = 0; j < run; j++) {
            if (xs[j] > peak) {
                peak = xs[j];
                at = j;
                found = 1u;
            }
        }
    } else if (cfg->polarity == MW_POL_NEG) {
        for (uint32_t j = 0; j < run; j++) {
            if (xs[j] < peak) {
                peak = xs[j];
                at = j;
                found = 1u;
            }
        }
    } else {
        uint32_t ap = mw_abs32(peak);
        for (uint32_t j = 0; j < run; j++) {
            const uint32_t a = mw_abs32(xs[j]);
            if (a > ap) {
                ap = a;
                peak = xs[j];
                at = j;
                found = 1u;
            }
        }
    }
    uint32_t dmax = s->dmax;
    for (uint32_t j = 0; j < run; j++) {
        const uint32_t a = mw_abs32(ds[j]);
        dmax = a > dmax ? a : dmax;
    }
    if (s->over) {
        uint32_t j = 0;
        if (s->cross_sign > 0) {
            while (j < run && ds[j] >= s->thr_at) {
                j++;
            }
        } else {
            while (j < run && ds[j] <= -s->thr_at) {
                j++;
            }
        }
        s->width = (int16_t)(s->width + (int16_t)j);
        s->over = j == run;
    }
    const int64_t t0 = s->t;
    if (found) {
        s->peak = peak;
        s->peak_idx = t0 + (int64_t)at;
    }
    s->dmax = dmax;
    mw__skip(s, xs, ds, run);
    s->win_left = (uint16_t)(s->win_left - run);
    if (s->win_left == 0u) {
        const int64_t idx = t0 + (int64_t)run - 1;
        mw__finalize(s, cfg, idx, 0u, o);
        if (s->n_pend > 0u) {
            mw__emit_due(s, cfg, idx, o);
        }
    }
    return run;
}

/* len (1..MW_NOISE_BLOCK - noise->pos) samples inside one noise block. The level, hence the
 * threshold, is fixed over the block; a block in which no |d| reaches the threshold while the
 * detector is idle cannot start an event, so it costs only the scan (the usual case).
 * saturate: xs == ds may hold values beyond +-MW_DATA_MAX, which the state machine must see
 * saturated (the scan already counts them so). */
static void mw__block(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                      const int32_t *xs, const int32_t *ds, uint32_t len, mw__out_t *o,
                      int saturate)
{
    const int searched = noise->started && noise->shift >= noise->target;
    const int32_t thr = mw__thr(noise->m, cfg->thr_mult_q12);
    int hit = 0;
    const int started = noise->started;
    const uint32_t above =
        started ? mw__scan(ds, len, noise->m, (uint32_t)thr, &hit, !saturate) : 0u;
    if (!started) {
        for (uint32_t k = 0; k < len; k++) {
            mw__noise_start(noise, mw_abs32(mw_sat_data(ds[k])));
        }
    }
    int32_t sat[MW_NOISE_BLOCK];
    if (!searched || s->blank_left >= len) { /* nothing searched in this block */
        s->blank_left -= s->blank_left < len ? s->blank_left : len;
        s->n_warmup += len;
        if (saturate) { /* only the ring and prev keep samples */
            for (uint32_t k = 0; k < len; k++) {
                sat[k] = mw_sat_data(xs[k]);
            }
            xs = ds = sat;
        }
        mw__skip(s, xs, ds, len);
    } else if (s->phase == 0u && s->n_pend == 0u && s->blank_left == 0u && !hit) {
        /* idle and nothing crosses: nothing here is beyond the threshold, so in range */
        s->dead_left = (uint16_t)(s->dead_left > len ? s->dead_left - len : 0u);
        mw__skip(s, xs, ds, len);
    } else {
        if (saturate) {
            for (uint32_t k = 0; k < len; k++) {
                sat[k] = mw_sat_data(xs[k]);
            }
            xs = ds = sat;
        }
        for (uint32_t k = 0; k < len;) {
            if (s->dead_left != 0u && s->phase == 0u && s->n_pend == 0u && s->blank_left == 0u) {
                /* dead time after an event: nothing can start, only history moves */
                const uint32_t run = s->dead_left < len - k ? s->dead_left : len - k;
                mw__skip(s, &xs[k], &ds[k], run);
                s->dead_left = (uint16_t)(s->dead_left - run);
                k += run;
                continue;
            }
            if (s->phase != 0u && s->n_pend == 0u && searched && s->blank_left == 0u) {
                k += mw__align_run(s, cfg, &xs[k], &ds[k], len - k, o);
                continue;
            }
            mw__step(s, cfg, noise, xs[k], ds[k], thr, searched, o);
            k++;
        }
    }
    if (started) {
        mw__noise_add(noise, above, len);
    }
}

MW_INLINE int32_t mw__neo(const mw_detect_t *s, const mw_detect_cfg_t *cfg, int32_t x0)
{
    const int64_t psi = (int64_t)s->xd1 * s->xd1 - (int64_t)s->xd2 * x0;
    return mw_sat_data64(mw_asr64(psi, cfg->neo_shift));
}

/* Whole blocks while the detector is idle with a warm noise level (the usual state): only
 * the scan per sample, the state in registers; stops before the first block where a sample
 * reaches the threshold (mw__block then takes it sample by sample). Same effect as mw__block
 * on each of those blocks. Returns the index after the last block consumed. */
MW_INLINE uint32_t mw__idle_impl(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                                 const int32_t *x, uint32_t i, uint32_t n, int saturate)
{
    uint32_t m = noise->m;
    const unsigned sh = noise->shift;
    const uint32_t mult = cfg->thr_mult_q12;
    uint32_t dead = s->dead_left;
    int32_t *const ring = s->ring;
    const uint32_t mask = s->ring_mask;
    uint32_t rpos = s->ring_pos;
    const uint32_t i0 = i;
    while (n - i >= MW_NOISE_BLOCK) {
        int hit;
        const uint32_t above =
            mw__scan(&x[i], MW_NOISE_BLOCK, m, (uint32_t)mw__thr(m, mult), &hit, !saturate);
        if (hit) {
            break;
        }
        if (ring != NULL) {
            for (uint32_t k = 0; k < MW_NOISE_BLOCK; k++) {
                ring[(rpos + k) & mask] = x[i + k];
            }
            rpos += MW_NOISE_BLOCK;
        }
        dead = dead > MW_NOISE_BLOCK ? dead - MW_NOISE_BLOCK : 0u;
        m = mw__noise_next(m, sh, above); /* a warm tracker's block end */
        i += MW_NOISE_BLOCK;
    }
    if (i != i0) { /* no sample of these blocks reached the threshold: all in range */
        noise->m = m;
        s->dead_left = (uint16_t)dead;
        s->ring_pos = rpos;
        s->t += (int64_t)(i - i0);
        s->prev = x[i - 1u];
    }
    return i;
}

static uint32_t mw__idle_blocks(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                                const int32_t *x, uint32_t i, uint32_t n, int saturate)
{
    return saturate ? mw__idle_impl(s, cfg, noise, x, i, n, 1)
                    : mw__idle_impl(s, cfg, noise, x, i, n, 0);
}

static uint32_t mw__run(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                        const int32_t *x, uint32_t n, mw__out_t *o, int saturate)
{
    uint32_t i = 0;
    if (cfg->neo) {
        int32_t xs[MW_NOISE_BLOCK], ds[MW_NOISE_BLOCK];
        if (n > 0u && s->reserved[0] == 0u) { /* the first sample only fills the delay line */
            s->reserved[0] = 1u;
            s->xd1 = mw_sat_data(x[0]);
            i = 1u;
        }
        while (i < n) {
            uint32_t len = MW_NOISE_BLOCK - noise->pos;
            len = len < n - i ? len : n - i;
            for (uint32_t k = 0; k < len; k++) {
                const int32_t x0 = mw_sat_data(x[i + k]);
                xs[k] = s->xd1;
                ds[k] = mw__neo(s, cfg, x0);
                s->xd2 = s->xd1;
                s->xd1 = x0;
            }
            mw__block(s, cfg, noise, xs, ds, len, o, 0);
            i += len;
        }
    } else {
        while (i < n) {
            if (noise->pos == 0u && n - i >= MW_NOISE_BLOCK && s->phase == 0u &&
                s->n_pend == 0u && s->blank_left == 0u && noise->started &&
                noise->shift >= noise->target) {
                i = mw__idle_blocks(s, cfg, noise, x, i, n, saturate);
                if (i >= n) {
                    break;
                }
            }
            uint32_t len = MW_NOISE_BLOCK - noise->pos;
            len = len < n - i ? len : n - i;
            mw__block(s, cfg, noise, &x[i], &x[i], len, o, saturate);
            i += len;
        }
    }
    return o->n;
}

uint32_t mw_detect_process(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                           const int32_t *x, uint32_t n, mw_event_t *ev, uint32_t ev_cap,
                           int32_t *snip)
{
    mw__out_t o = {ev, ev != NULL ? ev_cap : 0u, snip, 0u};
    return mw__run(s, cfg, noise, x, n, &o, 1);
}

uint32_t mw__detect_filtered(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                             const int32_t *x, uint32_t n, mw_event_t *ev, uint32_t ev_cap,
                             int32_t *snip)
{
    mw__out_t o = {ev, ev != NULL ? ev_cap : 0u, snip, 0u};
    return mw__run(s, cfg, noise, x, n, &o, 0);
}

uint32_t mw__detect_step(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                         const int32_t *x, uint32_t i, uint32_t n, mw__out_t *o)
{
    if (noise->pos == 0u && n - i >= MW_NOISE_BLOCK && s->phase == 0u && s->n_pend == 0u &&
        s->blank_left == 0u && noise->started && noise->shift >= noise->target) {
        const uint32_t j = mw__idle_blocks(s, cfg, noise, x, i, i + MW_NOISE_BLOCK, 1);
        if (j != i) {
            return j;
        }
    }
    uint32_t len = MW_NOISE_BLOCK - noise->pos;
    len = len < n - i ? len : n - i;
    mw__block(s, cfg, noise, &x[i], &x[i], len, o, 1);
    return i + len;
}

uint32_t mw_detect_flush(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_event_t *ev,
                         uint32_t ev_cap, int32_t *snip)
{
    mw__out_t o = {ev, ev != NULL ? ev_cap : 0u, snip, 0u};
    if (s->phase != 0u) {
        mw__finalize(s, cfg, s->t - 1, MW_EV_TRUNCATED, &o);
    }
    mw__emit_due(s, cfg, INT64_MAX - (int64_t)cfg->post, &o);
    return o.n;
}
