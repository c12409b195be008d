#include "mw_chain.h"

#include <stddef.h>

#include "mw_biquad_impl.h"
#include "mw_detect_impl.h"
#include "mw_noise_impl.h"

int32_t mw_chain_cfg_check(const mw_chain_cfg_t *cfg)
{
    if (cfg == NULL || cfg->n_sections > MW_CHAIN_MAX_SECTIONS || cfg->input_shift > 16u ||
        mw_detect_cfg_check(&cfg->det) != MW_OK) {
        return MW_ERR_ARG;
    }
    if (cfg->noise_shift < MW_NOISE_SHIFT_START || cfg->noise_shift > MW_NOISE_SHIFT_MAX) {
        return MW_ERR_ARG;
    }
    for (uint32_t k = 0; k < cfg->n_sections; k++) {
        const int32_t *c = cfg->coeffs[k];
        if (cfg->post_shift[k] < 0 || cfg->post_shift[k] > MW_BIQUAD_MAX_POST_SHIFT) {
            return MW_ERR_ARG;
        }
        if (cfg->kind[k] == MW_SECTION_Q15) {
            for (int j = 0; j < 5; j++) {
                if (c[j] < INT16_MIN || c[j] > INT16_MAX) {
                    return MW_ERR_ARG;
                }
            }
        } else if (cfg->kind[k] == MW_SECTION_Q31 || cfg->kind[k] == MW_SECTION_Q31X64) {
            if (!mw__biq31_coeffs_ok(c)) {
                return MW_ERR_RANGE;
            }
        } else {
            return MW_ERR_ARG;
        }
    }
    return MW_OK;
}

static void mw__chain_reset_filters(mw_chain_t *ch)
{
    for (uint32_t k = 0; k < MW_CHAIN_MAX_SECTIONS; k++) {
        ch->sec[k].q31.x1 = ch->sec[k].q31.x2 = 0;
        ch->sec[k].q31.y1 = ch->sec[k].q31.y2 = 0;
    }
}

int32_t mw_chain_init(mw_chain_t *ch, const mw_chain_cfg_t *cfg, int32_t *ring,
                      uint32_t ring_len)
{
    if (ch == NULL) {
        return MW_ERR_ARG;
    }
    const int32_t rc = mw_chain_cfg_check(cfg);
    if (rc != MW_OK) {
        return rc;
    }
    mw__chain_reset_filters(ch);
    if (mw_noise_init(&ch->noise, cfg->noise_shift, 0u) != MW_OK) {
        return MW_ERR_ARG;
    }
    return mw_detect_init(&ch->det, &cfg->det, ring, ring_len);
}

static int32_t mw__chain_gain(const mw_chain_cfg_t *cfg, int32_t x)
{
    return mw_sat_data64((int64_t)x * ((int64_t)1 << cfg->input_shift));
}

void mw_chain_settle(mw_chain_t *ch, const mw_chain_cfg_t *cfg, int32_t x0)
{
    mw__chain_reset_filters(ch);
    if (cfg->n_sections == 0u) {
        return;
    }
    const int32_t *c = cfg->coeffs[0];
    if ((int64_t)c[0] + c[1] + c[2] == 0) {
        const int32_t v = mw__chain_gain(cfg, x0);
        ch->sec[0].q31.x1 = v; /* x1, x2 share their place in both union members */
        ch->sec[0].q31.x2 = v;
    }
}

/* Stage kernels. Q15 rounds by a constant shift for any post-shift (mw__biq15_stage); the
 * Q31 kind gets an instance for post-shift 2 (what the designer emits) so its 64-bit rounding
 * shift is a constant too; Q31x64 (rare: very low corners) has the generic one. Outputs are
 * identical either way. */
static void mw__q15(const int32_t *c, int32_t post, mw_biq15_state_t *st, int32_t *x, uint32_t n)
{
    mw__biq15_stage(c[0], c[1], c[2], c[3], c[4], post, st, x, x, n);
}

