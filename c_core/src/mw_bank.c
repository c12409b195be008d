/* Vector kernels for mw_chain_filter_bank on x86-64 (AVX2 + FMA, chosen at run time; other
 * targets and CPUs use the scalar kernels).
 *
 * Four channels run side by side in the lanes of a 256-bit vector of doubles (the per-sample
 * recursion of one channel cannot be split, but independent channels can). The integer
 * definition of a stage (mw_biquad_impl.h) is reproduced exactly:
 * - Q15 stage: |c| <= 2^15 and |x|, |y| <= 2^30, so each product has at most 46 significant bits
 *   and the five-term sum at most 49. With the coefficients pre-scaled by 2^-sh (a power of
 *   two: exact) every partial sum is a multiple of 2^-sh below 2^(49-sh), i.e. at most 49
 *   significant bits, which a double (53) holds exactly, in any order and with or without
 *   fused multiply-add. y = floor(sum + 1/2) is then floor((acc + 2^(sh-1)) / 2^sh), exactly.
 * - Q31 stage (32-bit state): c = ch * 2^16 + cl with cl in [0, 2^16) and |ch| <= 2^15; both
 *   partial sums Sh = sum ch x and Sl = sum cl x are exact as above. With q = floor((Sl + rnd) /
 *   2^16), floor((Sh 2^16 + Sl + rnd) / 2^sh) = floor((Sh + q) / 2^(sh-16)) because sh > 16 and
 *   the dropped remainder is below one unit of Sh + q; both floors are of exact values.
 * - Saturation to +-MW_DATA_MAX (integers) commutes with floor and is exact in double.
 * Q31x64 sections (64-bit state) are not vectorised. The kernels rely on the cascade invariant
 * (a section's input history is the previous section's output history), which the scalar
 * kernels keep; a bank where it does not hold is left to them. tests/test_bank.c compares
 * both paths over random and extreme inputs in one binary. */
#include "mw_bank_impl.h"

#include "mw_biquad_impl.h"
#include "mw_detect_impl.h"

#define MW_BANK_DETECT_GROUP 16


/* ---- portable part: the bank API over the per-channel chain ---- */

void mw_chain_filter_bank(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                          const int32_t *src, size_t src_stride, int32_t *dst, size_t dst_stride,
                          uint32_t n, uint32_t flags)
{
    uint32_t done = 0u;
    if ((flags & MW_BANK_PORTABLE) == 0u) {
        done = mw__bank_vector(ch, n_ch, cfg, src, src_stride, dst, dst_stride, n, flags);
    }
    for (uint32_t c = done; c < n_ch; c++) {
        mw_chain_filter(&ch[c], cfg, src + c * src_stride, dst + c * dst_stride, n);
    }
}

int32_t mw_chain_bank_vectorised(const mw_chain_cfg_t *cfg)
{
    return mw__bank_vector_ok(cfg);
}

/* The channels in lock step, one block each per round: their block-to-block dependencies
 * (level -> scan -> level) are independent, so a processor can overlap them. */
