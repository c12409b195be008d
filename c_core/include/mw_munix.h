/* MUNIX: motor unit number index (Nandedkar et al. 2004, 2010; guideline Muscle Nerve 2018).
 *
 * Per accepted SIP epoch, the ideal case motor unit count
 *     ICMUC = (CMAP power x SIP area) / (CMAP area x SIP power)
 * is computed in the log2 domain (Q16.16) from mw_area blocks, so no 128-bit products are needed.
 * The epoch rules (SIP area at or above the reference, no solitary spike, no tremor) refuse
 * epochs with a reason. log2 ICMUC is regressed on log2 SIP area over the accepted epochs and the
 * fit is read at the reference area (20 mV.ms for 500 ms epochs): that value is MUNIX, and
 * MUSIX = CMAP amplitude / MUNIX. Areas are in codes x samples: the caller converts the
 * reference once (it knows the LSB and the sampling rate). All epochs must share one length.
 */
#ifndef MW_MUNIX_H
#define MW_MUNIX_H

#include <stdint.h>

#include "mw_area.h"

#define MW_MUNIX_OK 0
#define MW_MUNIX_EINVAL (-1)
#define MW_MUNIX_ENOFIT (-3)

/* Largest number of epochs mw_munix_fit takes (keeps its 64-bit sums exact). */
#define MW_MUNIX_MAX_EPOCHS 4096

/* Why an epoch was refused (bit flags; 0 = accepted). */
#define MW_MUNIX_REJ_LOW_AREA 1
#define MW_MUNIX_REJ_SPIKE 2
#define MW_MUNIX_REJ_TREMOR 4
#define MW_MUNIX_REJ_EMPTY 8
#define MW_MUNIX_REJ_CLIPPED 16

typedef struct {
    int32_t min_log2_area_q16;    /* refuse SIP area below this (guideline: the 20 mV.ms reference) */
    int32_t max_peak_frac_q15;    /* solitary spike: largest sub-block power / epoch power above this */
    int32_t max_tremor_r_q15;     /* tremor: envelope autocorrelation above this at tremor lags ... */
    int32_t min_tremor_depth_q15; /* ... and envelope modulation depth (SD / mean) above this */
    uint32_t tremor_lag_min;      /* tremor lags, in sub-blocks */
    uint32_t tremor_lag_max;
} mw_munix_rules_t;

typedef struct {
    int32_t log2_area_q16;  /* log2 SIP area (codes x samples) */
    int32_t log2_icmuc_q16; /* log2 ICMUC */
    uint32_t icmuc_q16;     /* ICMUC, Q16.16 (saturates) */
    int32_t peak_frac_q15;  /* largest sub-block power / epoch power (0 without sub-blocks) */
    int32_t tremor_r_q15;   /* largest envelope autocorrelation over the tremor lags */
    int32_t depth_q15;      /* envelope SD / mean */
    uint32_t reject;        /* MW_MUNIX_REJ_* flags */
} mw_munix_epoch_t;

typedef struct {
    uint32_t n_used;        /* accepted epochs in the fit */
    int32_t slope_q16;      /* d log2 ICMUC / d log2 SIP area */
    int32_t intercept_q16;  /* log2 ICMUC at SIP area 1 code x sample */
    int32_t r2_q15;         /* coefficient of determination of the log-log fit */
    int32_t log2_munix_q16; /* log2 of the fit at the reference area */
    uint32_t munix_q16;     /* MUNIX, Q16.16 (saturates) */
} mw_munix_fit_t;

/* ICMUC and the epoch rules for one SIP epoch against the CMAP block. */
int mw_munix_epoch(const mw_area_t *cmap, const mw_area_t *sip, const mw_munix_rules_t *rules,
                   mw_munix_epoch_t *out);

/* Least-squares log-log fit over the accepted epochs (reject == 0), read at ref_log2_area_q16.
 * MW_MUNIX_ENOFIT when fewer than 3 epochs are accepted or their areas do not differ. */
int mw_munix_fit(const mw_munix_epoch_t *epochs, uint32_t n, int32_t ref_log2_area_q16,
                 mw_munix_fit_t *out);

/* MUSIX = CMAP amplitude / MUNIX, Q16.16 in the amplitude's unit (saturates; 0 if MUNIX is 0). */
uint32_t mw_munix_musix_q16(uint32_t cmap_amp, uint32_t munix_q16);

#endif /* MW_MUNIX_H */
