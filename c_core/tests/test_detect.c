/* Spike detector on a signal with spikes at known places: every spike found at its extremum,
 * no false events, polarity options, artifact rejection, dead time, snippets, NEO, chunk
 * invariance, capacity accounting, flush at the end. */
#include "mw_core.h"
#include "mw_detect.h"
#include "mw_noise.h"
#include "mw_test.h"

#define N 20000
#define NS 64
#define MAXEV 256
#define SLEN 31

static int32_t x[N];
static int64_t truth[NS];
static int n_truth;
static mw_event_t ev[MAXEV], ev2[MAXEV];
static int32_t snip[MAXEV * SLEN], snip2[MAXEV * SLEN];
static int32_t ring[32], ring2[32];
static int64_t idx[MAXEV];

static const int32_t shape[12] = {0, 10, 35, 75, 100, 60, -20, -55, -45, -25, -10, -3};

static void make_signal(uint64_t seed, int32_t amp)
{
    mw_rng_t r;
    mw_rng_seed(&r, seed);
    for (int i = 0; i < N; i++) {
        x[i] = mw_rng_gauss(&r, 1000);
    }
    n_truth = 0;
    for (int p = 500; p + 20 < N && n_truth < NS; p += 250 + (int)(mw_rng_u32(&r) % 50u)) {
        const int32_t a = amp * (80 + (int32_t)(mw_rng_u32(&r) % 41u)) / 100;
        for (int k = 0; k < 12; k++) {
            x[p + k] += a * shape[k] / 100;
        }
        truth[n_truth++] = p + 4;
    }
}

static mw_detect_cfg_t base_cfg(void)
{
    mw_detect_cfg_t c;
    c.thr_mult_q12 = 30364u; /* k = 5: 5 / 0.6745 * 4096 */
    c.ceil_mult_q12 = 30u * 6073u;
    c.blank = 0u;
    c.dead = 40u;
    c.align = 10u;
    c.pre = 10u;
    c.post = 20u;
    c.polarity = MW_POL_POS;
    c.neo = 0u;
    c.neo_shift = 0u;
    c.reserved = 0u;
    return c;
}

static uint32_t run(const mw_detect_cfg_t *c, int32_t *rg, mw_event_t *e, int32_t *sn,
                    uint32_t cap, uint32_t chunk, mw_detect_t *d)
{
    mw_noise_t nz;
    MW_CHECK(mw_noise_init(&nz, 10u, c->neo ? 1500u : 690u) == MW_OK);
    mw_noise_set_warm(&nz);
    MW_CHECK(mw_detect_init(d, c, rg, rg != NULL ? 32u : 0u) == MW_OK);
    uint32_t n = 0u;
    uint32_t pos = 0u;
    while (pos < N) {
        const uint32_t len = chunk < N - pos ? chunk : N - pos;
        n += mw_detect_process(d, c, &nz, &x[pos], len, &e[n], cap - n,
                               sn != NULL ? &sn[n * SLEN] : NULL);
        pos += len;
        chunk = chunk * 2u + 1u;
    }
    n += mw_detect_flush(d, c, &e[n], cap - n, sn != NULL ? &sn[n * SLEN] : NULL);
    return n;
}

static int matches(const mw_event_t *e, uint32_t n, int offset, int tol)
{
    if ((int)n != n_truth) {
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        int64_t d = e[i].index - (truth[i] + offset);
        if (d < -tol || d > tol) {
            return 0;
        }
    }
    return 1;
}

static void print_events(const char *name, const mw_event_t *e, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        idx[i] = e[i].index * 1000003 + e[i].amplitude * 7 + e[i].width * 3 + e[i].polarity +
                 e[i].flags * 11 + e[i].threshold;
    }
    mw_t_print_i64(name, n);
    mw_t_print_hex(name, mw_t_digest64(idx, n, MW_T_DIGEST_INIT));
}

