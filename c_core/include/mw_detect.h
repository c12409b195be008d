/* MUAP spike detector: threshold k * sigma (sigma from the streaming median of mw_noise),
 * polarity choice, dead time, alignment to the extremum, optional nonlinear-energy-operator
 * (NEO) pre-emphasis, artifact rejection above a ceiling, waveform snippets.
 *
 * Detection value d: the filtered sample x, or with NEO psi[n] = x[n]^2 - x[n-1] x[n+1]
 * (scaled by 2^-neo_shift; the detector then runs one sample behind its input). The noise
 * tracker follows median(|d|); threshold = median * thr_mult_q12 / 4096 (k / 0.6745 in Q12 for
 * plain detection, a multiple of median(psi) for NEO), with the median of the current noise
 * block (MW_NOISE_BLOCK samples, see mw_noise.h): a block whose |d| stays below it while no
 * event is open is skipped after the counting, so detection costs little per sample. An event starts when d crosses the
 * threshold (|d| for polarity BOTH, -d for NEG) from below and no dead time is running; the
 * extremum of x in the allowed polarity is then searched over the next `align` samples. If the
 * largest |d| of the event exceeds the ceiling (median * ceil_mult_q12 / 4096) the event is
 * rejected and counted. No new event starts within `dead` samples of the extremum.
 * Snippets (x from peak - pre to peak + post) need a caller-owned ring of a power-of-two
 * length >= pre + post + 1; events are then emitted `post` samples after their peak.
 * Nothing is lost silently: events beyond the caller's capacity are counted in n_dropped,
 * samples not searched (noise warm-up, the first `blank` samples while filters settle) in
 * n_warmup. With NEO the last input sample is never searched (psi needs the next one).
 */
#ifndef MW_DETECT_H
#define MW_DETECT_H

#include <stdint.h>

#include "mw_noise.h"

#define MW_POL_NEG 1
#define MW_POL_POS 2
#define MW_POL_BOTH 3
#define MW_DETECT_PENDING 2
#define MW_DETECT_MAX_SNIPPET 1024
#define MW_DETECT_MAX_MULT_Q12 1048576
#define MW_EV_TRUNCATED 1

typedef struct {
    int64_t index;     /* sample index of the aligned extremum, counted from init */
    int32_t amplitude; /* filtered value at the extremum, signed, data units */
    int32_t threshold; /* threshold on d when the event started */
    int16_t width;     /* samples over threshold from the crossing (at most align + 1) */
    int8_t polarity;   /* +1 or -1: sign of the extremum */
    uint8_t flags;     /* MW_EV_TRUNCATED: snippet or alignment cut by the end of the data */
} mw_event_t;

typedef struct {
    uint32_t thr_mult_q12;  /* threshold = median(|d|) * thr_mult_q12 / 4096 */
    uint32_t ceil_mult_q12; /* artifact ceiling on |d| likewise; 0 = no rejection */
    uint32_t blank;         /* samples at the start not searched (filter settling) */
    uint16_t dead;          /* samples after an extremum with no new event, >= align + 1 */
    uint16_t align;         /* samples after the crossing searched for the extremum */
    uint16_t pre;           /* snippet samples before the extremum */
    uint16_t post;          /* snippet samples after the extremum */
    uint8_t polarity;       /* MW_POL_* */
    uint8_t neo;            /* 1 = NEO pre-emphasis */
    uint8_t neo_shift;      /* psi scaled by 2^-neo_shift, 0..62 */
    uint8_t reserved;
} mw_detect_cfg_t;

typedef struct {
    int64_t t;        /* index of the next sample the detector handles */
    int64_t peak_idx; /* extremum of the event being aligned */
    int32_t prev;     /* previous detection value */
    int32_t xd1, xd2; /* NEO delay line */
    int32_t peak;     /* extremum of x so far */
    int32_t thr_at;   /* threshold at the crossing */
    uint32_t dmax;    /* largest |d| of the event so far */
    uint32_t ceil_at; /* ceiling at the crossing */
    uint16_t dead_left;
    uint16_t win_left;
    int16_t width;
    uint8_t phase; /* 0 idle, 1 aligning */
    uint8_t over;  /* d still beyond threshold since the crossing */
    int8_t cross_sign;
    uint8_t n_pend;
    uint8_t reserved[2];
    mw_event_t pend[MW_DETECT_PENDING];
    int32_t *ring; /* caller-owned snippet history or NULL */
    uint32_t ring_mask;
    uint32_t ring_pos;
    uint32_t n_events;   /* events handed to the caller */
    uint32_t n_rejected; /* events rejected as artifacts */
    uint32_t n_dropped;  /* events lost because the caller's buffer was full */
    uint32_t n_warmup;   /* samples not searched: noise warm-up and start-up blanking */
    uint32_t blank_left; /* blanking samples still to come */
} mw_detect_t;

/* Check a configuration; MW_OK or MW_ERR_ARG. */
int32_t mw_detect_cfg_check(const mw_detect_cfg_t *cfg);
/* ring may be NULL (no snippets); else ring_len must be a power of two >= pre + post + 1. */
int32_t mw_detect_init(mw_detect_t *s, const mw_detect_cfg_t *cfg, int32_t *ring,
                       uint32_t ring_len);
/* Run noise tracking and detection over n filtered samples. Writes at most ev_cap events to
 * ev and, when the detector has a ring, (pre + post + 1) samples per event to snip. Returns the
 * number of events written. */
uint32_t mw_detect_process(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_noise_t *noise,
                           const int32_t *x, uint32_t n, mw_event_t *ev, uint32_t ev_cap,
                           int32_t *snip);
/* End of data: emit the event being aligned and the pending ones (snippet tails zero-filled,
 * flag MW_EV_TRUNCATED). Returns the number of events written. */
uint32_t mw_detect_flush(mw_detect_t *s, const mw_detect_cfg_t *cfg, mw_event_t *ev,
                         uint32_t ev_cap, int32_t *snip);
/* Most events mw_detect_process can return for n samples (size of the caller's buffers). */
uint32_t mw_detect_max_events(const mw_detect_cfg_t *cfg, uint32_t n);

#endif /* MW_DETECT_H */
