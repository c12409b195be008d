/* Private entry of the detector for callers whose samples are already in the data range
 * (the chain's filter output): mw_detect_process without the input saturation. */
#ifndef MW_DETECT_IMPL_H
#define MW_DETECT_IMPL_H

#include "mw_detect.h"

uint32_t mw__detect_filtered(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                             const int32_t *x, uint32_t n, mw_event_t *ev, uint32_t ev_cap,
                             int32_t *snip);

#endif /* MW_DETECT_IMPL_H */
