/* Detection chain for one channel: input gain -> biquad sections (Q15, Q31 or Q31x64 each) ->
 * streaming noise -> spike detector. This is what the sensor runs per channel and what the
 * host presets (`surface`, `needle`) configure.
 *
 * The configuration (coefficients, detector parameters) is shared by every channel and
 * read-only; the per-channel state is one mw_chain_t. The input may be any int32 stream
 * (24-bit ADS1299 codes, or host data scaled into int32); input_shift multiplies it by
 * 2^input_shift with saturation to MW_DATA_MAX before the first section.
 */
#ifndef MW_CHAIN_H
#define MW_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mw_biquad.h"
#include "mw_detect.h"
#include "mw_noise.h"

#define MW_CHAIN_MAX_SECTIONS 4
#define MW_SECTION_Q15 0
#define MW_SECTION_Q31X64 1
#define MW_SECTION_Q31 2
#define MW_BANK_PORTABLE 1
#define MW_BANK_NO_AVX512 2

typedef struct {
    int32_t coeffs[MW_CHAIN_MAX_SECTIONS][5]; /* {b0, b1, b2, a1, a2}; Q15 values fit int16 */
    int8_t post_shift[MW_CHAIN_MAX_SECTIONS];
    uint8_t kind[MW_CHAIN_MAX_SECTIONS]; /* MW_SECTION_Q15, _Q31 or _Q31X64 */
    uint8_t n_sections;
    uint8_t input_shift; /* 0..16 */
    uint8_t noise_shift; /* target step shift of the noise tracker */
    uint8_t reserved;
    mw_detect_cfg_t det;
} mw_chain_cfg_t;

typedef union {
    mw_biq15_state_t q15;
    mw_biq31_state_t q31;
} mw_biq_state_t;

typedef struct {
    mw_biq_state_t sec[MW_CHAIN_MAX_SECTIONS];
    mw_noise_t noise;
    mw_detect_t det;
} mw_chain_t;

/* MW_OK, MW_ERR_ARG (bad counts, kinds, shifts, Q15 values outside int16, detector
 * parameters) or MW_ERR_RANGE (Q31 coefficients that could overflow the accumulator). */
int32_t mw_chain_cfg_check(const mw_chain_cfg_t *cfg);
/* ring/ring_len as for mw_detect_init (NULL: no snippets). */
int32_t mw_chain_init(mw_chain_t *ch, const mw_chain_cfg_t *cfg, int32_t *ring,
                      uint32_t ring_len);
/* Put the first section in the steady state of a constant input x0 when it blocks DC
 * (b0 + b1 + b2 == 0), so a DC offset does not ring through the chain at start-up. */
void mw_chain_settle(mw_chain_t *ch, const mw_chain_cfg_t *cfg, int32_t x0);
/* Filters only (dst may equal src). */
void mw_chain_filter(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *src, int32_t *dst,
                     uint32_t n);
/* Filters of n_ch channels that share cfg (ch: an array of n_ch chains): channel c reads
 * src + c * src_stride and writes dst + c * dst_stride (dst may equal src). The output and the
 * states are exactly those of mw_chain_filter per channel; on x86-64 with AVX2 and FMA, Q15 and
 * Q31 sections run four channels per vector in double precision, where every product and sum
 * is exact, so the rounding is the integer one; with AVX-512F, eight channels per vector.
 * flags (for tests): MW_BANK_PORTABLE forces the scalar kernels, MW_BANK_NO_AVX512 the AVX2
 * ones. */
void mw_chain_filter_bank(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                          const int32_t *src, size_t src_stride, int32_t *dst, size_t dst_stride,
                          uint32_t n, uint32_t flags);
/* 1 when mw_chain_filter_bank has vector kernels for cfg on this build and CPU. */
int32_t mw_chain_bank_vectorised(const mw_chain_cfg_t *cfg);
/* Noise and detection on n samples this chain filtered (mw_chain_filter or _bank output);
 * mw_chain_process = mw_chain_filter + mw_chain_detect. */
uint32_t mw_chain_detect(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *y, uint32_t n,
                         mw_event_t *ev, uint32_t ev_cap, int32_t *snip);
/* mw_chain_detect for n_ch channels at once (ch: an array of n_ch chains; channel c reads
 * y + c * y_stride): the same events, with the channels interleaved so that their per-block
 * work overlaps. Channel c owns ev[c * ev_cap ...] (snippets: snip + c * ev_cap * (pre + post
 * + 1), snip may be NULL); n_ev[c] is the number already there: new events are appended after
 * them (at most ev_cap in all, the rest counted in n_dropped) and n_ev[c] is updated. */
void mw_chain_detect_bank(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                          const int32_t *y, size_t y_stride, uint32_t n, mw_event_t *ev,
                          uint32_t ev_cap, int32_t *snip, uint32_t *n_ev);
/* Filter n samples into dst (caller-owned, also the filtered output), then track noise and
 * detect; returns the number of events written (see mw_detect_process). */
uint32_t mw_chain_process(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *src,
                          int32_t *dst, uint32_t n, mw_event_t *ev, uint32_t ev_cap,
                          int32_t *snip);
/* Learn the noise level on the first n samples (filters + noise only, work receives the
 * filtered samples), then restart filters and detector at sample 0 with the noise estimate
 * kept and its warm-up skipped. */
void mw_chain_prime(mw_chain_t *ch, const mw_chain_cfg_t *cfg, const int32_t *src, int32_t *work,
                    uint32_t n);
/* End of data, see mw_detect_flush. */
uint32_t mw_chain_flush(mw_chain_t *ch, const mw_chain_cfg_t *cfg, mw_event_t *ev,
                        uint32_t ev_cap, int32_t *snip);

#endif /* MW_CHAIN_H */
