/* Template matching with iterative subtraction ("peel-off") of motor-unit templates: the
 * per-discharge kernel of a decomposition that resolves superimposed MUAPs.
 *
 * Data: a segment of the filtered signal (the residual) and the templates as int16 in one
 * scale chosen by the caller (the host puts the robust noise sigma at 64 LSB, so values reach
 * +-512 sigma); a template row is one unit at one sub-sample phase. At every start position t
 * (template row k covers resid[t .. t+len-1]) the least-squares amplitude of row k is
 *     alpha = c / E,  c = sum r[t+i]*T_k[i],  E = sum T_k[i]^2          (alpha in Q14)
 * and fitting it removes gain = alpha * c = c^2 / E of residual energy. A fit is a candidate
 * when (1) alpha_lo <= alpha <= alpha_hi (the waveform is the template at a plausible size,
 * not a fraction of it or a larger, different potential), (2) gain >= min_gain[k] (the host's
 * noise test: z^2 times the variance that background noise alone gives c^2/E for that row),
 * (3) gain >= frac_q8/256 * (W - floor), W = sum r[t+i]^2 over the support (the template
 * explains a share of the energy above the noise floor there: a small template does not take
 * a fraction of a large unexplained potential), and (4) the row's unit has no accepted fit
 * within `gap` samples (refractoriness; a residual is not fitted twice). The candidate of
 * largest gain over all positions and rows is accepted, subtracted (alpha * T_k, rounded,
 * saturated to int16), the candidates whose support the subtraction touched are evaluated
 * again, and so on until no candidate is left or max_hits fits were accepted: superimposed
 * discharges of several units are resolved largest first (matching pursuit).
 * Overflow: |r|, |T| <= 2^15 and len <= MW_MATCH_MAX_LEN = 2^9 keep c and E within 2^39 and
 * every product below 2^58. Ties go to the earlier position, then the lower row.
 */
#ifndef MW_MATCH_H
#define MW_MATCH_H

#include <stdint.h>

#define MW_MATCH_MAX_ROWS 64
#define MW_MATCH_MAX_LEN 512
#define MW_MATCH_ALPHA_ONE 16384

typedef struct {
    uint16_t len;          /* template length, 4..MW_MATCH_MAX_LEN */
    uint16_t n_rows;       /* template rows (units x phases), 1..MW_MATCH_MAX_ROWS */
    uint16_t alpha_lo_q14; /* least accepted amplitude, Q14, 1..alpha_hi_q14 */
    uint16_t alpha_hi_q14; /* largest accepted amplitude, Q14 */
    uint16_t gap;          /* a unit is not fitted twice within gap samples, 0..32767 */
    uint16_t frac_q8;      /* share of the support's energy above floor a fit must explain */
    int64_t floor;         /* noise energy expected over the support (len * sigma^2), >= 0 */
} mw_match_cfg_t;

typedef struct {
    uint16_t len;
    uint16_t n_rows;
    const int16_t *templates; /* n_rows x len, caller-owned */
    const uint16_t *unit;     /* unit id of each row */
    const int64_t *min_gain;  /* least gain per row, > 0 */
    int64_t energy[MW_MATCH_MAX_ROWS];
} mw_match_t;

/* Best candidate at one start position (work buffer of the caller, one per position). */
typedef struct {
    int64_t gain; /* -1: no candidate */
    int32_t alpha_q14;
    int32_t row;
} mw_match_best_t;

typedef struct {
    int32_t pos; /* start of the template in the segment */
    int32_t row;
    int32_t alpha_q14;
    int32_t reserved;
    int64_t gain;
} mw_match_hit_t;

int32_t mw_match_cfg_check(const mw_match_cfg_t *cfg);
/* Keep pointers to the templates, units and thresholds; every row needs energy > 0 and
 * min_gain > 0. */
int32_t mw_match_init(mw_match_t *m, const mw_match_cfg_t *cfg, const int16_t *templates,
                      const uint16_t *unit, const int64_t *min_gain);
/* Peel templates off resid[0..n) in place; work has n entries; returns the number of fits
 * written to hits (<= max_hits) or MW_ERR_ARG. Segments shorter than len have no fit. */
int32_t mw_match_segment(const mw_match_t *m, const mw_match_cfg_t *cfg, int16_t *resid,
                         uint32_t n, mw_match_best_t *work, mw_match_hit_t *hits,
                         uint32_t max_hits);

#endif /* MW_MATCH_H */