static void mw__q31s_p2(const int32_t *c, mw_biq32_state_t *st, int32_t *x, uint32_t n)
{
    mw__biq31s_stage(c, 2, st, x, x, n);
}

static void mw__q31s_any(const int32_t *c, int32_t post, mw_biq32_state_t *st, int32_t *x,
                         uint32_t n)
{
    mw__biq31s_stage(c, post, st, x, x, n);
}

static void mw__q31(const int32_t *c, int32_t post, mw_biq31_state_t *st, int32_t *x,
                    uint32_t n)
{
    mw__biq31_stage(c, post, st, x, x, n);
}

void mw_chain_filter(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *src, int32_t *dst,
                     uint32_t n)
{
    if (cfg->input_shift != 0u) {
        for (uint32_t i = 0; i < n; i++) {
            dst[i] = mw__chain_gain(cfg, src[i]);
        }
    } else {
        mw__sat_block(src, dst, n);
    }
    for (uint32_t k = 0; k < cfg->n_sections; k++) {
        const int32_t *c = cfg->coeffs[k];
        const int32_t post = cfg->post_shift[k];
        if (cfg->kind[k] == MW_SECTION_Q15) {
            mw__q15(c, post, &ch->sec[k].q15, dst, n);
        } else if (cfg->kind[k] == MW_SECTION_Q31) {
            if (post == 2) {
                mw__q31s_p2(c, &ch->sec[k].q15, dst, n);
            } else {
                mw__q31s_any(c, post, &ch->sec[k].q15, dst, n);
            }
        } else {
            mw__q31(c, post, &ch->sec[k].q31, dst, n);
        }
    }
}

uint32_t mw_chain_detect(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *y, uint32_t n,
                         mw_event_t *ev, uint32_t ev_cap, int32_t *snip)
{
    return mw_detect_process(&ch->det, &cfg->det, &ch->noise, y, n, ev, ev_cap, snip);
}

uint32_t mw_chain_process(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *src,
                          int32_t *dst, uint32_t n, mw_event_t *ev, uint32_t ev_cap,
                          int32_t *snip)
{
    mw_chain_filter(ch, cfg, src, dst, n);
    return mw__detect_filtered(&ch->det, &cfg->det, &ch->noise, dst, n, ev, ev_cap, snip);
}

void mw_chain_prime(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *src, int32_t *work,
                    uint32_t n)
{
    if (n > 0u) {
        mw_chain_settle(ch, cfg, src[0]);
    }
    mw_chain_filter(ch, cfg, src, work, n);
    if (cfg->det.neo) {
        /* psi in place: work[i - 1] is psi of the sample before, so keep the raw one */
        int32_t prev = n > 0u ? work[0] : 0;
        for (uint32_t i = 1; i + 1u < n; i++) {
            const int32_t cur = work[i];
            const int64_t psi = (int64_t)cur * cur - (int64_t)prev * work[i + 1u];
            work[i - 1u] = mw_sat_data64(mw_asr64(psi, cfg->det.neo_shift));
            prev = cur;
        }
        mw_noise_process(&ch->noise, work, n > 2u ? n - 2u : 0u);
    } else {
        mw_noise_process(&ch->noise, work, n);
    }
    mw_noise_set_warm(&ch->noise);
    int32_t *ring = ch->det.ring;
    const uint32_t ring_len = ring != NULL ? ch->det.ring_mask + 1u : 0u;
    (void)mw_detect_init(&ch->det, &cfg->det, ring, ring_len);
    mw__chain_reset_filters(ch);
    if (n > 0u) {
        mw_chain_settle(ch, cfg, src[0]);
    }
}

uint32_t mw_chain_flush(mw_chain_t *ch, const mw_chain_cfg_t *cfg, mw_event_t *ev,
                        uint32_t ev_cap, int32_t *snip)
{
    return mw_detect_flush(&ch->det, &cfg->det, ev, ev_cap, snip);
}
