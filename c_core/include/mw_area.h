/* Rectified area and power of a signal block (a CMAP window, a SIP epoch), streaming.
 *
 * Area = sum |x| and power = sum x^2 over the samples, in ADC codes (the caller turns them into
 * mV.ms and mV^2.ms with its LSB and sampling interval; MUNIX only needs their ratios and one
 * reference area). Optional per-sub-block powers (caller buffer) let the MUNIX epoch rules see the
 * envelope: a solitary spike or tremor shows there. Samples are 24-bit codes: |x| <= 2^23 - 1;
 * larger values are clipped to that range and counted, never wrapped.
 */
#ifndef MW_AREA_H
#define MW_AREA_H

#include <stdint.h>

#define MW_AREA_OK 0
#define MW_AREA_EINVAL (-1)
#define MW_AREA_EFULL (-2)

/* Bound on samples per block: 2^16 x (2^23)^2 = 2^62 keeps the power sum in 64 bits. */
#define MW_AREA_MAX_SAMPLES 65536
#define MW_AREA_CODE_MAX 8388607

typedef struct {
    uint64_t sum_abs;   /* sum |x|, codes */
    uint64_t sum_sq;    /* sum x^2, codes^2 */
    uint32_t n;         /* samples taken */
    uint32_t clipped;   /* samples clipped to +-MW_AREA_CODE_MAX */
    int32_t max;        /* largest sample */
    int32_t min;        /* smallest sample */
    uint32_t sub_len;   /* samples per sub-block, 0 = no sub-blocks */
    uint32_t sub_cap;   /* capacity of sub_sq */
    uint32_t sub_n;     /* completed sub-blocks in sub_sq */
    uint32_t sub_fill;  /* samples in the sub-block being filled */
    uint64_t sub_acc;   /* power of the sub-block being filled */
    uint64_t *sub_sq;   /* caller buffer: power per completed sub-block */
} mw_area_t;

/* Start a block. sub_len = 0 disables sub-blocks (sub_buf may then be NULL). */
int mw_area_init(mw_area_t *s, uint32_t sub_len, uint64_t *sub_buf, uint32_t sub_cap);

/* Add n samples. MW_AREA_EFULL (nothing added) when the block would pass MW_AREA_MAX_SAMPLES
 * or the sub-block buffer would overflow. */
int mw_area_process_i32(mw_area_t *s, const int32_t *x, uint32_t n);

#endif /* MW_AREA_H */
