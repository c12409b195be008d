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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MW_NO_VECTOR)

#include <immintrin.h>

#define MW_AVX __attribute__((target("avx2,fma")))
#define MW_TILE 256u

typedef struct {
    __m256d bh[MW_CHAIN_MAX_SECTIONS][5]; /* Q15: c 2^-sh; Q31: ch 2^-(sh-16) */
    __m256d bl[MW_CHAIN_MAX_SECTIONS][5]; /* Q31: cl 2^-16 */
    __m256d rh[MW_CHAIN_MAX_SECTIONS];    /* Q15: 1/2 */
    __m256d rl[MW_CHAIN_MAX_SECTIONS];    /* Q31: rnd 2^-16 */
    __m256d qs[MW_CHAIN_MAX_SECTIONS];    /* Q31: 2^-(sh-16) */
    __m256d gain, lim, nlim;
    int split[MW_CHAIN_MAX_SECTIONS];
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

MW_AVX static void mw__vcfg(mw__vcfg_t *v, const mw_chain_cfg_t *cfg)
{
    for (uint32_t k = 0; k < cfg->n_sections; k++) {
        const int32_t *c = cfg->coeffs[k];
        if (cfg->kind[k] == MW_SECTION_Q15) {
            const int sh = 15 - cfg->post_shift[k];
            for (int j = 0; j < 5; j++) {
                v->bh[k][j] = _mm256_set1_pd((double)c[j] * mw__pow2(-sh));
                v->bl[k][j] = _mm256_setzero_pd();
            }
            v->rh[k] = _mm256_set1_pd(0.5);
            v->rl[k] = v->qs[k] = _mm256_setzero_pd();
            v->split[k] = 0;
        } else {
            const int sh = 31 - cfg->post_shift[k];
            for (int j = 0; j < 5; j++) {
                const int32_t hi = mw_asr32(c[j], 16u);
                const int32_t lo = (int32_t)((uint32_t)c[j] & 0xffffu);
                v->bh[k][j] = _mm256_set1_pd((double)hi * mw__pow2(16 - sh));
                v->bl[k][j] = _mm256_set1_pd((double)lo * mw__pow2(-16));
            }
            v->rh[k] = _mm256_setzero_pd();
            v->rl[k] = _mm256_set1_pd(mw__pow2(sh - 17));
            v->qs[k] = _mm256_set1_pd(mw__pow2(16 - sh));
            v->split[k] = 1;
        }
    }
    v->gain = _mm256_set1_pd(mw__pow2(cfg->input_shift));
    v->lim = _mm256_set1_pd((double)MW_DATA_MAX);
    v->nlim = _mm256_set1_pd(-(double)MW_DATA_MAX);
}

MW_AVX static __m256d mw__v4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    return _mm256_cvtepi32_pd(_mm_set_epi32(d, c, b, a));
}

/* One group of 4 lanes (lanes <= 4 real channels) with NS sections (a constant at each call,
 * so the section loop unrolls and the states live in registers). */
