#include "mw_area.h"

#include <stddef.h>

int mw_area_init(mw_area_t *s, uint32_t sub_len, uint64_t *sub_buf, uint32_t sub_cap)
{
    if (s == NULL || (sub_len > 0u && (sub_buf == NULL || sub_cap == 0u))) {
        return MW_AREA_EINVAL;
    }
    s->sum_abs = 0u;
    s->sum_sq = 0u;
    s->n = 0u;
    s->clipped = 0u;
    s->max = -MW_AREA_CODE_MAX;
    s->min = MW_AREA_CODE_MAX;
    s->sub_len = sub_len;
    s->sub_cap = (sub_len > 0u) ? sub_cap : 0u;
    s->sub_n = 0u;
    s->sub_fill = 0u;
    s->sub_acc = 0u;
    s->sub_sq = (sub_len > 0u) ? sub_buf : NULL;
    return MW_AREA_OK;
}

int mw_area_process_i32(mw_area_t *s, const int32_t *x, uint32_t n)
{
    if (s == NULL || (x == NULL && n > 0u)) {
        return MW_AREA_EINVAL;
    }
    if ((uint64_t)s->n + n > (uint64_t)MW_AREA_MAX_SAMPLES) {
        return MW_AREA_EFULL;
    }
    if (s->sub_len > 0u) {
        uint64_t done = ((uint64_t)s->sub_fill + n) / s->sub_len;
        if ((uint64_t)s->sub_n + done > (uint64_t)s->sub_cap) {
            return MW_AREA_EFULL;
        }
    }
    uint64_t sa = s->sum_abs;
    uint64_t sq = s->sum_sq;
    int32_t mx = s->max;
    int32_t mn = s->min;
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = x[i];
        if (v > MW_AREA_CODE_MAX) {
            v = MW_AREA_CODE_MAX;
            s->clipped++;
        } else if (v < -MW_AREA_CODE_MAX) {
            v = -MW_AREA_CODE_MAX;
            s->clipped++;
        }
        uint32_t a = (uint32_t)((v < 0) ? -v : v);
        uint64_t p = (uint64_t)a * a;
        sa += a;
        sq += p;
        mx = (v > mx) ? v : mx;
        mn = (v < mn) ? v : mn;
        if (s->sub_len > 0u) {
            s->sub_acc += p;
            if (++s->sub_fill == s->sub_len) {
                s->sub_sq[s->sub_n++] = s->sub_acc;
                s->sub_acc = 0u;
                s->sub_fill = 0u;
            }
        }
    }
    s->sum_abs = sa;
    s->sum_sq = sq;
    s->max = mx;
    s->min = mn;
    s->n += n;
    return MW_AREA_OK;
}
