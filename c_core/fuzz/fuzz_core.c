/* libFuzzer target: arbitrary bytes become chain/detector/sorter parameters, coefficients and
 * samples; the core must reject bad parameters with an error code and never crash, overflow
 * or hit undefined behaviour (built with -fsanitize=fuzzer,address,undefined, no -fwrapv). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mw_biquad.h"
#include "mw_chain.h"
#include "mw_core.h"
#include "mw_detect.h"
#include "mw_match.h"
#include "mw_sort.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} reader_t;

static uint32_t take(reader_t *r, unsigned bytes)
{
    uint32_t v = 0u;
    for (unsigned i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n > 0u ? *r->p : 0u);
        if (r->n > 0u) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

#define MAXN 2048
#define MAXEV 4096

static int32_t x[MAXN], y[MAXN], work[MAXN];
static int32_t xb[3][MAXN], yb[3][3][MAXN];
static mw_chain_t bank[3][3];
static int16_t x16[MAXN], y16[MAXN];
static mw_event_t ev[MAXEV];
static int32_t snip[16384];
static int32_t ring[1024];
static int32_t templates[MW_SORT_MAX_UNITS * 64];
static int32_t units[MAXN];
static int16_t m_tm[MW_MATCH_MAX_ROWS * 64], m_res[MAXN];
static uint16_t m_unit[MW_MATCH_MAX_ROWS];
static int64_t m_gain[MW_MATCH_MAX_ROWS], m_spill[MW_MATCH_MAX_ROWS], m_left[MW_MATCH_MAX_ROWS];
static uint16_t m_alpha[2 * MW_MATCH_MAX_ROWS];
static mw_match_best_t m_work[MAXN];
static mw_match_hit_t m_hits[64];
static int64_t m_cross[MW_MATCH_MAX_ROWS * MW_MATCH_MAX_ROWS * 9];
static mw_match_pair_work_t m_pw;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader_t r = {data, size};
    mw_chain_cfg_t c;
    memset(&c, 0, sizeof c);
    c.n_sections = (uint8_t)(take(&r, 1) % 6u);
    for (unsigned k = 0; k < MW_CHAIN_MAX_SECTIONS; k++) {
        c.kind[k] = (uint8_t)(take(&r, 1) % 4u); /* 3 is not a kind */
        c.post_shift[k] = (int8_t)(take(&r, 1) % 11u) - 1;
        for (unsigned j = 0; j < 5u; j++) {
            c.coeffs[k][j] = c.kind[k] == MW_SECTION_Q15 ? (int32_t)(int16_t)take(&r, 2)
                                                         : (int32_t)take(&r, 4);
        }
    }
    c.input_shift = (uint8_t)(take(&r, 1) % 18u);
    c.noise_shift = (uint8_t)(take(&r, 1) % 22u);
    c.det.thr_mult_q12 = take(&r, 3);
    c.det.ceil_mult_q12 = take(&r, 3);
    c.det.blank = take(&r, 2);
    c.det.dead = (uint16_t)take(&r, 1);
    c.det.align = (uint16_t)(take(&r, 1) % 64u);
    c.det.pre = (uint16_t)(take(&r, 2) % 600u);
    c.det.post = (uint16_t)(take(&r, 2) % 600u);
    c.det.polarity = (uint8_t)(take(&r, 1) % 5u);
    c.det.neo = (uint8_t)(take(&r, 1) % 3u);
    c.det.neo_shift = (uint8_t)(take(&r, 1) % 70u);
    const uint32_t ring_len = 1u << (take(&r, 1) % 11u);
    const uint32_t chunk = 1u + take(&r, 2) % MAXN;
    uint32_t n = (uint32_t)(r.n / 4u);
    if (n > MAXN) {
        n = MAXN;
    }
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (int32_t)take(&r, 4);
        x16[i] = (int16_t)x[i];
    }

    /* The chain: rejected configurations must be rejected before any processing. */
    mw_chain_t ch;
    if (mw_chain_init(&ch, &c, ring, ring_len) == MW_OK) {
        const uint32_t len = (uint32_t)c.det.pre + c.det.post + 1u;
        mw_chain_prime(&ch, &c, x, work, n / 2u);
        uint32_t total = 0u;
        for (uint32_t pos = 0; pos < n;) {
            const uint32_t m = chunk < n - pos ? chunk : n - pos;
            const uint32_t cap = mw_detect_max_events(&c.det, m);
            if (cap > MAXEV || (uint64_t)cap * len > sizeof snip / sizeof snip[0]) {
                break;
            }
            total += mw_chain_process(&ch, &c, &x[pos], &y[pos], m, ev, cap, snip);
            pos += m;
        }
        if ((uint64_t)(MW_DETECT_PENDING + 1u) * len <= sizeof snip / sizeof snip[0]) {
            total += mw_chain_flush(&ch, &c, ev, MW_DETECT_PENDING + 1u, snip);
        }
        (void)total;
        for (uint32_t i = 0; i < n; i++) {
            if (y[i] > MW_DATA_MAX || y[i] < -MW_DATA_MAX) {
                __builtin_trap();
            }
        }
    }

    /* Bank filtering: the vector paths (AVX-512, AVX2, where there are) and the scalar path
     * agree. */
    if (mw_chain_cfg_check(&c) == MW_OK) {
        for (uint32_t i = 0; i < n; i++) {
            xb[0][i] = x[i];
            xb[1][i] = (int32_t)((uint32_t)x[i] * 2654435761u);
            xb[2][i] = x[n - 1u - i];
        }
        const uint32_t flags[3] = {0u, MW_BANK_PORTABLE, MW_BANK_NO_AVX512};
        for (int p = 0; p < 3; p++) {
            for (int k = 0; k < 3; k++) {
                (void)mw_chain_init(&bank[p][k], &c, NULL, 0u);
            }
            for (uint32_t pos = 0; pos < n;) {
                const uint32_t m = chunk < n - pos ? chunk : n - pos;
                mw_chain_filter_bank(bank[p], 3u, &c, &xb[0][pos], MAXN, &yb[p][0][pos], MAXN, m,
                                     flags[p]);
                pos += m;
            }
        }
        if (memcmp(yb[0], yb[1], sizeof yb[0]) != 0 || memcmp(yb[0], yb[2], sizeof yb[0]) != 0 ||
            memcmp(bank[0], bank[1], sizeof bank[0]) != 0 ||
            memcmp(bank[0], bank[2], sizeof bank[0]) != 0) {
            __builtin_trap();
        }
    }

    /* Plain cascades over int32 and int16. */
    if (c.n_sections > 0u && c.n_sections <= MW_CHAIN_MAX_SECTIONS) {
        int16_t c15[5 * MW_CHAIN_MAX_SECTIONS];
        mw_biq15_state_t s15[MW_CHAIN_MAX_SECTIONS];
        mw_biq31_state_t s31[MW_CHAIN_MAX_SECTIONS];
        for (unsigned k = 0; k < 5u * MW_CHAIN_MAX_SECTIONS; k++) {
            c15[k] = (int16_t)c.coeffs[k / 5u][k % 5u];
        }
        mw_biquad_q15_t b15;
        if (mw_biquad_q15_init(&b15, c.n_sections, c15, s15, c.post_shift[0]) == MW_OK) {
            mw_biquad_q15_process(&b15, x, y, n);
            mw_biquad_q15_process_i16(&b15, x16, y16, n);
        }
        mw_biquad_q31x64_t b31;
        if (mw_biquad_q31x64_init(&b31, c.n_sections, &c.coeffs[0][0], s31, c.post_shift[0]) ==
            MW_OK) {
            mw_biquad_q31x64_process(&b31, x, y, n);
        }
    }

    /* The sorter over the samples cut into snippets. */
    mw_sort_cfg_t sc;
    sc.len = (uint16_t)(4u + c.det.pre % 61u);
    sc.max_units = (uint8_t)(c.det.dead % (MW_SORT_MAX_UNITS + 2u));
    sc.max_shift = (uint8_t)(c.det.align % 20u);
    sc.update_shift = (uint8_t)(c.det.post % 18u);
    sc.allow_new = (uint8_t)(c.det.neo % 3u);
    sc.dist_shift = (uint8_t)(c.det.neo_shift % 34u);
    sc.reserved = 0u;
    sc.accept_q8 = c.det.thr_mult_q12;
    mw_sort_t st;
    if (mw_sort_init(&st, &sc, templates, 0u) == MW_OK) {
        const uint32_t ns = n / sc.len;
        mw_sort_process(&st, &sc, x, ns, (uint64_t)c.det.ceil_mult_q12 << 20, units, NULL, NULL);
    }

    /* The peel-off matcher: templates and residual from the samples, parameters from the rest
     * of the input (invalid ones must be refused); one or several channels (the segment's
     * channels share the residual buffer at a stride), with or without the pair search. */
    mw_match_cfg_t mc;
    mc.len = (uint16_t)(take(&r, 1) % 70u);
    mc.n_rows = (uint16_t)(take(&r, 1) % (MW_MATCH_MAX_ROWS + 2u));
    mc.n_ch = (uint16_t)(take(&r, 1) % 5u);
    mc.alpha_lo_q14 = (uint16_t)take(&r, 2);
    mc.alpha_hi_q14 = (uint16_t)take(&r, 2);
    mc.gap = (uint16_t)take(&r, 2);
    mc.frac_q8 = (uint16_t)(take(&r, 2) % 300u);
    mc.pair_reach = (uint16_t)(take(&r, 1) % 6u); /* 0..5; 5 is over the cross table's 4 */
    mc.refit = (uint16_t)(take(&r, 1) % 10u);      /* 9 is refused */
    mc.floor = (int64_t)(int32_t)take(&r, 4) * (int64_t)(take(&r, 1) % 64u);
    mc.pair_trigger = (int64_t)(int32_t)take(&r, 4) * (int64_t)(take(&r, 1) % 64u);
    const uint32_t n_ch = mc.n_ch ? mc.n_ch : 1u;
    const uint32_t seg = n / n_ch; /* each channel's segment length */
    mc.stride = (take(&r, 1) & 1u) ? seg : seg - (seg > 0u); /* sometimes too short */
    const uint32_t tl = (uint32_t)mc.len * mc.n_rows * n_ch;
    for (uint32_t i = 0; i < tl && i < MW_MATCH_MAX_ROWS * 64u; i++) {
        m_tm[i] = (int16_t)(x[i % (n ? n : 1u)] >> (take(&r, 1) % 17u));
    }
    for (uint32_t k = 0; k < MW_MATCH_MAX_ROWS; k++) {
        m_unit[k] = (uint16_t)(k % 5u);
        m_gain[k] = 1 + (int64_t)(take(&r, 3));
        m_spill[k] = (int64_t)take(&r, 2) << (take(&r, 1) % 30u); /* some over 2^40: refused */
        m_left[k] = (int64_t)take(&r, 3) << (take(&r, 1) % 24u);
        m_alpha[2u * k] = (uint16_t)take(&r, 2); /* lo > hi or 0 sometimes: refused */
        m_alpha[2u * k + 1u] = (uint16_t)take(&r, 2);
    }
    const int with_spill = (int)(take(&r, 1) & 1u);
    for (uint32_t i = 0; i < n; i++) {
        m_res[i] = (int16_t)y[i];
    }
    mw_match_t mm;
    if ((uint32_t)mc.len * n_ch <= 64u && mc.pair_reach <= 4u &&
        mw_match_init(&mm, &mc, m_tm, m_unit, m_gain, with_spill ? m_spill : NULL,
                      with_spill ? m_left : NULL, (take(&r, 1) & 1u) ? m_alpha : NULL,
                      m_cross) == MW_OK) {
        mw_match_segment(&mm, &mc, m_res, seg, m_work, (take(&r, 1) & 1u) ? &m_pw : NULL, m_hits,
                         1u + take(&r, 1) % 64u);
    }
    return 0;
}
