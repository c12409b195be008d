/* Coefficient test vectors shared by the C tests: scipy designs at fs = 4 kHz, quantised as
 * muwatch.analysis._design does (Q15 with post_shift 1, Q31 with post_shift 2, {b0,b1,b2,a1,a2},
 * a negated). */
#ifndef MW_TEST_VECTORS_H
#define MW_TEST_VECTORS_H

#include <stdint.h>

/* 2nd-order Butterworth low-pass 450 Hz, Q15, post_shift 1 */
static const int16_t TV_LP450_Q15[5] = {1345, 2690, 1345, 17075, -6072};
/* 2nd-order Butterworth high-pass 20 Hz, Q15 and Q31 (b1 = -2 b0 exactly) */
static const int16_t TV_HP20_Q15[5] = {16024, -32048, 16024, 32040, -15672};
static const int32_t TV_HP20_Q31[5] = {525076115, -1050152230, 525076115, 1049893073, -513540476};
/* iirnotch 50 Hz, Q = 30, Q31 */
static const int32_t TV_NOTCH50_Q31[5] = {536169068, -1069032475, 536169068, 1069032475,
                                          -535467224};

#endif /* MW_TEST_VECTORS_H */
