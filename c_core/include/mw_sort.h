/* Online template sorting of spike snippets into motor units.
 *
 * Each snippet (length len, extremum at the same offset) is compared with every unit template
 * at alignment shifts -max_shift..+max_shift by the sum of squared differences over the
 * central len - 2*max_shift samples (differences scaled by 2^-dist_shift first). The best
 * (unit, shift) is accepted when SSD <= accept_q8/256 * n_compared * noise_var, i.e. when the
 * residual is what noise of variance noise_var (in the same scaled units) would leave; the
 * template then moves toward the aligned snippet by 2^-r (r = min(log2(count), update_shift),
 * a running mean while a unit is young). An unmatched snippet opens a new unit while slots
 * remain (allow_new), else it is left unassigned (-1). Fixed point, per spike; the host
 * orchestrates merging and a second pass (muwatch.analysis.sort).
 */
#ifndef MW_SORT_H
#define MW_SORT_H

#include <stdint.h>

#define MW_SORT_MAX_UNITS 32
#define MW_SORT_MAX_NOISE_VAR 68719476736
#define MW_SORT_MAX_ACCEPT_Q8 65536

typedef struct {
    uint16_t len;         /* snippet length, 4..MW_DETECT_MAX_SNIPPET */
    uint8_t max_units;    /* 1..MW_SORT_MAX_UNITS */
    uint8_t max_shift;    /* alignment search, 2*max_shift < len/2 */
    uint8_t update_shift; /* template learning rate 2^-update_shift; 0 = frozen templates */
    uint8_t allow_new;    /* 1 = open a unit for an unmatched snippet */
    uint8_t dist_shift;   /* differences scaled by 2^-dist_shift before squaring, 0..31 */
    uint8_t reserved;
    uint32_t accept_q8;   /* acceptance factor in Q8, 1..MW_SORT_MAX_ACCEPT_Q8 */
} mw_sort_cfg_t;

typedef struct {
    uint32_t n_units;
    uint32_t count[MW_SORT_MAX_UNITS];
    int32_t *templates; /* max_units x len, caller-owned */
} mw_sort_t;

int32_t mw_sort_cfg_check(const mw_sort_cfg_t *cfg);
/* Start with n_units templates already in `templates` (0 = learn from scratch). */
int32_t mw_sort_init(mw_sort_t *s, const mw_sort_cfg_t *cfg, int32_t *templates,
                     uint32_t n_units);
/* Assign one snippet; returns the unit or -1. shift/dist (may be NULL) receive the best
 * alignment and its SSD. noise_var <= MW_SORT_MAX_NOISE_VAR. */
int32_t mw_sort_assign(mw_sort_t *s, const mw_sort_cfg_t *cfg, const int32_t *snip,
                       uint64_t noise_var, int32_t *shift, uint64_t *dist);
/* Assign n snippets stored one after another; units/shifts/dists have n entries (shifts and
 * dists may be NULL). Returns the number assigned to a unit. */
uint32_t mw_sort_process(mw_sort_t *s, const mw_sort_cfg_t *cfg, const int32_t *snips, uint32_t n,
                         uint64_t noise_var, int32_t *units, int32_t *shifts, uint64_t *dists);

#endif /* MW_SORT_H */
