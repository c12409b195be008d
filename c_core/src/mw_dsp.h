/* Private helpers of the C core (not part of the cffi API).
 *
 * Right shifts of negative values are implementation-defined in C11, so the core uses
 * mw_asr*(), which compute floor(v / 2^s) with only defined operations; GCC and clang turn
 * them into one arithmetic shift on both x86-64 and Cortex-M4.
 */
#ifndef MW_DSP_H
#define MW_DSP_H

#include <stdint.h>

#include "mw_core.h"

#if defined(__GNUC__)
#define MW_INLINE static inline __attribute__((always_inline))
#else
#define MW_INLINE static inline
#endif

MW_INLINE int64_t mw_asr64(int64_t v, unsigned s)
{
    return v >= 0 ? (int64_t)((uint64_t)v >> s) : (int64_t)~((uint64_t)~v >> s);
}

MW_INLINE int32_t mw_asr32(int32_t v, unsigned s)
{
    return v >= 0 ? (int32_t)((uint32_t)v >> s) : (int32_t)~((uint32_t)~v >> s);
}

MW_INLINE int32_t mw_sat_data64(int64_t v)
{
    if (v > MW_DATA_MAX) {
        return MW_DATA_MAX;
    }
    if (v < -MW_DATA_MAX) {
        return -MW_DATA_MAX;
    }
    return (int32_t)v;
}

MW_INLINE int32_t mw_sat_data(int32_t v)
{
    if (v > MW_DATA_MAX) {
        return MW_DATA_MAX;
    }
    if (v < -MW_DATA_MAX) {
        return -MW_DATA_MAX;
    }
    return v;
}

MW_INLINE uint32_t mw_abs32(int32_t v)
{
    return v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
}

#endif /* MW_DSP_H */
