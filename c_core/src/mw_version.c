#include "mw_core.h"

uint32_t mw_core_version(void)
{
    return ((uint32_t)MW_CORE_VERSION_MAJOR << 8) | (uint32_t)MW_CORE_VERSION_MINOR;
}
