/* muwatch C core: umbrella header. C11, fixed point, no allocation, caller-owned state. */
#ifndef MW_CORE_H
#define MW_CORE_H

#include <stdint.h>

#define MW_CORE_VERSION_MAJOR 0
#define MW_CORE_VERSION_MINOR 1

/* Version of the core as (major << 8) | minor, so host and device builds can be compared. */
uint32_t mw_core_version(void);

#endif /* MW_CORE_H */