void mw_chain_detect_bank(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                          const int32_t *y, size_t y_stride, uint32_t n, mw_event_t *ev,
                          uint32_t ev_cap, int32_t *snip, uint32_t *n_ev)
{
    const size_t len = (size_t)cfg->det.pre + cfg->det.post + 1u;
    for (uint32_t c0 = 0; c0 < n_ch; c0 += MW_BANK_DETECT_GROUP) {
        const uint32_t g = n_ch - c0 < MW_BANK_DETECT_GROUP ? n_ch - c0 : MW_BANK_DETECT_GROUP;
        mw__out_t o[MW_BANK_DETECT_GROUP];
        uint32_t pos[MW_BANK_DETECT_GROUP];
        for (uint32_t c = 0; c < g; c++) {
            const size_t k = c0 + c;
            const uint32_t have = n_ev[k] < ev_cap ? n_ev[k] : ev_cap;
            o[c].ev = ev != NULL ? ev + k * ev_cap + have : NULL;
            o[c].cap = ev != NULL ? ev_cap - have : 0u;
            o[c].snip = snip != NULL ? snip + (k * ev_cap + have) * len : NULL;
            o[c].n = 0u;
            pos[c] = 0u;
        }
        if (cfg->det.neo) {
            for (uint32_t c = 0; c < g; c++) {
                const size_t k = c0 + c;
                o[c].n = mw_chain_detect(&ch[k], cfg, y + k * y_stride, n, o[c].ev, o[c].cap,
                                         o[c].snip);
            }
        } else {
            uint32_t busy = g;
            while (busy != 0u) {
                busy = 0u;
                for (uint32_t c = 0; c < g; c++) {
                    if (pos[c] < n) {
                        const size_t k = c0 + c;
                        pos[c] = mw__detect_step(&ch[k].det, &cfg->det, &ch[k].noise,
                                                 y + k * y_stride, pos[c], n, &o[c]);
                        busy += pos[c] < n;
                    }
                }
            }
        }
        for (uint32_t c = 0; c < g; c++) {
            const size_t k = c0 + c;
            n_ev[k] = (n_ev[k] < ev_cap ? n_ev[k] : ev_cap) + o[c].n;
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MW_NO_VECTOR)

#include <immintrin.h>

#define MW_AVX2 __attribute__((target("avx2,fma")))
#define MW_INL static inline __attribute__((always_inline))

typedef struct {
    __m256d b[MW_CHAIN_MAX_SECTIONS][5]; /* Q15: c 2^-sh; Q31: ch 2^-(sh-16) */
    __m256d l[MW_CHAIN_MAX_SECTIONS][5]; /* Q31: cl 2^-16 */
    __m256d r[MW_CHAIN_MAX_SECTIONS];    /* Q15: 1/2; Q31: rnd 2^-16 */
    __m256d q[MW_CHAIN_MAX_SECTIONS];    /* Q31: 2^-(sh-16) */
    __m256d gain, lim, nlim, absmask;
    int split[MW_CHAIN_MAX_SECTIONS]; /* Q31 */
} mw__vcfg_t;

static double mw__pow2(int e)
{
    double v = 1.0;
    for (; e > 0; e--) {
        v *= 2.0;
    }
    for (; e < 0; e++) {
        v *= 0.5;
    }
    return v;
}

MW_AVX2 static void mw__vcfg(mw__vcfg_t *v, const mw_chain_cfg_t *cfg)
{
    for (uint32_t k = 0; k < cfg->n_sections; k++) {
        const int32_t *c = cfg->coeffs[k];
        if (cfg->kind[k] == MW_SECTION_Q15) {
            const int sh = 15 - cfg->post_shift[k];
            for (int j = 0; j < 5; j++) {
                v->b[k][j] = _mm256_set1_pd((double)c[j] * mw__pow2(-sh));
                v->l[k][j] = _mm256_setzero_pd();
            }
            v->r[k] = _mm256_set1_pd(0.5);
            v->q[k] = _mm256_setzero_pd();
            v->split[k] = 0;
        } else {
            const int sh = 31 - cfg->post_shift[k];
            for (int j = 0; j < 5; j++) {
                const int32_t hi = mw_asr32(c[j], 16u);
                const int32_t lo = (int32_t)((uint32_t)c[j] & 0xffffu);
                v->b[k][j] = _mm256_set1_pd((double)hi * mw__pow2(16 - sh));
                v->l[k][j] = _mm256_set1_pd((double)lo * mw__pow2(-16));
            }
            v->r[k] = _mm256_set1_pd(mw__pow2(sh - 17));
            v->q[k] = _mm256_set1_pd(mw__pow2(16 - sh));
            v->split[k] = 1;
        }
    }
    v->gain = _mm256_set1_pd(mw__pow2(cfg->input_shift));
    v->lim = _mm256_set1_pd((double)MW_DATA_MAX);
    v->nlim = _mm256_set1_pd(-(double)MW_DATA_MAX);
    v->absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX));
}

