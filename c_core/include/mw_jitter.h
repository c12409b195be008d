/* Neuromuscular jitter from needle recordings at >= 10 kHz (Ekstedt 1974; Stalberg).
 *
 * Each discharge of a unit gives a snippet (same length, aligned on its detection). In pair mode
 * two potentials of the unit (two fibres) are timed in each snippet and the inter-potential
 * interval (IPI) is their difference; in trigger mode (hi2 == 0) the IPI is the time of potential
 * 1 from the snippet origin (a stimulus or an external trigger). Jitter is the mean consecutive
 * difference (MCD) of the IPIs. Jitter is tens of microseconds, below one sample at 10 kHz, so peak
 * times are sub-sample: the signal is interpolated band-limited (Lanczos-4 windowed sinc) on a
 * 1/32-sample grid around the extremum, then a parabola through the best grid point and its
 * neighbours; a parabola through three raw samples would be biased by up to ~0.17 sample on
 * needle spikes a sample or two wide (tens of µs at 10 kHz, as large as the jitter itself). A potential smaller than its block level counts as blocked (impulse blocking) and
 * its discharge is left out of the MCD (the pairs around it are skipped, not spliced).
 */
#ifndef MW_JITTER_H
#define MW_JITTER_H

#include <stdint.h>

#define MW_JITTER_OK 0
#define MW_JITTER_EINVAL (-1)
#define MW_JITTER_ENODATA (-3)

#define MW_JITTER_MAX_LEN 65536

typedef struct {
    uint32_t lo1;       /* window [lo1, hi1) of potential 1 in each snippet */
    uint32_t hi1;
    int32_t pol1;       /* +1: a positive peak, -1: a negative one */
    int32_t block1;     /* |peak| below this (codes) = blocked */
    uint32_t lo2;       /* window of potential 2; hi2 == 0 selects trigger mode */
    uint32_t hi2;
    int32_t pol2;
    int32_t block2;
} mw_jitter_cfg_t;

typedef struct {
    uint32_t n_discharges;
    uint32_t n_blocked;  /* discharges with a blocked potential */
    uint32_t n_diffs;    /* consecutive differences in the MCD */
    int32_t mean_ipi_q16; /* samples, Q16, over unblocked discharges */
    uint32_t mcd_q16;    /* mean consecutive difference, samples, Q16 */
} mw_jitter_result_t;

/* Sub-sample time (Q16 samples from x[0]) and value of the extremum of x[lo..hi) with polarity
 * pol, in a snippet of n samples (the interpolation may read outside the window, never outside
 * the snippet). An extremum on the window edge is not interpolated. */
int mw_jitter_peak_q16(const int32_t *x, uint32_t n, uint32_t lo, uint32_t hi, int32_t pol,
                       int32_t *t_q16, int32_t *value);

/* k snippets of len samples, back to back in snips. ipi_q16 (k entries) receives each IPI and
 * blocked (k entries) 1 for a blocked discharge; both are caller buffers. */
int mw_jitter_mcd(const int32_t *snips, uint32_t k, uint32_t len, const mw_jitter_cfg_t *cfg,
                  int32_t *ipi_q16, uint8_t *blocked, mw_jitter_result_t *out);

#endif /* MW_JITTER_H */
