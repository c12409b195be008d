/* muwatch C core: umbrella definitions. C11, fixed point, no allocation, caller-owned state.
 *
 * Data convention shared by every module: samples are int32_t in the range
 * [-MW_DATA_MAX, MW_DATA_MAX] (a Q30 range inside Q31), which leaves one bit of headroom so
 * that five 32x32 products of a biquad fit in a 64-bit accumulator without overflow. Stages
 * saturate their outputs to this range; inputs outside it are saturated on entry.
 */
#ifndef MW_CORE_H
#define MW_CORE_H

#include <stdint.h>

#define MW_CORE_VERSION_MAJOR 0
#define MW_CORE_VERSION_MINOR 2

#define MW_DATA_MAX 1073741823

#define MW_OK 0
#define MW_ERR_ARG -1
#define MW_ERR_RANGE -2

/* Version of the core as (major << 8) | minor, so host and device builds can be compared. */
uint32_t mw_core_version(void);

#endif /* MW_CORE_H */