MW_AVX2 MW_INL __m256d mw__v4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    return _mm256_cvtepi32_pd(_mm_set_epi32(d, c, b, a));
}

/* b0 u + b1 h1 + b2 h2 + a1 y1 + a2 y2 + r with the given coefficient row, u last: it is the
 * value that arrives last (from the previous section of the same sample), so each section
 * adds one multiply-add to the path through the cascade. */
MW_AVX2 MW_INL __m256d mw__acc(const __m256d *c, __m256d r, __m256d u, __m256d h1, __m256d h2,
                               __m256d y1, __m256d y2)
{
    __m256d p = _mm256_fmadd_pd(c[1], h1, r);
    p = _mm256_fmadd_pd(c[4], y2, p);
    p = _mm256_fmadd_pd(c[2], h2, p);
    p = _mm256_fmadd_pd(c[3], y1, p);
    return _mm256_fmadd_pd(c[0], u, p);
}

/* One section of one group for one sample: u is the input, h1, h2 its history (in: the
 * previous section's history; out: this section's, for the next one), y1, y2 its state.
 * clamp = 0 leaves out the saturation (the caller checks that nothing went out of range). */
MW_AVX2 MW_INL __m256d mw__sec(const mw__vcfg_t *v, int k, int clamp, __m256d u, __m256d *h1,
                               __m256d *h2, __m256d *y1, __m256d *y2)
{
    __m256d y;
    if (!v->split[k]) {
        y = _mm256_floor_pd(mw__acc(v->b[k], v->r[k], u, *h1, *h2, *y1, *y2));
    } else {
        const __m256d q = _mm256_floor_pd(mw__acc(v->l[k], v->r[k], u, *h1, *h2, *y1, *y2));
        const __m256d ph = mw__acc(v->b[k], _mm256_setzero_pd(), u, *h1, *h2, *y1, *y2);
        y = _mm256_floor_pd(_mm256_fmadd_pd(q, v->q[k], ph));
    }
    if (clamp) {
        y = _mm256_min_pd(_mm256_max_pd(y, v->nlim), v->lim);
    }
    *h1 = *y1;
    *h2 = *y2;
    *y2 = *y1;
    *y1 = y;
    return y;
}

/* 4x4 transpose of int32: rows r[0..3] (4 samples of 4 channels) become 4 samples. */
MW_AVX2 MW_INL void mw__t4(__m128i *r)
{
    const __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]), t1 = _mm_unpacklo_epi32(r[2], r[3]);
    const __m128i t2 = _mm_unpackhi_epi32(r[0], r[1]), t3 = _mm_unpackhi_epi32(r[2], r[3]);
    r[0] = _mm_unpacklo_epi64(t0, t1);
    r[1] = _mm_unpackhi_epi64(t0, t1);
    r[2] = _mm_unpacklo_epi64(t2, t3);
    r[3] = _mm_unpackhi_epi64(t2, t3);
}

typedef struct {
    __m256d x1[2], x2[2], y1[2][MW_CHAIN_MAX_SECTIONS], y2[2][MW_CHAIN_MAX_SECTIONS];
} mw__vstate_t;

/* m (1..4) samples of G groups from in[g][j]; returns max |y| over every section (clamp = 0)
 * or 0 (clamp = 1). */
