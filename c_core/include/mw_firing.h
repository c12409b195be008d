/* Firing statistics of one motor unit from its discharge times (sample indices).
 *
 * Inter-spike intervals (ISI) outside [min_isi, max_isi] samples are left out and counted: short
 * ones are double detections, long ones pauses or missed discharges, and both would distort the
 * rate and its variability. Rate = fs / mean ISI; ISI CV = SD / mean (the usual steady-firing
 * statistics; De Luca's "firing rate" and "ISI variability").
 */
#ifndef MW_FIRING_H
#define MW_FIRING_H

#include <stdint.h>

#define MW_FIRING_OK 0
#define MW_FIRING_EINVAL (-1)
#define MW_FIRING_EORDER (-2)

/* ISIs are bounded so sums stay exact: up to 2^22 samples each (3.5 min at 20 kHz), 2^20 ISIs. */
#define MW_FIRING_MAX_ISI 4194304
#define MW_FIRING_MAX_SPIKES 1048576

typedef struct {
    uint32_t n_spikes;       /* discharges given */
    uint32_t n_isi;          /* ISIs used */
    uint32_t n_short;        /* ISIs below min_isi (left out) */
    uint32_t n_long;         /* ISIs above max_isi (left out) */
    uint64_t mean_isi_q16;   /* samples, Q16 */
    uint64_t sd_isi_q16;     /* samples, Q16 (sample SD, n - 1) */
    uint32_t rate_hz_q16;    /* fs / mean ISI, Q16 */
    uint32_t cv_q16;         /* SD / mean, Q16 */
} mw_firing_stats_t;

/* t: increasing sample indices (MW_FIRING_EORDER otherwise). Fewer than 2 used ISIs give zeros
 * for the statistics (n_isi says why); 1 <= min_isi <= max_isi <= MW_FIRING_MAX_ISI. */
int mw_firing_stats(const uint32_t *t, uint32_t n, uint32_t fs_hz, uint32_t min_isi,
                    uint32_t max_isi, mw_firing_stats_t *out);

#endif /* MW_FIRING_H */