#define MW__GROUP(NS)                                                                             \
    MW_AVX static void mw__group##NS(const mw__vcfg_t *v, mw_chain_t *const *chs, uint32_t lanes, \
                                     const int32_t *const *src, int32_t *const *dst, uint32_t n)  \
    {                                                                                             \
        int32_t st[6][4];                                                                         \
        for (uint32_t l = 0; l < 4u; l++) {                                                       \
            const mw_chain_t *c = chs[l < lanes ? l : 0u];                                        \
            st[0][l] = l < lanes ? c->sec[0].q15.x1 : 0;                                          \
            st[1][l] = l < lanes ? c->sec[0].q15.x2 : 0;                                          \
            for (int k = 0; k < NS; k++) {                                                        \
                st[2 + k][l] = 0;                                                                 \
            }                                                                                     \
        }                                                                                         \
        __m256d x1 = mw__v4(st[0][0], st[0][1], st[0][2], st[0][3]);                              \
        __m256d x2 = mw__v4(st[1][0], st[1][1], st[1][2], st[1][3]);                              \
        __m256d y1[NS], y2[NS];                                                                   \
        for (int k = 0; k < NS; k++) {                                                            \
            int32_t a[4], b[4];                                                                   \
            for (uint32_t l = 0; l < 4u; l++) {                                                   \
                a[l] = l < lanes ? chs[l]->sec[k].q15.y1 : 0;                                     \
                b[l] = l < lanes ? chs[l]->sec[k].q15.y2 : 0;                                     \
            }                                                                                     \
            y1[k] = mw__v4(a[0], a[1], a[2], a[3]);                                               \
            y2[k] = mw__v4(b[0], b[1], b[2], b[3]);                                               \
        }                                                                                         \
        int32_t tin[MW_TILE][4] __attribute__((aligned(16)));                                     \
        int32_t tout[MW_TILE][4] __attribute__((aligned(16)));                                    \
        for (uint32_t i0 = 0; i0 < n; i0 += MW_TILE) {                                            \
            const uint32_t m = n - i0 < MW_TILE ? n - i0 : MW_TILE;                               \
            for (uint32_t l = 0; l < 4u; l++) {                                                   \
                const int32_t *s = src[l < lanes ? l : 0u] + i0;                                  \
                for (uint32_t j = 0; j < m; j++) {                                                \
                    tin[j][l] = s[j];                                                             \
                }                                                                                 \
            }                                                                                     \
            for (uint32_t j = 0; j < m; j++) {                                                    \
                __m256d u = _mm256_cvtepi32_pd(_mm_load_si128((const __m128i *)tin[j]));          \
                u = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(u, v->gain), v->nlim), v->lim);    \
                __m256d h1 = x1, h2 = x2;                                                         \
                x2 = x1;                                                                          \
                x1 = u;                                                                           \
                _Pragma("GCC unroll 4") for (int k = 0; k < NS; k++)                              \
                {                                                                                 \
                    const __m256d *bh = v->bh[k];                                                 \
                    __m256d y;                                                                    \
                    if (!v->split[k]) {                                                           \
                        __m256d p = _mm256_fmadd_pd(bh[0], u, v->rh[k]);                          \
                        p = _mm256_fmadd_pd(bh[1], h1, p);                                        \
                        p = _mm256_fmadd_pd(bh[2], h2, p);                                        \
                        p = _mm256_fmadd_pd(bh[4], y2[k], p);                                     \
                        y = _mm256_floor_pd(_mm256_fmadd_pd(bh[3], y1[k], p));                    \
                    } else {                                                                      \
                        const __m256d *bl = v->bl[k];                                             \
                        __m256d pl = _mm256_fmadd_pd(bl[0], u, v->rl[k]);                         \
                        pl = _mm256_fmadd_pd(bl[1], h1, pl);                                      \
                        pl = _mm256_fmadd_pd(bl[2], h2, pl);                                      \
                        pl = _mm256_fmadd_pd(bl[4], y2[k], pl);                                   \
                        __m256d ph = _mm256_mul_pd(bh[0], u);                                     \
                        ph = _mm256_fmadd_pd(bh[1], h1, ph);                                      \
                        ph = _mm256_fmadd_pd(bh[2], h2, ph);                                      \
                        ph = _mm256_fmadd_pd(bh[4], y2[k], ph);                                   \
                        const __m256d q = _mm256_floor_pd(_mm256_fmadd_pd(bl[3], y1[k], pl));     \
                        ph = _mm256_fmadd_pd(bh[3], y1[k], ph);                                   \
                        y = _mm256_floor_pd(_mm256_fmadd_pd(q, v->qs[k], ph));                    \
                    }                                                                             \
                    y = _mm256_min_pd(_mm256_max_pd(y, v->nlim), v->lim);  \
                    h1 = y1[k];                                                                   \
                    h2 = y2[k];                                                                   \
                    y2[k] = y1[k];                                                                \
                    y1[k] = y;                                                                    \
                    u = y;                                                                        \
                }                                                                                 \
                _mm_store_si128((__m128i *)tout[j], _mm256_cvtpd_epi32(u));                       \
            }                                                                                     \
            for (uint32_t l = 0; l < lanes; l++) {                                                \
                int32_t *d = dst[l] + i0;                                                         \
                for (uint32_t j = 0; j < m; j++) {                                                \
                    d[j] = tout[j][l];                                                            \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        int32_t o[4];                                                                             \
        _mm_storeu_si128((__m128i *)o, _mm256_cvtpd_epi32(x1));                                   \
        for (uint32_t l = 0; l < lanes; l++) {                                                    \
            chs[l]->sec[0].q15.x1 = o[l];                                                         \
        }                                                                                         \
        _mm_storeu_si128((__m128i *)o, _mm256_cvtpd_epi32(x2));                                   \
        for (uint32_t l = 0; l < lanes; l++) {                                                    \
            chs[l]->sec[0].q15.x2 = o[l];                                                         \
        }                                                                                         \
        for (int k = 0; k < NS; k++) {                                                            \
            int32_t a[4], b[4];                                                                   \
            _mm_storeu_si128((__m128i *)a, _mm256_cvtpd_epi32(y1[k]));                            \
            _mm_storeu_si128((__m128i *)b, _mm256_cvtpd_epi32(y2[k]));                            \
            for (uint32_t l = 0; l < lanes; l++) {                                                \
                chs[l]->sec[k].q15.y1 = a[l];                                                     \
                chs[l]->sec[k].q15.y2 = b[l];                                                     \
                if (k + 1 < NS) {                                                                 \
                    chs[l]->sec[k + 1].q15.x1 = a[l];                                             \
                    chs[l]->sec[k + 1].q15.x2 = b[l];                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        (void)st;                                                                                 \
    }

MW__GROUP(1)
MW__GROUP(2)
MW__GROUP(3)
MW__GROUP(4)

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
                         uint32_t n)
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
    uint32_t c0 = 0u;
    /* groups of 4; a last lone channel is left to the scalar kernels */
    while (n_ch - c0 >= 2u) {
        const uint32_t lanes = n_ch - c0 < 4u ? n_ch - c0 : 4u;
        mw_chain_t *chs[4];
        const int32_t *s[4];
        int32_t *d[4];
        for (uint32_t l = 0; l < 4u; l++) {
            const uint32_t c = c0 + (l < lanes ? l : 0u);
            chs[l] = &ch[c];
            s[l] = src + c * src_stride;
            d[l] = dst + c * dst_stride;
        }
        switch (cfg->n_sections) {
        case 1u:
            mw__group1(&v, chs, lanes, s, d, n);
            break;
        case 2u:
            mw__group2(&v, chs, lanes, s, d, n);
            break;
        case 3u:
            mw__group3(&v, chs, lanes, s, d, n);
            break;
        default:
            mw__group4(&v, chs, lanes, s, d, n);
            break;
        }
        c0 += lanes;
    }
    return c0;
}

#else /* no vector kernels on this target */

uint32_t mw__bank_vector(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                         const int32_t *src, size_t src_stride, int32_t *dst, size_t dst_stride,
                         uint32_t n)
{
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
