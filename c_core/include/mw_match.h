/* Template matching with iterative subtraction ("peel-off") of motor-unit templates: the
 * per-discharge kernel of a decomposition that resolves superimposed MUAPs, on one channel or
 * on several channels of an electrode array at once.
 *
 * Data: a segment of the filtered signal (the residual) and the templates as int16 in one
 * scale chosen by the caller (the host puts the robust noise sigma of every channel at 64 LSB,
 * so values reach +-512 sigma). A template row is one unit at one sub-sample phase and spans
 * n_ch channels x len samples (channel-major); channel ch of the residual segment starts at
 * resid[ch * stride]. At every start position t (row k covers resid[ch*stride + t .. + len-1]
 * of every channel) the least-squares amplitude of row k is
 *     alpha = c / E,  c = sum_ch sum_i r[ch][t+i]*T_k[ch][i],  E = sum T_k^2   (alpha in Q14)
 * and fitting it removes gain = alpha * c = c^2 / E of residual energy. A fit is a candidate
 * when (1) alpha_lo <= alpha <= alpha_hi (the waveform is the template at a plausible size,
 * not a fraction of it or a larger, different potential; per row when given: a unit whose
 * size varies little must not take the discharges of a similar, larger or smaller one), (2) gain >= min_gain[k] (the host's
 * noise test: z^2 times the variance that background noise alone gives c^2/E for that row),
 * (3) gain >= frac_q8/256 * (W - floor), W = residual energy over the support (the template
 * explains a share of the energy above the noise floor there: a small template does not take
 * a fraction of a large unexplained potential), and (4) the row's unit has no accepted fit
 * within `gap` samples (refractoriness; a residual is not fitted twice). The candidate of
 * largest gain over all positions and rows is accepted, subtracted (alpha * T_k, rounded,
 * saturated to int16), the candidates whose support the subtraction touched are evaluated
 * again, and so on until no candidate is left or max_hits fits were accepted: superimposed
 * discharges of several units are resolved largest first (matching pursuit).
 *
 * A unit's discharges vary (jitter and blocking of its fibres, shape changes): a fit leaves
 * more than background noise on its support, and that leftover must not be taken for other
 * units. Per row, spill[k] is the gain a candidate must add per sample of overlap with an
 * accepted fit of row k (the noise test with the background variance raised by the unit's
 * variability: z^2 * leftover / (n_ch * len^2)), and leftover[k] the energy such a fit leaves
 * on its support; both accumulate per position over the fits around it (extra, load).
 *
 * Overlapping fits (refit > 0). The amplitude of a fit taken while another discharge overlaps
 * it is biased by that discharge; once the other is fitted too, every fit overlapping the new
 * one gets its amplitude again from the residual plus its own waveform (clamped to its row's
 * range), for up to `refit` sweeps (Gauss-Seidel steps towards the joint least-squares fit of
 * the overlapping templates, as orthogonal matching pursuit re-fits its atoms).
 *
 * Pair search (pair_reach > 0). Two discharges less than a phase apart can sum to a waveform
 * that one other template (or one of the two at a wrong amplitude) matches better than either
 * alone, so one-at-a-time peeling takes the wrong fit first and the residual no longer shows
 * either unit. When the best single fit (row k0 at t0, gain g0) leaves more than pair_trigger
 * + leftover[k0] + load(t0) of residual energy on its support (it does not explain what is
 * there), every pair of rows (k1 at t1, k2 at t2), t1 <= t2 <= t1 + pair_reach, both within
 * pair_reach of t0, is fitted jointly by least squares (2 x 2 normal equations, the cross
 * term X = T_k1 . T_k2 at lag t2 - t1 from a table built at init). The best pair replaces the
 * single fit when both amplitudes are plausible, it gains more than the single fit by what a
 * member's noise test demands at its place (min_gain + extra; model selection: one more
 * component must pay its own test), each member adds to what the other alone explains at
 * least that plus the other's spill over their overlap, the rows belong to different units
 * not fitted within `gap`, and the pair is identifiable: the part of each template that the
 * other cannot explain, E1 (1 - rho^2), passes that row's noise test (so the amplitudes' noise
 * SD stays below 1/z; two nearly identical waveforms at one place are not identifiable).
 * When no single candidate is left, positions whose support still holds more than
 * pair_trigger + load of energy are searched for a pair the same way (with g0 = 0), largest
 * energy first: two discharges whose phases cancel leave neither unit a plausible single fit.
 *
 * Overflow: |r|, |T| <= 2^15 and n_ch * len <= MW_MATCH_MAX_SPAN = 2^12 keep c, E, X and W
 * below 2^42; alpha * c < 2^58. The pair's 2 x 2 system is solved after a common right shift
 * that brings every term below 2^30 (products below 2^61), amplitudes in Q14. Ties go to the
 * earlier position, then the lower row (pairs: earlier first member, then lower rows).
 */
#ifndef MW_MATCH_H
#define MW_MATCH_H

#include <stdint.h>

