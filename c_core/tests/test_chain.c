/* The detection chain (surface-like preset at 4 kHz: Q31 high-pass 20 Hz, Q15 low-pass 450 Hz,
 * Q31 notch 50 Hz): DC offset and hum removed, every spike found, priming and settling avoid
 * start-up transients, any chunking gives the same filtered output and events. */
#include "mw_chain.h"
#include "mw_core.h"
#include "mw_test.h"
#include "test_vectors.h"

#define N 24000
#define MAXEV 2048
#define SLEN 25

static int32_t x[N], y[N], y2[N], work[N];
static mw_event_t ev[MAXEV], ev2[MAXEV];
static int32_t snip[MAXEV * SLEN], snip2[MAXEV * SLEN];
static int32_t ring[32], ring2[32];
static int64_t digest_buf[MAXEV];

static void surface_cfg(mw_chain_cfg_t *c)
{
    for (int j = 0; j < 5; j++) {
        c->coeffs[0][j] = TV_HP20_Q31[j];
        c->coeffs[1][j] = TV_LP450_Q15[j];
        c->coeffs[2][j] = TV_NOTCH50_Q31[j];
        c->coeffs[3][j] = 0;
    }
    c->post_shift[0] = 2;
    c->post_shift[1] = 1;
    c->post_shift[2] = 2;
    c->post_shift[3] = 0;
    c->kind[0] = MW_SECTION_Q31;
    c->kind[1] = MW_SECTION_Q15;
    c->kind[2] = MW_SECTION_Q31;
    c->kind[3] = MW_SECTION_Q15;
    c->n_sections = 3u;
    c->input_shift = 0u;
    c->noise_shift = 12u;
    c->reserved = 0u;
    c->det.thr_mult_q12 = 30364u; /* k = 5 */
    c->det.ceil_mult_q12 = 30u * 6073u;
    c->det.blank = 4000u;
    c->det.dead = 24u;
    c->det.align = 8u;
    c->det.pre = 8u;
    c->det.post = 16u;
    c->det.polarity = MW_POL_BOTH;
    c->det.neo = 0u;
    c->det.neo_shift = 0u;
    c->det.reserved = 0u;
}

static uint32_t run(const mw_chain_cfg_t *c, int32_t *rg, int32_t *out, mw_event_t *e,
                    int32_t *sn, uint32_t chunk)
{
    mw_chain_t ch;
    MW_CHECK(mw_chain_init(&ch, c, rg, 32u) == MW_OK);
    mw_chain_prime(&ch, c, x, work, 8192u);
    uint32_t n = 0u;
    uint32_t pos = 0u;
    while (pos < N) {
        const uint32_t len = chunk < N - pos ? chunk : N - pos;
        n += mw_chain_process(&ch, c, &x[pos], &out[pos], len, &e[n], MAXEV - n, &sn[n * SLEN]);
        pos += len;
        chunk = chunk % 997u * 3u + 1u;
    }
    n += mw_chain_flush(&ch, c, &e[n], MAXEV - n, &sn[n * SLEN]);
    MW_CHECK(ch.det.n_dropped == 0u && ch.det.n_warmup == 4000u);
    return n;
}

int test_chain(void)
{
    mw_chain_cfg_t c;
    surface_cfg(&c);
    MW_CHECK(mw_chain_cfg_check(&c) == MW_OK);
    mw_chain_cfg_t bad = c;
    bad.coeffs[1][0] = 40000; /* not a Q15 value */
    MW_CHECK(mw_chain_cfg_check(&bad) == MW_ERR_ARG);
    bad = c;
    bad.kind[0] = 7u;
    MW_CHECK(mw_chain_cfg_check(&bad) == MW_ERR_ARG);
    bad = c;
    bad.coeffs[0][0] = INT32_MAX;
    bad.coeffs[0][1] = INT32_MAX;
    bad.coeffs[0][2] = INT32_MAX;
    MW_CHECK(mw_chain_cfg_check(&bad) == MW_ERR_RANGE);

    /* DC offset 50x and hum 15x the noise, spikes 10x the noise. */
    const size_t n_spikes = mw_t_signal(x, N, 21u, 20000, 200000, 400u, 1000000, 300000, 80u);
    uint32_t n = run(&c, ring, y, ev, snip, N);
    /* spikes come every 300..500 samples from sample 200; none is searched before 4000 */
    MW_CHECK(n >= n_spikes - 10u - 1u && n <= n_spikes - 8u);
    MW_CHECK(n > 0u && ev[0].index > 4000);
    /* the filtered signal has no DC and no hum left: its mean over the last half is ~0 */
    int64_t sum = 0;
    for (int i = N / 2; i < N; i++) {
        sum += y[i];
    }
    MW_CHECK(sum / (N / 2) < 2000 && sum / (N / 2) > -2000);
    mw_t_print_i64("events", n);
    for (uint32_t i = 0; i < n; i++) {
        digest_buf[i] = ev[i].index * 1000003 + ev[i].amplitude + ev[i].width;
    }
    mw_t_print_hex("events", mw_t_digest64(digest_buf, n, MW_T_DIGEST_INIT));
    mw_t_print_hex("filtered", mw_t_digest32(y, N, MW_T_DIGEST_INIT));
    mw_t_print_hex("snippets", mw_t_digest32(snip, n * SLEN, MW_T_DIGEST_INIT));

    /* Any chunking: identical filtered output, events and snippets. */
    uint32_t n2 = run(&c, ring2, y2, ev2, snip2, 1u);
    int same = n2 == n;
    for (int i = 0; same && i < N; i++) {
        same &= y[i] == y2[i];
    }
    for (uint32_t i = 0; same && i < n; i++) {
        same &= ev[i].index == ev2[i].index && ev[i].amplitude == ev2[i].amplitude;
    }
    for (uint32_t i = 0; same && i < n * SLEN; i++) {
        same &= snip[i] == snip2[i];
    }
    MW_CHECK(same);

    /* A 16x smaller input with input_shift 4 finds the same spikes. */
    for (int i = 0; i < N; i++) {
        x[i] /= 16;
    }
    c.input_shift = 4u;
    n2 = run(&c, ring2, y2, ev2, snip2, 333u);
    MW_CHECK(n2 == n);
    for (uint32_t i = 0; i < n2 && i < n; i++) {
        MW_CHECK(ev2[i].index == ev[i].index);
    }
    mw_t_print_hex("shifted", mw_t_digest32(y2, N, MW_T_DIGEST_INIT));
    return mw_test_failures;
}