MW_AVX2 MW_INL __m256d mw__run4(const mw__vcfg_t *v, mw__vstate_t *st, const __m128i (*in)[4],
                                __m128i (*out)[4], uint32_t m, int G, int NS, int clamp)
{
    __m256d mx = _mm256_setzero_pd();
#pragma GCC unroll 4
    for (uint32_t j = 0; j < m; j++) {
        _Pragma("GCC unroll 2") for (int g = 0; g < G; g++)
        {
            __m256d u = _mm256_cvtepi32_pd(in[g][j]);
            u = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(u, v->gain), v->nlim), v->lim);
            __m256d h1 = st->x1[g], h2 = st->x2[g];
            st->x2[g] = st->x1[g];
            st->x1[g] = u;
            _Pragma("GCC unroll 4") for (int k = 0; k < NS; k++)
            {
                u = mw__sec(v, k, clamp, u, &h1, &h2, &st->y1[g][k], &st->y2[g][k]);
                if (!clamp) {
                    mx = _mm256_max_pd(mx, _mm256_and_pd(u, v->absmask));
                }
            }
            out[g][j] = _mm256_cvtpd_epi32(u);
        }
    }
    return mx;
}

/* G groups of 4 lanes with NS sections (constants at each instance, so the loops unroll and the
 * states stay in registers; G = 1 here: the 16 AVX2 registers hold one group's states).
 * Lanes beyond a group's channels replicate its first channel (same input, state and output
 * row: the duplicate writes store identical values). Each step of 4 samples runs without the
 * saturation and is redone with it when a value left the data range: the clamps then stay off
 * the recursion's critical path in the usual case. Over one step (at most 16 stage updates,
 * each growing a value by less than 2^11) the unsaturated values stay below 2^200, far from
 * overflow, so the range check is sound; inexact values beyond 2^53 only occur in steps that
 * are redone. */
MW_AVX2 MW_INL void mw__kernel(const mw__vcfg_t *v, mw_chain_t *const *chs,
                               const int32_t *const *src, int32_t *const *dst, uint32_t n, int G,
                               int NS)
{
    mw__vstate_t st;
    for (int g = 0; g < G; g++) {
        mw_chain_t *const *c = &chs[4 * g];
        st.x1[g] = mw__v4(c[0]->sec[0].q15.x1, c[1]->sec[0].q15.x1, c[2]->sec[0].q15.x1,
                          c[3]->sec[0].q15.x1);
        st.x2[g] = mw__v4(c[0]->sec[0].q15.x2, c[1]->sec[0].q15.x2, c[2]->sec[0].q15.x2,
                          c[3]->sec[0].q15.x2);
        for (int k = 0; k < NS; k++) {
            st.y1[g][k] = mw__v4(c[0]->sec[k].q15.y1, c[1]->sec[k].q15.y1,
                                 c[2]->sec[k].q15.y1, c[3]->sec[k].q15.y1);
            st.y2[g][k] = mw__v4(c[0]->sec[k].q15.y2, c[1]->sec[k].q15.y2,
                                 c[2]->sec[k].q15.y2, c[3]->sec[k].q15.y2);
        }
    }
    for (uint32_t i = 0; i < n; i += 4u) {
        const uint32_t m = n - i < 4u ? n - i : 4u;
        __m128i in[2][4], out[2][4];
        for (int g = 0; g < G; g++) {
            const int32_t *const *s = &src[4 * g];
            if (m == 4u) {
                for (int l = 0; l < 4; l++) {
                    in[g][l] = _mm_loadu_si128((const __m128i *)(const void *)&s[l][i]);
                }
                mw__t4(in[g]);
            } else {
                for (uint32_t j = 0; j < 4u; j++) {
                    const uint32_t t = i + (j < m ? j : 0u);
                    in[g][j] = _mm_set_epi32(s[3][t], s[2][t], s[1][t], s[0][t]);
                }
            }
        }
        const mw__vstate_t saved = st;
        const __m256d mx = m == 4u
                               ? mw__run4(v, &st, (const __m128i(*)[4])in, out, 4u, G, NS, 0)
                               : mw__run4(v, &st, (const __m128i(*)[4])in, out, m, G, NS, 0);
        if (_mm256_movemask_pd(_mm256_cmp_pd(mx, v->lim, _CMP_GT_OQ)) != 0) {
            st = saved;
            (void)mw__run4(v, &st, (const __m128i(*)[4])in, out, m, G, NS, 1);
        }
        for (int g = 0; g < G; g++) {
            int32_t *const *d = &dst[4 * g];
            if (m == 4u) {
                mw__t4(out[g]);
                for (int l = 0; l < 4; l++) {
                    _mm_storeu_si128((__m128i *)(void *)&d[l][i], out[g][l]);
                }
            } else {
                for (uint32_t j = 0; j < m; j++) {
                    int32_t o[4];
                    _mm_storeu_si128((__m128i *)(void *)o, out[g][j]);
                    for (int l = 0; l < 4; l++) {
                        d[l][i + j] = o[l];
                    }
                }
            }
        }
    }
    for (int g = 0; g < G; g++) {
        int32_t a[4], b[4];
        _mm_storeu_si128((__m128i *)(void *)a, _mm256_cvtpd_epi32(st.x1[g]));
        _mm_storeu_si128((__m128i *)(void *)b, _mm256_cvtpd_epi32(st.x2[g]));
        for (int l = 0; l < 4; l++) {
            chs[4 * g + l]->sec[0].q15.x1 = a[l];
            chs[4 * g + l]->sec[0].q15.x2 = b[l];
        }
        for (int k = 0; k < NS; k++) {
            _mm_storeu_si128((__m128i *)(void *)a, _mm256_cvtpd_epi32(st.y1[g][k]));
            _mm_storeu_si128((__m128i *)(void *)b, _mm256_cvtpd_epi32(st.y2[g][k]));
            for (int l = 0; l < 4; l++) {
                chs[4 * g + l]->sec[k].q15.y1 = a[l];
                chs[4 * g + l]->sec[k].q15.y2 = b[l];
                if (k + 1 < NS) {
                    chs[4 * g + l]->sec[k + 1].q15.x1 = a[l];
                    chs[4 * g + l]->sec[k + 1].q15.x2 = b[l];
                }
            }
        }
    }
}

