#include "mw_test.h"

int mw_test_failures = 0;

void mw_t_fail(const char *file, int line, const char *what)
{
    char buf[16];
    int n = 0;
    int l = line;
    char tmp[16];
    do {
        tmp[n++] = (char)('0' + l % 10);
        l /= 10;
    } while (l > 0 && n < 15);
    for (int i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    buf[n] = '\0';
    fputs("CHECK FAILED ", stdout);
    fputs(file, stdout);
    fputs(":", stdout);
    fputs(buf, stdout);
    fputs(": ", stdout);
    fputs(what, stdout);
    fputs("\n", stdout);
}

void mw_rng_seed(mw_rng_t *r, uint64_t seed)
{
    r->s = seed ? seed : 0x9E3779B97F4A7C15ull;
}

uint32_t mw_rng_u32(mw_rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

int32_t mw_rng_gauss(mw_rng_t *r, int32_t sd)
{
    /* Sum of 4 uniforms on [-0.5, 0.5) has variance 1/3; scale by sqrt(3) ~= 443/256. */
    int64_t s = 0;
    for (int i = 0; i < 4; i++) {
        s += (int64_t)(mw_rng_u32(r) >> 16) - 32768;
    }
    return (int32_t)((s * sd * 443) / (65536LL * 256));
}

uint64_t mw_t_digest32(const int32_t *v, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)v[i];
        for (int b = 0; b < 4; b++) {
            h ^= (u >> (8 * b)) & 0xffu;
            h *= 1099511628211ull;
        }
    }
    return h;
}

uint64_t mw_t_digest64(const int64_t *v, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t u = (uint64_t)v[i];
        for (int b = 0; b < 8; b++) {
            h ^= (u >> (8 * b)) & 0xffu;
            h *= 1099511628211ull;
        }
    }
    return h;
}

static void put_i64(int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10u));
        u /= 10u;
    } while (u > 0u);
    if (v < 0) {
        tmp[n++] = '-';
    }
    char out[24];
    for (int i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    out[n] = '\0';
    fputs(out, stdout);
}

void mw_t_print_i64(const char *name, int64_t v)
{
    fputs(name, stdout);
    fputs(" ", stdout);
    put_i64(v);
    fputs("\n", stdout);
}

void mw_t_print_hex(const char *name, uint64_t v)
{
    char out[17];
    for (int i = 0; i < 16; i++) {
        out[i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xfu];
    }
    out[16] = '\0';
    fputs(name, stdout);
    fputs(" ", stdout);
    fputs(out, stdout);
    fputs("\n", stdout);
}

void mw_t_print_vec(const char *name, const int32_t *v, size_t n)
{
    fputs(name, stdout);
    for (size_t i = 0; i < n; i++) {
        fputs(" ", stdout);
        put_i64(v[i]);
    }
    fputs("\n", stdout);
}

/* Integer sine approximation (Bhaskara I), |error| < 0.2 % of amp; phase in [0, period). */
static int32_t isin(uint32_t phase, uint32_t period, int32_t amp)
{
    const int64_t p = (int64_t)(phase % period);
    const int64_t half = (int64_t)period / 2;
    int64_t q = p < half ? p : p - half; /* 0..half */
    int64_t num = 16 * q * (half - q);
    int64_t den = 5 * half * half - 4 * q * (half - q);
    int64_t v = den != 0 ? (num * amp) / den : 0;
    return (int32_t)(p < half ? v : -v);
}

size_t mw_t_signal(int32_t *x, size_t n, uint64_t seed, int32_t sd, int32_t amp, uint32_t period,
                   int32_t dc, int32_t hum, uint32_t hum_period)
{
    mw_rng_t r;
    mw_rng_seed(&r, seed);
    /* a biphasic spike shape, 12 samples */
    static const int32_t shape[12] = {0, 10, 35, 75, 100, 60, -20, -55, -45, -25, -10, -3};
    size_t next = period / 2u;
    size_t count = 0u;
    for (size_t i = 0; i < n; i++) {
        x[i] = dc + mw_rng_gauss(&r, sd) + (hum ? isin((uint32_t)i, hum_period, hum) : 0);
    }
    while (period > 0u && next + 12u < n) {
        const int32_t a = (int32_t)(((int64_t)amp * (80 + (int32_t)(mw_rng_u32(&r) % 41u))) / 100);
        for (size_t k = 0; k < 12u; k++) {
            x[next + k] += (int32_t)(((int64_t)a * shape[k]) / 100);
        }
        next += period - period / 4u + mw_rng_u32(&r) % (period / 2u + 1u);
        count++;
    }
    return count;
}