int test_detect(void)
{
    mw_detect_t d, d2;
    mw_detect_cfg_t c = base_cfg();
    mw_detect_cfg_t bad = c;
    bad.dead = 5u; /* shorter than the alignment window */
    MW_CHECK(mw_detect_cfg_check(&bad) == MW_ERR_ARG);
    bad = c;
    bad.polarity = 0u;
    MW_CHECK(mw_detect_cfg_check(&bad) == MW_ERR_ARG);
    bad = c;
    bad.post = 200u; /* too many events would wait for their snippet */
    MW_CHECK(mw_detect_cfg_check(&bad) == MW_ERR_ARG);
    MW_CHECK(mw_detect_init(&d, &c, ring, 24u) == MW_ERR_ARG); /* not a power of two */
    MW_CHECK(mw_detect_init(&d, &c, ring, 16u) == MW_ERR_ARG); /* shorter than a snippet */

    /* Positive polarity, snippets, one call vs growing chunks. */
    make_signal(3u, 10000);
    uint32_t n = run(&c, ring, ev, snip, MAXEV, N, &d);
    MW_CHECK(matches(ev, n, 0, 1));
    MW_CHECK(d.n_dropped == 0u && d.n_rejected == 0u && d.n_warmup == 0u);
    int snip_ok = 1;
    for (uint32_t i = 0; i < n; i++) {
        snip_ok &= snip[i * SLEN + 10] == ev[i].amplitude && ev[i].polarity == 1;
        snip_ok &= snip[i * SLEN + 10] == x[ev[i].index];
        snip_ok &= snip[i * SLEN] == x[ev[i].index - 10] && snip[i * SLEN + 30] == x[ev[i].index + 20];
        snip_ok &= ev[i].width >= 1 && ev[i].width <= 11;
    }
    MW_CHECK(snip_ok);
    print_events("pos", ev, n);
    mw_t_print_hex("pos_snip", mw_t_digest32(snip, n * SLEN, MW_T_DIGEST_INIT));
    uint32_t n2 = run(&c, ring2, ev2, snip2, MAXEV, 1u, &d2);
    int same = n2 == n;
    for (uint32_t i = 0; same && i < n; i++) {
        same &= ev2[i].index == ev[i].index && ev2[i].amplitude == ev[i].amplitude &&
                ev2[i].width == ev[i].width && ev2[i].threshold == ev[i].threshold;
    }
    for (uint32_t i = 0; same && i < n * SLEN; i++) {
        same &= snip[i] == snip2[i];
    }
    MW_CHECK(same);

    /* Without a ring: same events, no snippets needed. */
    n2 = run(&c, NULL, ev2, NULL, MAXEV, 777u, &d2);
    MW_CHECK(n2 == n && ev2[n - 1].index == ev[n - 1].index);

    /* Negative polarity finds the negative lobe (3 samples later). */
    make_signal(4u, 20000);
    c.polarity = MW_POL_NEG;
    n = run(&c, ring, ev, snip, MAXEV, N, &d);
    MW_CHECK(matches(ev, n, 3, 1));
    MW_CHECK(n > 0u && ev[0].polarity == -1);
    print_events("neg", ev, n);
    /* Both: the larger positive peak wins. */
    c.polarity = MW_POL_BOTH;
    n = run(&c, ring, ev, snip, MAXEV, N, &d);
    MW_CHECK(matches(ev, n, 0, 1));
    print_events("both", ev, n);

    /* NEO pre-emphasis finds the same spikes. */
    make_signal(5u, 10000);
    c.polarity = MW_POL_BOTH;
    c.neo = 1u;
    c.neo_shift = 8u;
    c.thr_mult_q12 = 25u * 4096u;
    c.ceil_mult_q12 = 0u;
    n = run(&c, ring, ev, snip, MAXEV, N, &d);
    MW_CHECK(matches(ev, n, 0, 1));
    print_events("neo", ev, n);
    c = base_cfg();

    /* Artifact above the ceiling is rejected and counted; dead time merges close spikes. */
    make_signal(6u, 10000);
    for (int k = 0; k < 12; k++) {
        x[300 + k] += 400000 * shape[k] / 100;
    }
    for (int k = 0; k < 12; k++) {
        x[truth[3] - 4 + 20 + k] += 9000 * shape[k] / 100; /* 20 samples after spike 3 */
    }
    n = run(&c, ring, ev, snip, MAXEV, N, &d);
    MW_CHECK(d.n_rejected == 1u);
    MW_CHECK(matches(ev, n, 0, 1));
    print_events("artifact", ev, n);

    /* Capacity: events that do not fit are counted, never silently lost. */
    make_signal(3u, 10000);
    n = run(&c, ring, ev, snip, 5u, N, &d);
    MW_CHECK(n == 5u && d.n_dropped == (uint32_t)n_truth - 5u && d.n_events == 5u);

    /* Flush: a spike at the very end comes out flagged as truncated. */
    make_signal(7u, 10000);
    for (int k = 0; k < 12; k++) {
        x[N - 8 + k < N ? N - 8 + k : N - 1] += (N - 8 + k < N) ? 12000 * shape[k] / 100 : 0;
    }
    n = run(&c, ring, ev, snip, MAXEV, N, &d);
    MW_CHECK(n == (uint32_t)n_truth + 1u);
    MW_CHECK(ev[n - 1].index == N - 4 && (ev[n - 1].flags & MW_EV_TRUNCATED));
    MW_CHECK(snip[(n - 1) * SLEN + 30] == 0);
    print_events("flush", ev, n);
    return mw_test_failures;
}