typedef void (*mw__kfn)(const mw__vcfg_t *, mw_chain_t *const *, const int32_t *const *,
                        int32_t *const *, uint32_t);

#define MW__INST(TGT, NAME, G, NS)                                                                \
    TGT static void NAME(const mw__vcfg_t *v, mw_chain_t *const *chs, const int32_t *const *src,  \
                         int32_t *const *dst, uint32_t n)                                         \
    {                                                                                             \
        mw__kernel(v, chs, src, dst, n, G, NS);                                                   \
    }

/* AVX2: one group of 4 lanes (16 vector registers hold one group's states). */
MW__INST(MW_AVX2, mw__a1_1, 1, 1)
MW__INST(MW_AVX2, mw__a1_2, 1, 2)
MW__INST(MW_AVX2, mw__a1_3, 1, 3)
MW__INST(MW_AVX2, mw__a1_4, 1, 4)


/* AVX-512F: the same kernel with 8 lanes per vector (8 channels in one register; half the
 * instructions of two 4-lane groups). */
#define MW_Z512 __attribute__((target("avx2,fma,avx512f,avx512vl")))

typedef struct {
    __m512d b[MW_CHAIN_MAX_SECTIONS][5];
    __m512d l[MW_CHAIN_MAX_SECTIONS][5];
    __m512d r[MW_CHAIN_MAX_SECTIONS];
    __m512d q[MW_CHAIN_MAX_SECTIONS];
    __m512d gain, lim, nlim;
    int split[MW_CHAIN_MAX_SECTIONS];
} mw__zcfg_t;

