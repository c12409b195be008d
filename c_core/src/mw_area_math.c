#include "mw_area_math.h"

static int msb_u64(uint64_t x)
{
    int p = 0;
    if (x >> 32) { x >>= 32; p += 32; }
    if (x >> 16) { x >>= 16; p += 16; }
    if (x >> 8) { x >>= 8; p += 8; }
    if (x >> 4) { x >>= 4; p += 4; }
    if (x >> 2) { x >>= 2; p += 2; }
    if (x >> 1) { p += 1; }
    return p;
}

int32_t mw_log2_u64_q16(uint64_t x)
{
    if (x == 0u) {
        return MW_LOG2_ZERO_Q16;
    }
    int p = msb_u64(x);
    /* mantissa v = x / 2^p in [1, 2), held as Q1.31 in m */
    uint32_t m = (p >= 31) ? (uint32_t)(x >> (p - 31)) : (uint32_t)(x << (31 - p));
    uint32_t r = (uint32_t)p << 16;
    for (int i = 15; i >= 0; i--) {
        uint64_t sq = (uint64_t)m * (uint64_t)m; /* v^2 in Q2.62 */
        if (sq >> 63) {
            r |= (uint32_t)1u << i;
            m = (uint32_t)(sq >> 32); /* v^2 / 2 */
        } else {
            m = (uint32_t)(sq >> 31);
        }
    }
    return (int32_t)r;
}

uint64_t mw_exp2_q16(int32_t x_q16)
{
    /* split x = i + f, i = floor(x / 65536), f in [0, 65536); no shifts of negative values */
    int64_t x = (int64_t)x_q16;
    int64_t i = (x >= 0) ? (x / 65536) : -((-x + 65535) / 65536);
    int64_t f = x - i * 65536; /* Q16 in [0, 65536) */
    if (i < -17) {
        return 0u;
    }
    if (i > 47) {
        return UINT64_MAX;
    }
    /* Horner over (ln 2)^k / k! in Q30, k = 7..0 (literals, so no table in .data) */
    int64_t t = f << 14; /* Q30 */
    int64_t p = 16377;
    p = 165394 + ((p * t) >> 30); /* p, t < 2^31: each product < 2^62 */
    p = 1431680 + ((p * t) >> 30);
    p = 10327387 + ((p * t) >> 30);
    p = 59597083 + ((p * t) >> 30);
    p = 257941248 + ((p * t) >> 30);
    p = 744261118 + ((p * t) >> 30);
    p = 1073741824 + ((p * t) >> 30);
    /* p = 2^f in Q30, in [2^30, 2^31); result Q16 = p * 2^i / 2^14 */
    uint64_t up = (uint64_t)p;
    int64_t sh = i - 14;
    if (sh >= 0) {
        if (sh > 32) {
            return UINT64_MAX;
        }
        return up << sh;
    }
    int64_t rs = -sh;
    if (rs >= 63) {
        return 0u;
    }
    return (up + ((uint64_t)1u << (rs - 1))) >> rs;
}

uint32_t mw_isqrt_u64(uint64_t x)
{
    uint64_t r = 0u;
    uint64_t bit = (uint64_t)1u << 62;
    while (bit > x) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)r;
}
