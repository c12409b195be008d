/* Jiggle: shape variability of consecutive discharges of one unit (Stalberg & Sonoo, Muscle Nerve
 * 1994;17:1135), a marker of neuromuscular-junction instability.
 *
 * For each pair of consecutive discharges (snippets a, b), b is aligned to a by the integer shift
 * in [-max_shift, max_shift] with the largest cross-product, then over the overlap:
 *   CAD = sum |b - a| / (sum (|a| + |b|) / 2)   consecutive amplitude difference (fraction)
 *   CCC = Pearson correlation of a and b         consecutive cross-correlation coefficient
 * and both are averaged over the pairs. Higher CAD and lower CCC = more jiggle. Discharges marked
 * in skip (blocked, overlapped by another unit) break the chain: no pair spans them.
 */
#ifndef MW_JIGGLE_H
#define MW_JIGGLE_H

#include <stdint.h>

#define MW_JIGGLE_OK 0
#define MW_JIGGLE_EINVAL (-1)
#define MW_JIGGLE_ENODATA (-3)

#define MW_JIGGLE_MAX_LEN 4096

typedef struct {
    uint32_t n_pairs;
    int32_t cad_q15; /* mean CAD, Q15 (1.0 = 32768) */
    int32_t ccc_q15; /* mean CCC, Q15 */
} mw_jiggle_result_t;

/* skip may be NULL. 2 * max_shift must leave at least 8 samples of overlap. */
int mw_jiggle(const int32_t *snips, uint32_t k, uint32_t len, uint32_t max_shift,
              const uint8_t *skip, mw_jiggle_result_t *out);

#endif /* MW_JIGGLE_H */