MW_Z512 static void mw__zcfg(mw__zcfg_t *z, const mw__vcfg_t *v, uint32_t ns)
{
    for (uint32_t k = 0; k < ns; k++) {
        for (int j = 0; j < 5; j++) {
            z->b[k][j] = _mm512_broadcastsd_pd(_mm256_castpd256_pd128(v->b[k][j]));
            z->l[k][j] = _mm512_broadcastsd_pd(_mm256_castpd256_pd128(v->l[k][j]));
        }
        z->r[k] = _mm512_broadcastsd_pd(_mm256_castpd256_pd128(v->r[k]));
        z->q[k] = _mm512_broadcastsd_pd(_mm256_castpd256_pd128(v->q[k]));
        z->split[k] = v->split[k];
    }
    z->gain = _mm512_broadcastsd_pd(_mm256_castpd256_pd128(v->gain));
    z->lim = _mm512_set1_pd((double)MW_DATA_MAX);
    z->nlim = _mm512_set1_pd(-(double)MW_DATA_MAX);
}

MW_Z512 MW_INL __m512d mw__zacc(const __m512d *c, __m512d r, __m512d u, __m512d h1, __m512d h2,
                                __m512d y1, __m512d y2)
{
    __m512d p = _mm512_fmadd_pd(c[1], h1, r);
    p = _mm512_fmadd_pd(c[4], y2, p);
    p = _mm512_fmadd_pd(c[2], h2, p);
    p = _mm512_fmadd_pd(c[3], y1, p);
    return _mm512_fmadd_pd(c[0], u, p);
}

#define MW__FLOOR(x) _mm512_roundscale_pd((x), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)

MW_Z512 MW_INL __m512d mw__zsec(const mw__zcfg_t *z, int k, int clamp, __m512d u, __m512d *h1,
                                __m512d *h2, __m512d *y1, __m512d *y2)
{
    __m512d y;
    if (!z->split[k]) {
        y = MW__FLOOR(mw__zacc(z->b[k], z->r[k], u, *h1, *h2, *y1, *y2));
    } else {
        const __m512d q = MW__FLOOR(mw__zacc(z->l[k], z->r[k], u, *h1, *h2, *y1, *y2));
        const __m512d ph = mw__zacc(z->b[k], _mm512_setzero_pd(), u, *h1, *h2, *y1, *y2);
        y = MW__FLOOR(_mm512_fmadd_pd(q, z->q[k], ph));
    }
    if (clamp) {
        y = _mm512_min_pd(_mm512_max_pd(y, z->nlim), z->lim);
    }
    *h1 = *y1;
    *h2 = *y2;
    *y2 = *y1;
    *y1 = y;
    return y;
}

typedef struct {
    __m512d x1, x2, y1[MW_CHAIN_MAX_SECTIONS], y2[MW_CHAIN_MAX_SECTIONS];
} mw__zstate_t;

MW_Z512 MW_INL __m512d mw__zrun4(const mw__zcfg_t *z, mw__zstate_t *st, const __m256i *in,
                                 __m256i *out, uint32_t m, int NS, int clamp)
{
    __m512d mx = _mm512_setzero_pd();
#pragma GCC unroll 4
    for (uint32_t j = 0; j < m; j++) {
        __m512d u = _mm512_cvtepi32_pd(in[j]);
        u = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(u, z->gain), z->nlim), z->lim);
        __m512d h1 = st->x1, h2 = st->x2;
        st->x2 = st->x1;
        st->x1 = u;
#pragma GCC unroll 4
        for (int k = 0; k < NS; k++) {
            u = mw__zsec(z, k, clamp, u, &h1, &h2, &st->y1[k], &st->y2[k]);
            if (!clamp) {
                mx = _mm512_max_pd(mx, _mm512_abs_pd(u));
            }
        }
        out[j] = _mm512_cvtpd_epi32(u);
    }
    return mx;
}

MW_Z512 MW_INL __m512d mw__z8(mw_chain_t *const *c, int k, int which)
{
    int32_t a[8];
    for (int l = 0; l < 8; l++) {
        const mw_biq15_state_t *s = &c[l]->sec[k].q15;
        a[l] = which == 0 ? s->x1 : which == 1 ? s->x2 : which == 2 ? s->y1 : s->y2;
    }
    return _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(const void *)a));
}