#define MW_MATCH_MAX_ROWS 64
#define MW_MATCH_MAX_LEN 512
#define MW_MATCH_MAX_CH 16
#define MW_MATCH_MAX_SPAN 4096
#define MW_MATCH_MAX_REACH 32
#define MW_MATCH_PAIR_WORK 4160 /* MW_MATCH_MAX_ROWS * (2 * MW_MATCH_MAX_REACH + 1) */
#define MW_MATCH_ALPHA_ONE 16384
#define MW_MATCH_PAIR 1

typedef struct {
    uint16_t len;          /* template samples per channel, 4..MW_MATCH_MAX_LEN */
    uint16_t n_rows;       /* template rows (units x phases), 1..MW_MATCH_MAX_ROWS */
    uint16_t n_ch;         /* channels, 1..MW_MATCH_MAX_CH, n_ch * len <= MW_MATCH_MAX_SPAN */
    uint16_t alpha_lo_q14; /* least accepted amplitude, Q14, 1..alpha_hi_q14 */
    uint16_t alpha_hi_q14; /* largest accepted amplitude, Q14 (below 4.0 by its type) */
    uint16_t gap;          /* a unit is not fitted twice within gap samples, 0..32767 */
    uint16_t frac_q8;      /* share of the support's energy above floor a fit must explain */
    uint16_t pair_reach;   /* 0: no pair search; else 1..MW_MATCH_MAX_REACH samples */
    uint16_t refit;        /* sweeps re-fitting overlapping fits' amplitudes, 0..8 */
    uint32_t stride;       /* residual samples from one channel to the next (n_ch > 1) */
    int64_t floor;         /* noise energy expected over the support (n_ch*len*sigma^2), >= 0 */
    int64_t pair_trigger;  /* pair search when a single fit leaves more than this, >= 0 */
} mw_match_cfg_t;

typedef struct {
    uint16_t len;
    uint16_t n_rows;
    uint16_t n_ch;
    uint16_t pair_reach;
    const int16_t *templates; /* n_rows x n_ch x len, caller-owned */
    const uint16_t *unit;     /* unit id of each row */
    const int64_t *min_gain;  /* least gain per row, 0 < min_gain < 2^60 */
    const int64_t *spill;     /* per row: gain demanded per sample of overlap, or NULL */
    const int64_t *leftover;  /* per row: energy a fit typically leaves, or NULL */
    const uint16_t *alpha;    /* per row: accepted amplitude range (lo, hi) Q14, or NULL */
    const int64_t *cross;     /* n_rows x n_rows x (2*pair_reach+1), filled by init */
    int64_t energy[MW_MATCH_MAX_ROWS];
} mw_match_t;

/* Best candidate at one start position (work buffer of the caller, one per position). */
typedef struct {
    int64_t gain;   /* -1: no candidate */
    int64_t energy; /* residual energy over the support at this position */
    int64_t extra;  /* gain demanded on top of min_gain here: spill of the fits around */
    int64_t load;   /* leftover energy expected here from the fits around */
    int32_t alpha_q14;
    int32_t row; /* -1: no candidate; -2: no candidate and no pair found here */
} mw_match_best_t;

/* Scratch of the pair search (caller-owned; only needed when pair_reach > 0). */
typedef struct {
    int64_t c[MW_MATCH_PAIR_WORK];
    uint8_t blocked[MW_MATCH_PAIR_WORK];
} mw_match_pair_work_t;

typedef struct {
    int32_t pos; /* start of the template in the segment */
    int32_t row;
    int32_t alpha_q14;
    int32_t flags; /* MW_MATCH_PAIR: fitted jointly with the hit next to it */
    int64_t gain;  /* single fit: its gain; pair: the pair's joint gain (on both hits) */
} mw_match_hit_t;

int32_t mw_match_cfg_check(const mw_match_cfg_t *cfg);
/* Keep pointers to the templates, units and thresholds; every row needs energy > 0 and
 * 0 < min_gain < 2^60; spill (0..2^40) and leftover (0..2^44) may be NULL (zero); alpha
 * (n_rows x 2: lo, hi in Q14, 1 <= lo <= hi) may be NULL (the cfg's range for every row).
 * With pair_reach > 0, cross (n_rows^2 * (2*pair_reach+1) entries, caller-owned) is filled
 * with the templates' cross products; it may be NULL otherwise. */
int32_t mw_match_init(mw_match_t *m, const mw_match_cfg_t *cfg, const int16_t *templates,
                      const uint16_t *unit, const int64_t *min_gain, const int64_t *spill,
                      const int64_t *leftover, const uint16_t *alpha, int64_t *cross);
/* Peel templates off the segment in place: n samples of each of n_ch channels, channel ch at
 * resid[ch * stride] (stride >= n when n_ch > 1); work has n entries; pw is needed when
 * pair_reach > 0. Returns the number of fits written to hits (<= max_hits; a pair needs two
 * free entries) or MW_ERR_ARG. Segments shorter than len have no fit. */
int32_t mw_match_segment(const mw_match_t *m, const mw_match_cfg_t *cfg, int16_t *resid,
                         uint32_t n, mw_match_best_t *work, mw_match_pair_work_t *pw,
                         mw_match_hit_t *hits, uint32_t max_hits);

#endif /* MW_MATCH_H */
