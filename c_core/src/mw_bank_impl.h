/* Private: vector kernels of mw_chain_filter_bank (mw_bank.c). */
#ifndef MW_BANK_IMPL_H
#define MW_BANK_IMPL_H

#include "mw_chain.h"

/* Filter the first channels of the bank with vector kernels; returns how many channels were
 * done (0 when this build, this CPU or this configuration has none; the caller filters the
 * rest with the scalar kernels). */
uint32_t mw__bank_vector(mw_chain_t *ch, uint32_t n_ch, const mw_chain_cfg_t *cfg,
                         const int32_t *src, size_t src_stride, int32_t *dst, size_t dst_stride,
                         uint32_t n, uint32_t flags);
int32_t mw__bank_vector_ok(const mw_chain_cfg_t *cfg);

#endif /* MW_BANK_IMPL_H */