MW_Z512 MW_INL void mw__zkernel(const mw__vcfg_t *v, mw_chain_t *const *chs,
                                const int32_t *const *src, int32_t *const *dst, uint32_t n,
                                int NS)
{
    mw__zcfg_t z;
    mw__zcfg(&z, v, (uint32_t)NS);
    mw__zstate_t st;
    st.x1 = mw__z8(chs, 0, 0);
    st.x2 = mw__z8(chs, 0, 1);
    for (int k = 0; k < NS; k++) {
        st.y1[k] = mw__z8(chs, k, 2);
        st.y2[k] = mw__z8(chs, k, 3);
    }
    for (uint32_t i = 0; i < n; i += 4u) {
        const uint32_t m = n - i < 4u ? n - i : 4u;
        __m256i in[4], out[4];
        if (m == 4u) {
            __m128i lo[4], hi[4];
            for (int l = 0; l < 4; l++) {
                lo[l] = _mm_loadu_si128((const __m128i *)(const void *)&src[l][i]);
                hi[l] = _mm_loadu_si128((const __m128i *)(const void *)&src[4 + l][i]);
            }
            mw__t4(lo);
            mw__t4(hi);
            for (int j = 0; j < 4; j++) {
                in[j] = _mm256_set_m128i(hi[j], lo[j]);
            }
        } else {
            for (uint32_t j = 0; j < 4u; j++) {
                const uint32_t t = i + (j < m ? j : 0u);
                in[j] = _mm256_set_epi32(src[7][t], src[6][t], src[5][t], src[4][t], src[3][t],
                                         src[2][t], src[1][t], src[0][t]);
            }
        }
        const mw__zstate_t saved = st;
        const __m512d mx = m == 4u ? mw__zrun4(&z, &st, in, out, 4u, NS, 0)
                                   : mw__zrun4(&z, &st, in, out, m, NS, 0);
        if (_mm512_cmp_pd_mask(mx, z.lim, _CMP_GT_OQ) != 0) {
            st = saved;
            (void)mw__zrun4(&z, &st, in, out, m, NS, 1);
        }
        if (m == 4u) {
            __m128i lo[4], hi[4];
            for (int j = 0; j < 4; j++) {
                lo[j] = _mm256_castsi256_si128(out[j]);
                hi[j] = _mm256_extracti128_si256(out[j], 1);
            }
            mw__t4(lo);
            mw__t4(hi);
            for (int l = 0; l < 4; l++) {
                _mm_storeu_si128((__m128i *)(void *)&dst[l][i], lo[l]);
                _mm_storeu_si128((__m128i *)(void *)&dst[4 + l][i], hi[l]);
            }
        } else {
            for (uint32_t j = 0; j < m; j++) {
                int32_t o[8];
                _mm256_storeu_si256((__m256i *)(void *)o, out[j]);
                for (int l = 0; l < 8; l++) {
                    dst[l][i + j] = o[l];
                }
            }
        }
    }
    int32_t a[8], b[8];
    _mm256_storeu_si256((__m256i *)(void *)a, _mm512_cvtpd_epi32(st.x1));
    _mm256_storeu_si256((__m256i *)(void *)b, _mm512_cvtpd_epi32(st.x2));
    for (int l = 0; l < 8; l++) {
        chs[l]->sec[0].q15.x1 = a[l];
        chs[l]->sec[0].q15.x2 = b[l];
    }
    for (int k = 0; k < NS; k++) {
        _mm256_storeu_si256((__m256i *)(void *)a, _mm512_cvtpd_epi32(st.y1[k]));
        _mm256_storeu_si256((__m256i *)(void *)b, _mm512_cvtpd_epi32(st.y2[k]));
        for (int l = 0; l < 8; l++) {
            chs[l]->sec[k].q15.y1 = a[l];
            chs[l]->sec[k].q15.y2 = b[l];
            if (k + 1 < NS) {
                chs[l]->sec[k + 1].q15.x1 = a[l];
                chs[l]->sec[k + 1].q15.x2 = b[l];
            }
        }
    }
}

