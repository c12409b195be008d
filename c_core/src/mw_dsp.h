/* Private helpers of the C core (not part of the cffi API).
 *
 * Right shifts of negative values are implementation-defined in C11 (not undefined): the
 * core relies on GCC's and clang's documented choice, an arithmetic shift (floor division by
 * 2^s), on every target it supports; mw_asr*() name that reliance in one place, and the
 * x86-64 vs Cortex-M4 byte comparison (make cross) checks it.
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
    return v >> s;
}

MW_INLINE int32_t mw_asr32(int32_t v, unsigned s)
{
    return v >> s;
}

/* |v| < 2^62: one unsigned compare finds both out-of-range sides (cheap on a Cortex-M4). */
MW_INLINE int32_t mw_sat_data64(int64_t v)
{
    if ((uint64_t)(v + MW_DATA_MAX) > 2u * (uint64_t)MW_DATA_MAX) {
        return v < 0 ? -MW_DATA_MAX : MW_DATA_MAX;
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
