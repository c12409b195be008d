/* Private entry of the detector for callers whose samples are already in the data range
 * (the chain's filter output): mw_detect_process without the input saturation. */
#ifndef MW_DETECT_IMPL_H
#define MW_DETECT_IMPL_H

#include <stddef.h>

#include "mw_detect.h"

/* Where a detector writes its events and snippets. */
typedef struct {
    mw_event_t *ev;
    uint32_t cap;
    int32_t *snip;
    uint32_t n;
} mw__out_t;

uint32_t mw__detect_filtered(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                             const int32_t *x, uint32_t n, mw_event_t *ev, uint32_t ev_cap,
                             int32_t *snip);

/* Advance a detector over x[i..n) (not NEO) by the rest of the current noise block, or by one
 * whole idle block (then only the scan), saturating like mw_detect_process; returns the new
 * i. Steps of several channels can be interleaved (mw_chain_detect_bank). */
uint32_t mw__detect_step(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                         const int32_t *x, uint32_t i, uint32_t n, mw__out_t *o);

#endif /* MW_DETECT_IMPL_H */