#define MW__ZINST(NAME, NS)                                                                       \
    MW_Z512 static void NAME(const mw__vcfg_t *v, mw_chain_t *const *chs,                         \
                             const int32_t *const *src, int32_t *const *dst, uint32_t n)          \
    {                                                                                             \
        mw__zkernel(v, chs, src, dst, n, NS);                                                     \
    }

MW__ZINST(mw__z_1, 1)
MW__ZINST(mw__z_2, 2)
MW__ZINST(mw__z_3, 3)
MW__ZINST(mw__z_4, 4)

int32_t mw__bank_vector_ok(const mw_chain_cfg_t *cfg)
{
    if (cfg->n_sections == 0u || cfg->n_sections > MW_CHAIN_MAX_SECTIONS) {
        return 0;
    }
    for (uint32_t k = 0; k < cfg->n_sections; k++) {
        if (cfg->kind[k] != MW_SECTION_Q15 && cfg->kind[k] != MW_SECTION_Q31) {
            return 0;
        }
    }
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* The cascade invariant the vector kernels rely on, per channel. */
static int mw__linked(const mw_chain_t *c, uint32_t ns)
{
    for (uint32_t k = 1; k < ns; k++) {
        if (c->sec[k].q15.x1 != c->sec[k - 1u].q15.y1 ||
            c->sec[k].q15.x2 != c->sec[k - 1u].q15.y2) {
            return 0;
        }
    }
    return 1;
}

uint32_t mw__bank_vector(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                         const int32_t *src, size_t src_stride, int32_t *dst, size_t dst_stride,
                         uint32_t n, uint32_t flags)
{
    if (n_ch < 2u || !mw__bank_vector_ok(cfg)) {
        return 0u;
    }
    for (uint32_t c = 0; c < n_ch; c++) {
        if (!mw__linked(&ch[c], cfg->n_sections)) {
            return 0u;
        }
    }
    mw__vcfg_t v;
    mw__vcfg(&v, cfg);
    const mw__kfn a1[4] = {mw__a1_1, mw__a1_2, mw__a1_3, mw__a1_4};
    const mw__kfn z8[4] = {mw__z_1, mw__z_2, mw__z_3, mw__z_4};
    const uint32_t width =
        (flags & MW_BANK_NO_AVX512) == 0u && __builtin_cpu_supports("avx512f") ? 8u : 4u;
    const uint32_t ns = cfg->n_sections;
    uint32_t c0 = 0u;
    /* groups of 8 channels (AVX-512F) or 4 (AVX2); a last group of 2 or more channels is padded
     * by repeating its first channel, a lone last channel is left to the scalar kernels */
    while (n_ch - c0 >= 2u) {
        const uint32_t lanes = n_ch - c0 < width ? n_ch - c0 : width;
        mw_chain_t *chs[8];
        const int32_t *s[8];
        int32_t *d[8];
        for (uint32_t l = 0; l < width; l++) {
            const uint32_t c = c0 + (l < lanes ? l : 0u);
            chs[l] = &ch[c];
            s[l] = src + c * src_stride;
            d[l] = dst + c * dst_stride;
        }
        (width == 8u ? z8 : a1)[ns - 1u](&v, chs, s, d, n);
        c0 += lanes;
    }
    return c0;
}

#else /* no vector kernels on this target */

uint32_t mw__bank_vector(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                         const int32_t *src, size_t src_stride, int32_t *dst, size_t dst_stride,
                         uint32_t n, uint32_t flags)
{
    (void)flags;
    (void)ch;
    (void)n_ch;
    (void)cfg;
    (void)src;
    (void)src_stride;
    (void)dst;
    (void)dst_stride;
    (void)n;
    return 0u;
}

int32_t mw__bank_vector_ok(const mw_chain_cfg_t *cfg)
{
    (void)cfg;
    return 0;
}

#endif
