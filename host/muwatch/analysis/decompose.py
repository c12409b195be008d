"""Motor-unit decomposition of one channel or of several channels of one electrode array:
templates learnt from the recording, then template matching with iterative subtraction
("peel-off") over the whole filtered signal, so that superimposed discharges are resolved.

    from muwatch.analysis import decompose
    dec = decompose(signal, fs, preset="needle")        # signal (n,) or (channels, n)
    dec.trains[u]          # discharge times (s) of unit u, at the unit's reference point
    dec.events             # every discharge and every unexplained detection (unit -1), time order
    dec.channel_events(c)  # several channels: the discharges of units seen on channel c, timed
                           # at each unit's extremum on that channel

The method follows the template-matching decompositions of needle EMG (McGill et al., J
Neurosci Methods 2005;149:121, EMGLAB; Stashuk, J Electromyogr Kinesiol 2001;11:151, DQEMG;
the peel-off idea of Holobar & Zazula and of spike sorters' matching pursuit), own code:
1. Detection (`detect_spikes` on every channel, zero-phase band-pass, k robust sigmas) gives
   candidate MUAPs. Isolated ones are aligned, clustered (PCA + Ward linkage, over-split) and
   clusters whose templates a matcher could not tell apart are merged.
2. The fixed-point core (`mw_match`) peels the templates off the filtered signal (all channels
   at once), segment by segment, at sub-sample phases: the fit of largest energy reduction
   first, accepted only when its amplitude is plausible, it explains a share of the energy
   present and it passes a noise test tied to sigma (see mw_match.h).
3. Refinement rounds, like expectation-maximisation: every template is re-estimated from its
   fitted discharges (each as residual + its own fit, i.e. cleaned of overlapping units);
   units are split, merged or dropped on the evidence of their discharge trains (a motor unit
   cannot fire twice within its refractory period, and two units fire independently): a unit
   whose fits fall into two waveforms firing independently is two units; two units with
   similar waveforms whose discharges alternate and never coincide are one; a unit whose
   discharges are time-locked to a larger unit's is part of it (its variability, a satellite
   potential). New units are looked for in what the fits leave.
4. The final peel declares each unit's variability (what its fits leave: other units must not
   be fitted into it) and searches pairs of templates jointly where one fit leaves too much
   (near-coincident and phase-cancelling superpositions). Overlapping fits are then re-fitted
   one at a time with the others subtracted (coordinate descent towards their joint least-
   squares fit), which removes the bias a still-unexplained neighbour gave a greedy fit's time.
   Two templates one discharge cannot tell apart whose trains coincide less than chance are
   one unit's discharges shared between them (merged).
5. Every discharge of a unit is reported at one reference point of that unit: the main
   extremum of the unit's averaged MUAP in the recorded band (reference="wideband", a
   zero-phase high-pass at a tenth of the preset's corner only), or of its template in the
   detection band (reference="band"). Detections that no fit explains stay in the output with
   unit -1 (`unassigned`), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster import hierarchy

from muwatch.analysis._corewrap import (
    MATCH_ALPHA_ONE,
    MATCH_MAX_CH,
    MATCH_MAX_LEN,
    MATCH_MAX_REACH,
    MATCH_MAX_ROWS,
    MATCH_MAX_SPAN,
    Matcher,
)
from muwatch.analysis.detect import (
    Preset,
    SpikeResult,
    detect_spikes,
    get_preset,
    recorded_band,
    subsample_offset,
)
from muwatch.errors import UsageError

#: residual scale handed to the core: the robust sigma is 64 LSB (int16 reaches 512 sigma)
SIGMA_LSB = 64.0
MAX_SEGMENT = 8192
#: pair search reach: about the lag of the first minimum of a MUAP's autocorrelation in that
#: band, where two discharges either merge into one potential a single template matches or
#: cancel (simulated ADM: surface array 2.75-5 ms, median 4.25; needle 0.45-0.65 ms, where
#: 0.4 does better: needle discharges vary, and a wider pair search fits pairs into that)
_PAIR_MS = {"needle": 0.4, "surface": 4.0}
#: where a unit's reference point is read by default: needle MUAPs in the recorded band (the
#: 300 Hz high-pass reshapes their phases, so the band's extremum can be another phase than the
#: MUAP's own); surface MUAPs in the detection band, which holds nearly all of their energy
#: (20-450 Hz) while the recorded band adds slow activity of every other unit to the average
_REFERENCE = {"needle": "wideband", "surface": "band"}

DECOMP_EVENTS_DTYPE = np.dtype(
    [
        ("t", "<f8"),  # seconds, at the unit's reference point (detections: their extremum)
        ("index", "<f8"),  # the same in samples (sub-sample)
        ("unit", "<i4"),  # -1: a detection no template explains
        ("amplitude", "<f8"),  # fitted amplitude x template extremum (input unit)
        ("alpha", "<f4"),  # fitted amplitude relative to the template (NaN for detections)
        ("channel", "<i2"),  # fits: the unit's reference channel; detections: their channel
    ]
)


@dataclass
class Decomposition:
    """Units, templates and discharges; amplitudes in the input's unit.

    One channel: templates (n_units, L), noise_sigma a number. Several channels: templates
    (n_units, channels, L), noise_sigma per channel, and per unit its reference on every
    channel (`channel_reference`) and the channels where it is seen on its own (`visible`)."""

    fs: float
    preset: Preset
    templates: np.ndarray  # (n_units, L) or (n_units, channels, L), detection band, input unit
    pre: int  # template samples before its alignment point
    reference: np.ndarray  # per unit: reference point as a (sub-sample) offset in the template
    events: np.ndarray  # DECOMP_EVENTS_DTYPE, time order: fits and unassigned detections
    noise_sigma: Any  # robust sigma of the filtered signal (input unit), per channel if several
    residual_sigma: Any  # robust sigma of what the fits leave (input unit)
    detection: Any  # SpikeResult, or a list of them (one per channel)
    counters: dict[str, int] = field(default_factory=dict)
    residual: np.ndarray | None = None  # filtered signal minus every fit, if asked for
    channel_reference: np.ndarray | None = None  # (n_units, channels) offsets in the template
    visible: np.ndarray | None = None  # (n_units, channels): the unit passes z on that channel
    unit_channel: np.ndarray | None = None  # per unit: its reference channel

    @property
    def n_units(self) -> int:
        return int(self.templates.shape[0])

    @property
    def n_channels(self) -> int:
        return 1 if self.templates.ndim == 2 else int(self.templates.shape[1])

    @property
    def trains(self) -> dict[int, np.ndarray]:
        """Discharge times (s) per unit."""
        ev = self.events
        return {u: ev["t"][ev["unit"] == u] for u in range(self.n_units)}

    @property
    def unassigned(self) -> np.ndarray:
        """Times (s) of detections that no unit's fit explains."""
        return self.events["t"][self.events["unit"] < 0]

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.events["unit"][self.events["unit"] >= 0], minlength=self.n_units)

    def channel_events(self, channel: int) -> np.ndarray:
        """The discharges of the units seen on `channel` (its own matched filter passes the
        noise test there), each timed at its unit's extremum on that channel, plus that
        channel's unexplained detections; DECOMP_EVENTS_DTYPE in time order."""
        if not 0 <= channel < self.n_channels:
            raise UsageError(f"channel {channel} out of range 0..{self.n_channels - 1}")
        ev = self.events
        if self.n_channels == 1:
            return ev.copy()
        assert self.channel_reference is not None and self.visible is not None
        fit = ev["unit"] >= 0
        u = ev["unit"][fit]
        keep = self.visible[u, channel]
        out = ev[fit][keep].copy()
        uu = u[keep]
        shift = self.channel_reference[uu, channel] - self.reference[uu]
        out["index"] += shift
        out["t"] = out["index"] / self.fs
        out["channel"] = channel
        un = ev[~fit & (ev["channel"] == channel)]
        res = np.concatenate([out, un])
        return res[np.argsort(res["t"], kind="stable")]


# ---------------------------------------------------------------------------------------------
# helpers (waveforms are (channels, samples); snippets (n, channels, samples))


def _frac_shift(t: np.ndarray, d: float) -> np.ndarray:
    """t delayed by d samples along its last axis (band-limited interpolation, zero-padded)."""
    if d == 0.0:
        return t.copy()
    n = t.shape[-1]
    pad = np.zeros(t.shape[:-1] + (3 * n,))
    pad[..., n : 2 * n] = t
    f = np.fft.rfftfreq(3 * n)
    out = np.fft.irfft(np.fft.rfft(pad, axis=-1) * np.exp(-2j * np.pi * f * d), 3 * n, axis=-1)
    return out[..., n : 2 * n]


def _energy_peak(x: np.ndarray, w: int) -> np.ndarray:
    """Index of the short-time energy maximum (all channels) of each snippet: between two phases
    of similar size rather than on whichever noise makes the larger."""
    e = (x * x).sum(axis=1)
    k = np.ones(w) / w
    e = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, e)
    return np.argmax(e, axis=1)


def _best_shift(a: np.ndarray, b: np.ndarray, m: int) -> tuple[float, float]:
    """Shift s (samples, to a quarter sample) in -m..m minimising ||a - b delayed by s||^2
    over the central part; (s, that squared distance)."""
    n = a.shape[-1]
    core = a[..., m : n - m]
    best, bs = np.inf, 0
    for s in range(-m, m + 1):
        d = core - b[..., m - s : n - m - s]
        v = float((d * d).sum())
        if v < best:
            best, bs = v, s
    out = (float(bs), best)
    for f in (-0.5, -0.25, 0.25, 0.5):
        bb = _frac_shift(b, bs + f)
        d = core - bb[..., m : n - m]
        v = float((d * d).sum())
        if v < out[1]:
            out = (bs + f, v)
    return out


def _noise_acf(q: np.ndarray, quiet: np.ndarray, lags: int) -> np.ndarray:
    """Autocovariance of the background at lags 0..lags-1 from the quiet samples only, per
    channel: (channels, lags)."""
    m = quiet.astype(np.float64)
    n = 1 << int(np.ceil(np.log2(q.shape[-1] + lags)))
    fm = np.fft.rfft(m, n)
    den = np.fft.irfft(fm * np.conj(fm), n)[:lags]
    out = np.zeros((q.shape[0], lags))
    for c in range(q.shape[0]):
        fx = np.fft.rfft(np.where(quiet, q[c], 0.0), n)
        num = np.fft.irfft(fx * np.conj(fx), n)[:lags]
        acf = num / np.maximum(den, 1.0)
        if not np.isfinite(acf[0]) or acf[0] <= 0:
            acf = np.zeros(lags)
            acf[0] = SIGMA_LSB**2
        out[c] = acf
    return out


def _quad_noise(t: np.ndarray, acf: np.ndarray) -> float:
    """t' R t for the background's covariance R (Toeplitz per channel, channels independent)."""
    total = 0.0
    for c in range(t.shape[0]):
        a = np.correlate(t[c], t[c], mode="full")  # lags -(L-1)..L-1
        mid = t.shape[1] - 1
        r = np.zeros(a.size)
        k = min(acf.shape[1], t.shape[1])
        r[mid : mid + k] = acf[c, :k]
        r[mid - k + 1 : mid + 1] = acf[c, :k][::-1]
        total += float(a @ r)
    return max(total, 1.0)


def _segments(active: np.ndarray, pad: int, length: int) -> np.ndarray:
    """[start, end) runs of `active` dilated by pad, at least `length` long, cut at MAX_SEGMENT."""
    n = active.size
    if not active.any():
        return np.zeros((0, 2), np.int64)
    # int32: an int8 sum wraps once the window passes 127 samples (templates at >= 10 kHz)
    c = np.convolve(active.astype(np.int32), np.ones(2 * pad + 1, np.int32), mode="same") > 0
    d = np.diff(np.r_[0, c.astype(np.int8), 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    out = []
    for a, b in zip(starts, ends, strict=True):
        if b - a < length:
            a = max(0, min(a, n - length))
            b = min(n, a + length)
        while b - a > MAX_SEGMENT:
            out.append((a, a + MAX_SEGMENT))
            a += MAX_SEGMENT - length
        out.append((a, b))
    seg = np.array(out, np.int64)
    # merge overlaps (a short run widened to `length` can reach its neighbour)
    merged = [list(seg[0])]
    for a, b in seg[1:]:
        if a < merged[-1][1] and b - merged[-1][0] <= MAX_SEGMENT:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([max(a, merged[-1][1]), b])
    return np.array([s for s in merged if s[1] - s[0] >= length], np.int64).reshape(-1, 2)


# ---------------------------------------------------------------------------------------------
# template learning


@dataclass
class _Geometry:
    pre: int
    post: int
    margin: int  # alignment search (samples)
    energy_w: int
    channels: int = 1

    @property
    def length(self) -> int:
        return self.pre + self.post + 1


def _cut(z: np.ndarray, centres: np.ndarray, g: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Snippets of z (channels, n) around centres with the alignment margin on both sides:
    (snips (k, channels, L + 2 margin), ok)."""
    lo = centres - g.pre - g.margin
    hi = centres + g.post + g.margin + 1
    ok = (lo >= 0) & (hi <= z.shape[1])
    idx = lo[ok, None] + np.arange(g.length + 2 * g.margin)[None, :]
    return np.transpose(z[:, idx], (1, 0, 2)), ok


def _align(ext: np.ndarray, g: _Geometry, ref: np.ndarray | None = None) -> np.ndarray:
    """Shift (-margin..margin) per extended snippet: to the template `ref` when given (least
    squares), else to the short-time energy peak."""
    m = g.margin
    if ref is None:
        e = _energy_peak(ext, g.energy_w)
        return np.clip(e - (g.pre + m), -m, m)
    out = np.zeros(len(ext), int)
    best = np.full(len(ext), np.inf)
    for s in range(-m, m + 1):
        seg = ext[:, :, m + s : m + s + g.length]
        d = ((seg - ref[None]) ** 2).sum(axis=(1, 2))
        better = d < best
        best[better] = d[better]
        out[better] = s
    return out


def _take(ext: np.ndarray, shifts: np.ndarray, g: _Geometry) -> np.ndarray:
    cols = g.margin + shifts[:, None] + np.arange(g.length)[None, :]
    return np.take_along_axis(
        ext, np.broadcast_to(cols[:, None, :], ext.shape[:2] + (g.length,)), 2
    )


def _consensus(ext: np.ndarray, g: _Geometry, iters: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Template of a group: aligned mean, re-aligned to it `iters` times; (template, shifts)."""
    sh = _align(ext, g)
    t = _take(ext, sh, g).mean(axis=0)
    for _ in range(iters):
        sh = _align(ext, g, t)
        t = _take(ext, sh, g).mean(axis=0)
    return t, sh


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def _cluster(
    ext: np.ndarray, g: _Geometry, max_clusters: int, min_count: int, rng_limit: int = 3000
) -> list[np.ndarray]:
    """Over-split groups of snippets (index arrays into ext), each >= min_count members."""
    n = len(ext)
    if n < min_count:
        return []
    sh = _align(ext, g)
    x = _flat(_take(ext, sh, g))
    sel = np.arange(n)
    if n > rng_limit:  # evenly spread subset for the linkage, the rest joins the nearest
        sel = np.linspace(0, n - 1, rng_limit).round().astype(int)
    xs = x[sel]
    mu = xs.mean(axis=0)
    if len(xs) < 2:
        return [np.arange(n)]
    _, _, vt = np.linalg.svd(xs - mu, full_matrices=False)
    d = int(min(6, vt.shape[0]))
    feats = (xs - mu) @ vt[:d].T
    z = hierarchy.linkage(feats, method="ward")
    k = int(max(1, min(max_clusters, len(xs) // max(min_count, 1))))
    lab = hierarchy.fcluster(z, k, criterion="maxclust") - 1
    cent = np.array([feats[lab == c].mean(axis=0) for c in range(lab.max() + 1)])
    allf = (x - mu) @ vt[:d].T
    full = np.argmin(((allf[:, None, :] - cent[None, :, :]) ** 2).sum(axis=2), axis=1)
    full[sel] = lab
    return [
        np.flatnonzero(full == c) for c in range(cent.shape[0]) if (full == c).sum() >= min_count
    ]


@dataclass
class _Unit:
    template: np.ndarray  # sigma units, detection band, (channels, L)
    members: int
    spread: float  # mean squared deviation of members from the template per sample (sigma^2)


#: a unit found in the residual (candidates down to k - 1 sigma) must fire like a motor unit:
#: at most this share of intervals below half the median (a Poisson train of noise has 0.29)
NEW_UNIT_SHORT_ISI = 0.15
SPREAD_MAX = 1.6  # a cluster's members deviate from its template by <= 1.6 sigma^2 per sample


def _spread(ext: np.ndarray, g: _Geometry) -> tuple[np.ndarray, float]:
    """(template, median over members of their mean squared deviation from it per sample)."""
    t, sh = _consensus(ext, g)
    dev = _take(ext, sh, g) - t[None]
    return t, float(np.median((dev**2).mean(axis=(1, 2))))


def _split2(x: np.ndarray) -> list[np.ndarray]:
    """Two groups by Ward linkage on the principal components of aligned members (n, ...)."""
    f = _flat(x)
    xc = f - f.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    p = xc @ vt[: min(4, vt.shape[0])].T
    lab = hierarchy.fcluster(hierarchy.linkage(p, method="ward"), 2, criterion="maxclust") - 1
    return [np.flatnonzero(lab == c) for c in (0, 1)]


def _learn(ext: np.ndarray, g: _Geometry, k: float, max_units: int, min_count: int) -> list[_Unit]:
    """Units from extended snippets (sigma units) of isolated candidates: clusters are split
    until their members share one waveform (spread <= SPREAD_MAX, or halves a matcher could not
    tell apart), then clusters whose templates a matcher could not tell apart are merged.
    Over-splitting a unit whose discharges vary is mended later by its discharge trains."""
    queue = _cluster(ext, g, 2 * max_units, min_count)
    done: list[tuple[np.ndarray, np.ndarray]] = []
    while queue:
        grp = queue.pop()
        if len(grp) < min_count:
            continue
        t, sp = _spread(ext[grp], g)
        if len(grp) >= 2 * min_count:
            halves = [grp[h] for h in _split2(_take(ext[grp], _align(ext[grp], g), g))]
            if sp > SPREAD_MAX:
                queue.extend(halves)
                continue
            if min(len(h) for h in halves) >= min_count:
                ta, tb = (_consensus(ext[h], g)[0] for h in halves)
                m = max(1, g.margin)
                if not _same_unit(ta, tb, m, len(halves[0]), len(halves[1])):
                    queue.extend(halves)  # two units that one cluster held
                    continue
        if sp <= SPREAD_MAX:
            done.append((t, grp))
    done = _merge(done, ext, g)
    out = []
    for t, grp in done:
        t, sp = _spread(ext[grp], g)
        # a template that itself reaches most of the threshold (not an average of noise)
        if len(grp) >= min_count and sp <= SPREAD_MAX and np.abs(t).max() >= 0.6 * k:
            out.append(_Unit(t, len(grp), sp))
    out.sort(key=lambda u: -u.members * float((u.template**2).sum()))
    return out[:max_units]


def _same_unit(a: np.ndarray, b: np.ndarray, m: int, na: int = 0, nb: int = 0) -> bool:
    """Templates (sigma units) a matcher could not tell apart: after the best (sub-sample)
    shift their squared difference is within twice what averaging noise leaves (L/na + L/nb
    sigma^2). Shape variability of one unit is left to the discharge trains to judge."""
    _, d = _best_shift(a, b, m)
    n_noise = a.size * (1.0 / max(na, 1) + 1.0 / max(nb, 1)) if na and nb else 9.0
    return d <= 2.0 * n_noise


def _merge(
    units: list[tuple[np.ndarray, np.ndarray]], ext: np.ndarray, g: _Geometry
) -> list[tuple[np.ndarray, np.ndarray]]:
    m = max(1, g.margin)
    changed = True
    while changed and len(units) > 1:
        changed = False
        best = None
        for i in range(len(units)):
            for j in range(i + 1, len(units)):
                if _same_unit(units[i][0], units[j][0], m, len(units[i][1]), len(units[j][1])):
                    _, d = _best_shift(units[i][0], units[j][0], m)
                    if best is None or d < best[0]:
                        best = (d, i, j)
        if best is not None:
            _, i, j = best
            grp = np.r_[units[i][1], units[j][1]]
            t, _ = _consensus(ext[grp], g)
            units = [u for k, u in enumerate(units) if k not in (i, j)] + [(t, grp)]
            changed = True
    return units


# ---------------------------------------------------------------------------------------------
# matching


def _phases(fs: float, n_units: int) -> int:
    """Sub-sample phases per template: steps of <= ~25 us, within the core's row budget."""
    p = int(np.clip(np.ceil(40_000.0 / fs), 1, 8))
    return max(1, min(p, MATCH_MAX_ROWS // max(n_units, 1)))


@dataclass
class _Fits:
    unit: np.ndarray  # per fit
    pos: np.ndarray  # template start + sub-sample phase (samples)
    alpha: np.ndarray
    pair: np.ndarray  # fitted jointly with another (pair search)
    resid: np.ndarray  # (channels, n) int16
    full: int  # segments that reached the fit limit


def _peel(
    q: np.ndarray,
    templates: list[np.ndarray],
    g: _Geometry,
    fs: float,
    acf: np.ndarray,
    *,
    z: float,
    alpha: tuple[float, float],
    frac: float,
    gap: int,
    seg_k: float,
    pair: int = 0,
    pair_z: float = 2.0,
    leftover: np.ndarray | None = None,
    refit: int = 2,
) -> _Fits:
    """Peel the templates (sigma units, (channels, L)) off q (int16 (channels, n), sigma = 64).
    pair: reach of the pair search (samples, 0 = off), tried where a single fit leaves more
    than pair_z standard deviations of background energy above the floor and the fitted
    unit's own leftover; leftover: per unit, the energy (LSB^2) its fits leave (its
    variability), declared to the core so other units are not fitted into it."""
    resid = q.copy()
    none = _Fits(np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0, bool), resid, 0)
    if not templates:
        return none
    p = _phases(fs, len(templates))
    rows, unit_of, phase_of, gains = [], [], [], []
    for u, t in enumerate(templates):
        for j in range(p):
            tq = np.clip(np.round(_frac_shift(t, j / p) * SIGMA_LSB), -32767, 32767)
            e = float((tq * tq).sum())
            if e <= 0:
                continue
            rows.append(tq.astype(np.int16))
            unit_of.append(u)
            phase_of.append(j / p)
            gains.append(z * z * _quad_noise(tq, acf) / e)
    if not rows:
        return none
    n, ch = g.length, q.shape[0]
    lv = None
    if leftover is not None:  # per unit -> per row
        lv = np.clip(np.asarray(leftover, float)[np.array(unit_of)], 0, 2**44)
    lags = np.arange(-min(n, acf.shape[1]) + 1, min(n, acf.shape[1]))
    # variance of the background's energy over a support: 2 sum_ij R(i-j)^2 per channel
    e_var = sum(float(np.sum((n - np.abs(lags)) * acf[c, np.abs(lags)] ** 2)) for c in range(ch))
    floor = int(n * acf[:, 0].sum())
    matcher = Matcher(
        np.array(rows),
        np.array(unit_of),
        np.ceil(np.array(gains)).astype(np.int64),
        alpha=alpha,
        gap=gap,
        frac=frac,
        floor=floor,
        pair_reach=min(pair, MATCH_MAX_REACH),
        pair_trigger=int(floor + pair_z * np.sqrt(2.0 * e_var)),
        refit=refit,
        spill=None if lv is None else np.ceil(z * z * lv / (ch * n * n)).astype(np.int64),
        leftover=None if lv is None else lv.astype(np.int64),
    )
    smallest = min(float(np.abs(t).max()) for t in templates)
    thr = max(2.0, min(seg_k, alpha[0] * smallest)) * SIGMA_LSB
    seg = _segments((np.abs(q) >= thr).any(axis=0), g.length, g.length)
    hits, full = matcher.run(resid, seg)
    order = np.argsort(hits["pos"], kind="stable")
    hits = hits[order]
    return _Fits(
        unit=np.array(unit_of)[hits["row"]],
        pos=hits["pos"] + np.array(phase_of)[hits["row"]],
        alpha=hits["alpha_q14"] / MATCH_ALPHA_ONE,
        pair=(hits["flags"] & 1).astype(bool),
        resid=resid,
        full=full,
    )


def _polish(
    f: _Fits,
    templates: list[np.ndarray],
    g: _Geometry,
    fs: float,
    alpha: tuple[float, float],
    sweeps: int = 8,
) -> _Fits:
    """Overlapping fits re-fitted one at a time (coordinate descent towards the joint least-
    squares fit): each is added back to the residual and its unit's best place (within the
    alignment margin, at every sub-sample phase) and amplitude within `alpha` are searched
    again with the others fitted, so that a fit taken while an overlapping discharge was still
    unexplained loses the bias that discharge gave its time; sweeps until nothing moves."""
    if f.unit.size < 2:
        return f
    reach = g.margin
    p = _phases(fs, len(templates))
    rows = [
        np.array([_frac_shift(t, j / p) * SIGMA_LSB for j in range(p)]) for t in templates
    ]  # (p, ch, L)
    energy = [(r * r).sum(axis=(1, 2)) for r in rows]
    lq = g.length
    r = f.resid.astype(np.float64)
    n = r.shape[1]
    pos, alp = f.pos.copy(), f.alpha.copy()
    a_int = np.floor(pos + 1e-9).astype(np.int64)
    order = np.argsort(a_int)
    srt = a_int[order]
    near = np.zeros(pos.size, bool)
    near[order] = (np.r_[np.inf, np.diff(srt)] < lq) | (np.r_[np.diff(srt), np.inf] < lq)
    idx = np.flatnonzero(near)
    for _ in range(sweeps):
        moved = 0
        for i in idx:
            u = int(f.unit[i])
            a = int(np.floor(pos[i] + 1e-9))
            j = int(round((pos[i] - a) * p)) % p
            if a - reach < 0 or a + reach + lq > n:
                continue
            r[:, a : a + lq] += alp[i] * rows[u][j]
            win = np.lib.stride_tricks.sliding_window_view(
                r[:, a - reach : a + reach + lq], lq, axis=1
            )  # (ch, 2 reach + 1, L)
            c = np.einsum("csl,pcl->sp", win, rows[u])  # (shifts, phases)
            al = c / energy[u][None, :]
            gain = np.where((al >= alpha[0]) & (al <= alpha[1]), c * al, -np.inf)
            s_best, p_best = np.unravel_index(int(np.argmax(gain)), gain.shape)
            if not np.isfinite(gain[s_best, p_best]):
                s_best, p_best, a_new = reach, j, alp[i]
            else:
                a_new = float(al[s_best, p_best])
            na = a - reach + int(s_best)
            r[:, na : na + lq] -= a_new * rows[u][p_best]
            npos = na + p_best / p
            moved += int(abs(npos - pos[i]) > 1e-9)
            pos[i], alp[i] = npos, a_new
        if moved == 0:
            break
    resid = np.clip(np.round(r), -32768, 32767).astype(np.int16)
    o = np.argsort(pos, kind="stable")
    return _Fits(f.unit[o], pos[o], alp[o], f.pair[o], resid, f.full)


def _isolated(f: _Fits, g: _Geometry) -> np.ndarray:
    """Fits with no other fit within a template length."""
    a = np.floor(f.pos).astype(np.int64)
    order = np.argsort(a)
    gap = np.diff(a[order])
    iso = np.zeros(a.size, bool)
    iso[order] = (np.r_[np.inf, gap] > g.length) & (np.r_[gap, np.inf] > g.length)
    return iso


def _leftover(f: _Fits, n_units: int, g: _Geometry, floor: float) -> np.ndarray:
    """Per unit: the residual energy (LSB^2) its isolated fits leave on their support beyond the
    background's floor (median): the unit's own variability."""
    out = np.zeros(n_units)
    if f.unit.size == 0:
        return out
    a = np.floor(f.pos).astype(np.int64)
    iso = _isolated(f, g)
    r = f.resid.astype(np.float64)
    c = np.c_[np.zeros(r.shape[0]), np.cumsum(r * r, axis=1)].sum(axis=0)
    ok = iso & (a >= 0) & (a + g.length <= r.shape[1])
    w = np.zeros(a.size)
    w[ok] = c[a[ok] + g.length] - c[a[ok]]
    for u in range(n_units):
        sel = ok & (f.unit == u)
        if sel.sum() >= 3:
            out[u] = max(0.0, float(np.median(w[sel])) - floor)
    return out


def _cleaned(
    f: _Fits, templates: list[np.ndarray], g: _Geometry, sel: np.ndarray, margin: int = 0
) -> np.ndarray:
    """The fits `sel` as the residual plus that fit alone, shifted back by its sub-sample phase:
    each discharge as seen without the units that overlapped it, aligned to its template;
    (k, channels, L + 2 margin) in sigma units (fits too close to an end are left out)."""
    out = []
    lq, m = g.length, margin
    for i in sel:
        a = int(np.floor(f.pos[i]))
        ph = f.pos[i] - a
        if a - m < 0 or a + lq + m > f.resid.shape[1]:
            continue
        snip = f.resid[:, a - m : a + lq + m] / SIGMA_LSB
        snip[:, m : m + lq] += _frac_shift(templates[f.unit[i]], ph) * f.alpha[i]
        out.append(_frac_shift(snip, -ph))
    return np.array(out).reshape(len(out), g.channels, lq + 2 * m)


def _two_means(
    ext: np.ndarray, g: _Geometry, lab: np.ndarray, iters: int = 8
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Two templates for extended snippets (k, channels, L + 2 margin), k-means fashion with the
    matcher's measure: each member goes to the template (at its best shift within the margin)
    that removes more of its energy, each template is its members' mean at their shifts."""
    m, lq = g.margin, g.length
    shifts = np.zeros(len(ext), int)
    temps = [np.zeros((g.channels, lq)), np.zeros((g.channels, lq))]
    for _ in range(iters):
        for c in (0, 1):
            sel = np.flatnonzero(lab == c)
            if sel.size < 2:
                return lab, (temps[0], temps[1])
            temps[c] = _take(ext[sel], shifts[sel], g).mean(axis=0)
        gains = np.full((len(ext), 2), -np.inf)
        best_s = np.zeros((len(ext), 2), int)
        for c, t in enumerate(temps):
            e = max(_energy(t), 1e-12)
            for s_ in range(-m, m + 1):
                cc = (ext[:, :, m + s_ : m + s_ + lq] * t[None]).sum(axis=(1, 2))
                gn = np.where(cc > 0, cc * cc / e, 0.0)
                better = gn > gains[:, c]
                gains[better, c] = gn[better]
                best_s[better, c] = s_
        new = np.argmax(gains, axis=1)
        shifts = best_s[np.arange(len(ext)), new]
        if np.array_equal(new, lab):
            break
        lab = new
    for c in (0, 1):
        sel = np.flatnonzero(lab == c)
        if sel.size:
            temps[c] = _take(ext[sel], shifts[sel], g).mean(axis=0)
    return lab, (temps[0], temps[1])


# ---------------------------------------------------------------------------------------------
# discharge trains: one unit or two


def _near(a: np.ndarray, b: np.ndarray, w: float) -> float:
    """Fraction of the events of b within w of an event of a (both sorted)."""
    if a.size == 0 or b.size == 0:
        return 0.0
    k = np.searchsorted(a, b)
    d = np.minimum(
        np.abs(b - a[np.clip(k - 1, 0, a.size - 1)]), np.abs(b - a[np.clip(k, 0, a.size - 1)])
    )
    return float(np.mean(d < w))


def _relation(ta: np.ndarray, tb: np.ndarray, span: float, length: int) -> str:
    """How two discharge trains (samples, sorted) relate. "locked": the smaller one's
    discharges fall within a template length of the other's far more often than independent
    trains would (part of the same unit). Otherwise, with w half the median interval of the
    joined train, and E the number of the smaller train's discharges independent trains would
    put within w of the other's: "alternate" when fewer than 0.3 E are (one unit's discharges
    shared between two templates: a unit does not fire twice within its interval; or fewer
    than chance allows at 1 %), and
    "independent" when at least half of E are (two units); "unknown" when E < 5 or in
    between."""
    small, big = (ta, tb) if ta.size <= tb.size else (tb, ta)
    if small.size < 3 or span <= 0:
        return "unknown"
    rate = big.size / span
    f_lock = _near(big, small, length)
    e_lock = 1.0 - np.exp(-2.0 * length * rate)
    if f_lock > 0.5 and f_lock > 4.0 * e_lock:
        return "locked"
    union = np.sort(np.r_[ta, tb])
    w = 0.5 * float(np.median(np.diff(union)))
    expected = small.size * (1.0 - np.exp(-2.0 * w * rate))
    if expected < 5.0:
        return "unknown"
    seen = small.size * _near(big, small, w)
    # far fewer coincidences than independent trains give: below 0.3 of them, or fewer than
    # chance allows (Poisson lower tail < 1 %; a few discharges of other units fitted into
    # either train must not hide that they alternate)
    if seen < 0.3 * expected or _poisson_cdf(int(round(seen)), expected) < 0.01:
        return "alternate"
    return "independent" if seen >= 0.5 * expected else "unknown"


def _poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam)."""
    term = total = float(np.exp(-lam))
    for i in range(1, k + 1):
        term *= lam / i
        total += term
    return total


def _short_isi(t: np.ndarray) -> float:
    """Share of a train's inter-discharge intervals shorter than half their median: about
    the share of false discharges in it (a motor unit's intervals vary by 10-30 %, so it has
    almost none; a Poisson train has 29 %)."""
    if t.size < 4:
        return 0.0
    isi = np.diff(t)
    return float(np.mean(isi < 0.5 * np.median(isi)))


def _energy(t: np.ndarray) -> float:
    return float((t * t).sum())


def _split_mixtures(
    f: _Fits,
    templates: list[np.ndarray],
    g: _Geometry,
    acf: np.ndarray,
    z: float,
    mc: int,
    span: float,
) -> list[np.ndarray]:
    """Units whose cleaned discharges fall into two waveforms that fire independently are two
    units (each half's mean becomes a template), when the difference of the two waveforms
    reaches half the noise test on one discharge (a matched filter SNR of z/2: two templates
    closer than that would only trade discharges at random)."""
    out: list[np.ndarray] = []
    for u, t in enumerate(templates):
        sel = np.flatnonzero(f.unit == u)
        if sel.size < 2 * mc:
            out.append(t)
            continue
        a = np.floor(f.pos[sel]).astype(np.int64)
        sel = sel[(a - g.margin >= 0) & (a + g.length + g.margin <= f.resid.shape[1])]
        x = _cleaned(f, templates, g, sel, margin=g.margin)
        if len(x) < 2 * mc:
            out.append(t)
            continue
        m = g.margin
        lab = np.zeros(len(x), int)
        for h_i, h in enumerate(_split2(x[:, :, m : m + g.length])):
            lab[h] = h_i
        lab, (ta, tb) = _two_means(x, g, lab)
        halves = [np.flatnonzero(lab == 0), np.flatnonzero(lab == 1)]
        if min(h.size for h in halves) < mc:
            out.append(t)
            continue
        dlt = (ta - tb) * SIGMA_LSB
        d2 = _energy(dlt)
        detectable = d2 * d2 >= 0.25 * z * z * _quad_noise(dlt, acf)
        trains = [np.sort(f.pos[sel][h]) for h in halves]
        # a mixture's halves are each a better motor-unit train than the whole
        whole = np.sort(f.pos[sel])
        q0 = _short_isi(whole)
        margin = max(0.05, 2.0 * np.sqrt(q0 * (1.0 - q0) / max(whole.size - 1, 1)))
        better = max(_short_isi(trains[0]), _short_isi(trains[1])) < q0 - margin
        if (
            detectable
            and better
            and _relation(trains[0], trains[1], span, g.length) == "independent"
        ):
            out.extend([ta, tb])
        else:
            out.append(t)
    return out


def _resolve_by_trains(
    f: _Fits, templates: list[np.ndarray], g: _Geometry, mc: int, span: float
) -> list[np.ndarray]:
    """Drop units fitted fewer than mc times; a unit time-locked to a larger one is part of it
    (dropped); two similar units whose discharges alternate are one (the one fitted more often
    stays, its next refit takes the other's discharges)."""
    counts = np.bincount(f.unit, minlength=len(templates))
    keep = [u for u in range(len(templates)) if counts[u] >= mc]
    trains = {u: np.sort(f.pos[f.unit == u]) for u in keep}
    m = max(1, g.margin)
    changed = True
    while changed:
        changed = False
        for i in keep:
            for j in keep:
                if j <= i:
                    continue
                rel = _relation(trains[i], trains[j], span, g.length)
                if rel not in ("alternate", "locked"):
                    continue
                a, b = templates[i], templates[j]
                if rel == "alternate":
                    _, d = _best_shift(a, b, m)
                    if d > min(_energy(a), _energy(b)) / 3.0:
                        continue
                    drop = j if counts[i] >= counts[j] else i
                else:  # locked: the smaller waveform is part of the larger unit
                    drop = j if _energy(a) >= _energy(b) else i
                keep.remove(drop)
                changed = True
                break
            if changed:
                break
    return [templates[u] for u in keep]


# two templates whose difference one discharge shows below INDISTINCT * z (the fit's noise test)
# are one unit when their trains coincide less than chance allows at P_ALTERNATE (0 turns off)
INDISTINCT = 1.0
P_ALTERNATE = 0.05


def _diff_snr(a: np.ndarray, b: np.ndarray, m: int, acf: np.ndarray) -> float:
    """Matched-filter SNR (background noise) of the difference of two templates (sigma units)
    at their best shift: how surely one discharge tells which of the two it is."""
    s, _ = _best_shift(a, b, m)
    dl = (a - _frac_shift(b, s))[:, m : a.shape[-1] - m] * SIGMA_LSB
    return _energy(dl) / float(np.sqrt(_quad_noise(dl, acf)))


def _coincidence_p(ta: np.ndarray, tb: np.ndarray, span: float) -> float:
    """P(as few coincidences or fewer) for independent trains: the smaller train's discharges
    within w (half the median interval of the joined train) of the other's, against the
    Poisson count independent trains give; 1.0 when fewer than 5 are expected."""
    small, big = (ta, tb) if ta.size <= tb.size else (tb, ta)
    if small.size < 3 or span <= 0:
        return 1.0
    w = 0.5 * float(np.median(np.diff(np.sort(np.r_[ta, tb]))))
    expected = small.size * (1.0 - np.exp(-2.0 * w * big.size / span))
    if expected < 5.0:
        return 1.0
    return _poisson_cdf(int(round(small.size * _near(big, small, w))), expected)


def _merge_indistinct(
    f: _Fits, templates: list[np.ndarray], g: _Geometry, acf: np.ndarray, z: float, span: float
) -> list[np.ndarray]:
    """Two units are one when one discharge cannot tell their templates apart (the difference
    fails the noise test, SNR < INDISTINCT * z) and their trains coincide less often than
    independent trains would (Poisson lower tail < P_ALTERNATE): one unit's discharges shared
    by two templates, each share also holding some discharges of other units (which is why
    the stricter "alternate" of _relation misses them). The one fitted more often stays; the
    next peel gives it the other's discharges. Similar templates of units that fire
    independently stay apart."""
    if INDISTINCT <= 0 or len(templates) < 2:
        return templates
    counts = np.bincount(f.unit, minlength=len(templates))
    trains = {u: np.sort(f.pos[f.unit == u]) for u in range(len(templates))}
    m = max(1, g.margin)
    keep = list(range(len(templates)))
    while len(keep) > 1:
        best = None
        for ii, i in enumerate(keep):
            for j in keep[ii + 1 :]:
                v = _diff_snr(templates[i], templates[j], m, acf)
                if v >= INDISTINCT * z:
                    continue
                pv = _coincidence_p(trains[i], trains[j], span)
                if pv < P_ALTERNATE and (best is None or pv < best[0]):
                    best = (pv, i, j)
        if best is None:
            break
        _, i, j = best
        keep.remove(j if counts[i] >= counts[j] else i)
    return [templates[u] for u in keep]


def _refit(f: _Fits, templates: list[np.ndarray], g: _Geometry) -> list[np.ndarray]:
    """Each unit's template again as the mean of its cleaned discharges."""
    out = []
    for u, t in enumerate(templates):
        x = _cleaned(f, templates, g, np.flatnonzero(f.unit == u))
        out.append(x.mean(axis=0) if len(x) >= 3 else t)
    return out


def _residual_acf(resid: np.ndarray, acf: np.ndarray, k: float, lags: int) -> np.ndarray:
    """The background's autocovariance again, from what the fits leave: the units' own
    activity no longer counts as noise (where units fire most of the time, as surface MUAPs
    do at any force, quiet stretches of the recording are rare and still hold their tails);
    samples where the residual still reaches k sigma on some channel (unexplained
    potentials) are left out."""
    sd = np.sqrt(np.maximum(acf[:, :1], 1.0))
    quiet = (np.abs(resid) < k * sd).all(axis=0)
    if quiet.sum() < 10 * lags:
        return acf
    return _noise_acf(resid.astype(np.float64), quiet, lags)


def _residual_peaks(rz: np.ndarray, k: float, g: _Geometry) -> np.ndarray:
    """Extrema of |rz| >= k (any channel) that stand alone (no other crossing within a template
    length)."""
    above = (np.abs(rz) >= k).any(axis=0)
    if not above.any():
        return np.zeros(0, np.int64)
    mag = np.abs(rz).max(axis=0)
    d = np.diff(np.r_[0, above.astype(np.int8), 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    peaks = np.array(
        [a + int(np.argmax(mag[a:b])) for a, b in zip(starts, ends, strict=True)], np.int64
    )
    if peaks.size < 2:
        return peaks
    dd = np.diff(peaks)
    ok = (np.r_[np.inf, dd] > g.length) & (np.r_[dd, np.inf] > g.length)
    return peaks[ok]


# ---------------------------------------------------------------------------------------------
# public entry point


def _detections(
    signal: Any, fs: float, p: Preset, detection: Any, detect_kw: dict[str, Any]
) -> list[SpikeResult]:
    """One detection (with the filtered signal) per channel."""
    x = np.asarray(signal)
    if detection is not None:
        dets = list(detection) if isinstance(detection, list | tuple) else [detection]
        if all(d.filtered is not None for d in dets):
            return dets
    if x.ndim == 1:
        return [detect_spikes(x, fs, p, keep_filtered=True, **detect_kw)]
    if x.ndim != 2 or x.shape[0] < 1:
        raise UsageError(f"signal must be (samples,) or (channels, samples), got {x.shape}")
    return [detect_spikes(x[c], fs, p, keep_filtered=True, **detect_kw) for c in range(x.shape[0])]


@dataclass
class _Setup:
    dets: list[SpikeResult]
    preset: Preset
    fs: float
    sigma: np.ndarray  # per channel, input unit
    g: _Geometry
    zf: np.ndarray  # filtered signal in sigmas (channels, n)
    q: np.ndarray  # the same as int16, sigma = SIGMA_LSB
    acf: np.ndarray  # background autocovariance from the quiet stretches (LSB^2)
    centres: np.ndarray  # candidate samples, one per event across channels


def _setup(signal: Any, fs: float, p: Preset, detection: Any, detect_kw: dict[str, Any]) -> _Setup:
    """Detections, the filtered signal scaled to sigma units, the geometry and the first noise
    model: what every decomposition of this signal starts from."""
    dets = _detections(signal, fs, p, detection, detect_kw)
    n_ch = len(dets)
    if n_ch > MATCH_MAX_CH:
        raise UsageError(f"at most {MATCH_MAX_CH} channels can be decomposed together")
    if len({d.filtered.size for d in dets}) != 1:  # type: ignore[union-attr]
        raise UsageError("every channel needs the same number of samples")
    p = dets[0].preset
    fs = dets[0].fs
    y = np.array([np.asarray(d.filtered, dtype=np.float64) for d in dets])
    sigma = np.array([float(np.median(np.abs(r))) / 0.6745 if r.size else 0.0 for r in y])
    for c in range(n_ch):
        if not np.isfinite(sigma[c]) or sigma[c] <= 0:
            sigma[c] = dets[c].noise_sigma if dets[c].noise_sigma > 0 else 1.0
    ms = fs / 1000.0
    pre = max(2, int(round(p.pre_ms * ms)))
    post = max(2, int(round(p.post_ms * ms)))
    while n_ch * (pre + post + 1) > MATCH_MAX_SPAN or pre + post + 1 > MATCH_MAX_LEN:
        pre, post = pre * 3 // 4, post * 3 // 4
    margin = max(1, int(round(p.align_ms * ms)))
    g = _Geometry(pre, post, margin, max(3, int(round((pre + post + 1) / 8))), n_ch)
    k = p.k
    zf = y / sigma[:, None]
    q = np.clip(np.round(zf * SIGMA_LSB), -32767, 32767).astype(np.int16)
    n = q.shape[1]

    # candidates: every channel's detections, one per event (the largest within a template)
    cen_all = np.concatenate([d.events["core_index"].astype(np.int64) for d in dets])
    mag = np.concatenate([np.abs(d.events["amplitude"]) / sigma[c] for c, d in enumerate(dets)])
    order = np.argsort(cen_all, kind="stable")
    cen_all, mag = cen_all[order], mag[order]
    centres = _one_per_event(cen_all, mag, g.length // 2) if n_ch > 1 else cen_all
    quiet = np.ones(n, bool)
    for c in centres:
        quiet[max(0, c - g.length) : c + g.length] = False
    quiet &= (np.abs(zf) < k).all(axis=0)
    acf = _noise_acf(q.astype(np.float64), quiet, g.length)
    return _Setup(dets, p, fs, sigma, g, zf, q, acf, centres)


def decompose(
    signal: Any,
    fs: float,
    preset: str | Preset = "needle",
    *,
    detection: Any = None,
    max_units: int = 20,
    min_count: int | None = None,
    z: float = 4.0,
    alpha: tuple[float, float] = (0.6, 1.6),
    frac: float = 0.25,
    gap_ms: float = 2.5,
    reference: str | None = None,
    rounds: int = 3,
    learn_k: float | None = None,
    keep_residual: bool = False,
    pair_ms: float | None = None,
    **detect_kw: Any,
) -> Decomposition:
    """Decompose one channel, or several channels of one electrode array together (signal
    (channels, samples)), into motor-unit discharge trains (see the module docstring).

    detection: a `detect_spikes(..., keep_filtered=True)` result (a list of them, one per
    channel, for several) to reuse; otherwise detection runs here with `preset` and
    `detect_kw`. min_count: least discharges for a unit (default 8). z: noise test of a fit
    (its energy reduction must exceed z^2 times what background noise gives that template);
    alpha: accepted amplitude range of a fit relative to its template; frac: share of the
    energy above noise a fit must explain where it lands; gap_ms: a unit's least interval
    between discharges; rounds: learning rounds (1 = templates from the detections only);
    reference: "wideband" or "band" (default by preset: needle wideband, surface band);
    pair_ms: reach of the pair search (default by preset: needle 0.4 ms, surface 2 ms; 0 off).
    """
    p = get_preset(preset)
    if reference is None:
        reference = _REFERENCE.get(p.name, "wideband")
    if reference not in ("wideband", "band"):
        raise UsageError(f'reference must be "wideband" or "band", got {reference!r}')
    if not (1 <= max_units <= MATCH_MAX_ROWS):
        raise UsageError(f"max_units must be 1..{MATCH_MAX_ROWS}")
    if not (0 < alpha[0] <= 1.0 <= alpha[1] < 4.0):
        raise UsageError(f"alpha range {alpha!r} must contain 1 and lie in (0, 4)")
    if not (0 < z <= 20) or not (0 <= frac <= 1) or not (0 <= gap_ms <= 100):
        raise UsageError("z must be in (0, 20], frac in [0, 1], gap_ms in [0, 100]")
    if not isinstance(rounds, int) or not 1 <= rounds <= 6:
        raise UsageError("rounds must be 1..6")
    if min_count is not None and min_count < 2:
        raise UsageError("min_count must be >= 2")
    if pair_ms is not None and not (0 <= pair_ms <= 20):
        raise UsageError("pair_ms must be in [0, 20] ms")
    st = _setup(signal, fs, p, detection, detect_kw)
    dets, sigma, g, zf, q, acf, centres = st.dets, st.sigma, st.g, st.zf, st.q, st.acf, st.centres
    p, fs, k, n, ms = st.preset, st.fs, st.preset.k, st.q.shape[1], st.fs / 1000.0
    mc = 8 if min_count is None else int(min_count)
    gap = int(max(round(gap_ms * ms), (g.pre + g.post + 1) // 2))
    span = float(n)

    if learn_k is None or learn_k >= k:
        dd = np.diff(centres)
        iso_m = (np.r_[np.inf, dd] > g.length) & (np.r_[dd, np.inf] > g.length)
        iso = centres[iso_m] if centres.size else centres
    else:  # candidates below the detection threshold too: units whose MUAPs barely reach it
        iso = _residual_peaks(zf, learn_k, g)
    ext, _ = _cut(zf, iso, g)
    templates = [u.template for u in _learn(ext, g, k, max_units, mc)] if len(ext) else []
    pair = int(round((_PAIR_MS.get(p.name, 0.0) if pair_ms is None else pair_ms) * ms))
    opts: dict[str, Any] = {"z": z, "alpha": alpha, "frac": frac, "gap": gap, "seg_k": k}
    floor = g.length * float(acf[:, 0].sum())
    f = _peel(q, templates, g, fs, acf, **opts)
    for _ in range(rounds - 1):
        if not templates:
            break
        acf = _residual_acf(f.resid, acf, k, g.length)
        floor = g.length * float(acf[:, 0].sum())
        templates = _refit(f, templates, g)
        templates = _split_mixtures(f, templates, g, acf, z, mc, span)
        # new units in what the fits leave
        rz = f.resid / SIGMA_LSB
        k_new = k - 1.0 if learn_k is None else min(k, learn_k)
        cand = _residual_peaks(rz, k_new, g)
        ext2, _ = _cut(rz, cand, g)
        n_old = len(templates)
        if len(ext2) >= mc:
            m = max(1, g.margin)
            for nu in _learn(ext2, g, k, max_units, mc):
                if len(templates) >= max_units:
                    break
                if not any(_same_unit(nu.template, t, m) for t in templates):
                    templates.append(nu.template)
        f = _peel(q, templates, g, fs, acf, **opts)
        if len(templates) > n_old:  # a new unit must fire like a motor unit
            keep = list(range(n_old)) + [
                u
                for u in range(n_old, len(templates))
                if _short_isi(np.sort(f.pos[f.unit == u])) <= NEW_UNIT_SHORT_ISI
            ]
            if len(keep) < len(templates):
                templates = [templates[u] for u in keep]
                f = _peel(q, templates, g, fs, acf, **opts)
        resolved = _resolve_by_trains(f, templates, g, mc, span)
        if len(resolved) < len(templates):
            templates = resolved
            f = _peel(q, templates, g, fs, acf, **opts)
    # final peel: each unit's variability declared, near-coincident pairs resolved
    for it in range(4):
        if not templates:
            break
        lv = _leftover(f, len(templates), g, floor)
        f = _peel(q, templates, g, fs, acf, **opts, pair=pair, leftover=lv)
        f = _polish(f, templates, g, fs, alpha)
        if it == 3:
            break
        resolved = _resolve_by_trains(f, templates, g, mc, span)
        if len(resolved) == len(templates):
            resolved = _merge_indistinct(f, templates, g, acf, z, span)
        if len(resolved) == len(templates):
            break
        templates = resolved
        f = _peel(q, templates, g, fs, acf, **opts)
    return _result(dets, f, templates, g, sigma, acf, z, k, reference, keep_residual, centres)


def oracle_peel(
    signal: Any,
    fs: float,
    preset: str | Preset,
    templates: list[np.ndarray],
    offsets: list[int],
    *,
    detection: Any = None,
    times: list[np.ndarray] | None = None,
    z: float = 4.0,
    alpha: tuple[float, float] = (0.6, 1.6),
    frac: float = 0.25,
    gap_ms: float = 2.5,
    pair_ms: float | None = None,
) -> list[np.ndarray]:
    """Bound for the benchmarks (not an analysis): decomposition with known templates.

    templates: per unit its true MUAP in the detection band, (channels, length) in the input
    unit, `offsets[u]` the index of the discharge in it. Without `times`: the final peel of
    `decompose` (noise model from the residual, each unit's variability, pair search) with
    these templates instead of learnt ones. With `times` (per unit, the true discharge samples):
    only the timing step, every other discharge subtracted at its true time and each one's
    least-squares shift searched within the alignment margin at the peel's sub-sample phases.
    Returns per unit the estimated discharge samples (float)."""
    p = get_preset(preset)
    st = _setup(signal, fs, p, detection, {})
    g, sigma, n = st.g, st.sigma, st.q.shape[1]
    n_ch = len(st.dets)
    full, rows, starts = [], [], []
    for t, off in zip(templates, offsets, strict=True):
        tz = np.asarray(t, np.float64).reshape(n_ch, -1) / sigma[:, None]
        e = _energy_peak(tz[None], g.energy_w)[0]
        s0 = int(e) - g.pre
        pad = np.zeros((n_ch, tz.shape[1] + 2 * g.length + 2 * g.margin))
        o = g.length + g.margin
        pad[:, o : o + tz.shape[1]] = tz
        rows.append(pad[:, o + s0 : o + s0 + g.length])
        full.append(pad[:, o + s0 - g.margin : o + s0 + g.length + g.margin])
        starts.append(s0 - int(off))  # template start relative to the discharge
    if times is None:
        ms = st.fs / 1000.0
        gap = int(max(round(gap_ms * ms), g.length // 2))
        opts: dict[str, Any] = {"z": z, "alpha": alpha, "frac": frac, "gap": gap, "seg_k": p.k}
        pair = int(round((_PAIR_MS.get(p.name, 0.0) if pair_ms is None else pair_ms) * ms))
        f = _peel(st.q, rows, g, st.fs, st.acf, **opts)
        acf = _residual_acf(f.resid, st.acf, p.k, g.length)
        f = _peel(st.q, rows, g, st.fs, acf, **opts)
        lv = _leftover(f, len(rows), g, g.length * float(acf[:, 0].sum()))
        f = _peel(st.q, rows, g, st.fs, acf, **opts, pair=pair, leftover=lv)
        f = _polish(f, rows, g, st.fs, alpha)
        return [f.pos[f.unit == u] - starts[u] for u in range(len(rows))]
    # timing only: the residual of every true discharge at its true time
    r = st.zf.copy()
    m = g.margin
    for u, tr in enumerate(times):
        for a in np.asarray(tr, np.int64) + starts[u] - m:
            lo, hi = max(0, a), min(n, a + full[u].shape[1])
            if hi > lo:
                r[:, lo:hi] -= full[u][:, lo - a : hi - a]
    ph = _phases(st.fs, 1)
    grid = np.arange(-m * ph, m * ph + 1) / ph
    out = []
    for u, tr in enumerate(times):
        tr = np.asarray(tr, np.int64)
        a = tr + starts[u] - m
        ok = (a >= 0) & (a + full[u].shape[1] <= n)
        idx = a[ok, None] + np.arange(full[u].shape[1])[None, :]
        w = np.transpose(r[:, idx], (1, 0, 2)) + full[u][None]
        shifted = np.array([_frac_shift(full[u], d) for d in grid])
        dot = np.einsum("kcl,dcl->kd", w, shifted)
        en = np.maximum((shifted * shifted).sum(axis=(1, 2)), 1e-12)
        best = np.argmax(np.where(dot > 0, dot * dot / en[None, :], -np.inf), axis=1)
        est = np.full(tr.size, np.nan)
        est[ok] = tr[ok] + grid[best]
        out.append(est[np.isfinite(est)])
    return out


def _one_per_event(cen: np.ndarray, mag: np.ndarray, w: int) -> np.ndarray:
    """Sorted candidate samples merged across channels: within w samples only the largest
    (in sigmas) stays."""
    if cen.size == 0:
        return cen
    keep = np.ones(cen.size, bool)
    i = 0
    while i < cen.size:
        j = i
        while j + 1 < cen.size and cen[j + 1] - cen[i] <= w:
            j += 1
        if j > i:
            best = i + int(np.argmax(mag[i : j + 1]))
            keep[i : j + 1] = False
            keep[best] = True
        i = j + 1
    return np.unique(cen[keep])


def _result(
    dets: list[SpikeResult],
    f: _Fits,
    templates: list[np.ndarray],
    g: _Geometry,
    sigma: np.ndarray,
    acf: np.ndarray,
    z: float,
    k: float,
    reference: str,
    keep_residual: bool,
    centres: np.ndarray,
) -> Decomposition:
    n_ch = len(dets)
    fs = dets[0].fs
    n_u = len(templates)
    tm = np.array(templates).reshape(n_u, n_ch, g.length)
    unit, pos, alp, resid = f.unit, f.pos, f.alpha, f.resid
    # per unit and channel: the template's extremum in the detection band
    band_ref = np.zeros((n_u, n_ch))
    for u in range(n_u):
        for c in range(n_ch):
            i = int(np.argmax(np.abs(tm[u, c])))
            if 0 < i < g.length - 1:
                band_ref[u, c] = i + float(subsample_offset(tm[u, c, i - 1 : i + 2][None, :])[0])
            else:
                band_ref[u, c] = float(i)
    ref = band_ref.copy()
    if reference == "wideband" and n_u:
        for c in range(n_ch):
            if dets[c].signal is not None:
                ref[:, c] = _wideband_ref(dets[c], unit, pos, band_ref[:, c], g)
    # the unit's reference channel: where its template is largest (in sigmas)
    p2p = tm.max(axis=2) - tm.min(axis=2) if n_u else np.zeros((0, n_ch))
    main = np.argmax(p2p, axis=1) if n_u else np.zeros(0, int)
    visible = np.zeros((n_u, n_ch), bool)
    for u in range(n_u):
        for c in range(n_ch):
            t = tm[u, c][None, :] * SIGMA_LSB
            e = _energy(t)
            visible[u, c] = e > 0 and e * e >= z * z * _quad_noise(t, acf[c : c + 1])
    uref = ref[np.arange(n_u), main] if n_u else np.zeros(0)
    t_idx = pos + uref[unit] if unit.size else np.zeros(0)
    br = np.clip(np.round(band_ref).astype(int), 0, g.length - 1)
    peak_val = (
        tm[np.arange(n_u), main, br[np.arange(n_u), main]] * sigma[main] if n_u else np.zeros(0)
    )
    fits = np.zeros(unit.size, DECOMP_EVENTS_DTYPE)
    fits["index"] = t_idx
    fits["t"] = t_idx / fs
    fits["unit"] = unit
    fits["alpha"] = alp
    fits["amplitude"] = alp * (peak_val[unit] if unit.size else 0.0)
    fits["channel"] = main[unit] if unit.size else 0

    # detections no fit explains: the residual still reaches the threshold at their extremum
    parts = [fits]
    n_un = 0
    for c, d in enumerate(dets):
        cc = d.events["core_index"].astype(np.int64)
        left = np.zeros(cc.size, bool)
        if cc.size:
            nb = np.clip(cc[:, None] + np.arange(-1, 2)[None, :], 0, resid.shape[1] - 1)
            left = np.abs(resid[c][nb]).max(axis=1) >= k * SIGMA_LSB
        un = np.zeros(int(left.sum()), DECOMP_EVENTS_DTYPE)
        un["t"] = d.events["t"][left]
        un["index"] = d.events["t"][left] * fs
        un["unit"] = -1
        un["amplitude"] = d.events["amplitude"][left]
        un["alpha"] = np.nan
        un["channel"] = c
        parts.append(un)
        n_un += int(left.sum())
    events = np.concatenate(parts)
    events = events[np.argsort(events["t"], kind="stable")]
    rs = np.median(np.abs(resid.astype(np.float64)), axis=1) / 0.6745 / SIGMA_LSB * sigma
    counters = {
        "detections": int(sum(len(d.events) for d in dets)),
        "candidates": int(centres.size),
        "fits": int(unit.size),
        "pair_fits": int(f.pair.sum()),
        "unassigned": n_un,
        "segments_at_fit_limit": int(f.full),
    }
    single = n_ch == 1
    return Decomposition(
        fs=fs,
        preset=dets[0].preset,
        templates=(tm[:, 0] * sigma[0]) if single else tm * sigma[None, :, None],
        pre=g.pre,
        reference=uref,
        events=events,
        noise_sigma=float(sigma[0]) if single else sigma,
        residual_sigma=float(rs[0]) if single else rs,
        detection=dets[0] if single else dets,
        counters=counters,
        residual=(
            (resid.astype(np.float64) / SIGMA_LSB * sigma[:, None])[0 if single else slice(None)]
            if keep_residual
            else None
        ),
        channel_reference=None if single else ref,
        visible=None if single else visible,
        unit_channel=None if single else main,
    )


def _wideband_ref(
    det: SpikeResult, unit: np.ndarray, pos: np.ndarray, band_ref: np.ndarray, g: _Geometry
) -> np.ndarray:
    """Per unit: the band reference moved to the extremum of the unit's MUAP in the recorded
    band (zero-phase high-pass at a tenth of the preset's corner), within the alignment
    margin: on the phase that is the largest in most of its single discharges (a vote over
    all of them settles which of two phases of similar size is the peak, as one noisy
    discharge cannot), at the averaged MUAP's extremum on that phase."""
    w = recorded_band(det)
    m = g.margin
    ref = band_ref.copy()
    for u in range(band_ref.size):
        t = pos[unit == u] + band_ref[u]
        c = np.round(t).astype(np.int64)
        ok = (c - m - 1 >= 0) & (c + m + 2 <= w.size)
        if ok.sum() < 3:
            continue
        frac = t[ok] - c[ok]
        seg = w[c[ok, None] + np.arange(-m - 1, m + 2)[None, :]]
        mean = seg.mean(axis=0)
        # the phase that is largest in most single discharges (+-1 sample), then the mean's
        # extremum on that phase: jitter blurs the mean's sharp phases, so where phases of
        # similar size compete, the mean alone can peak on another phase than the MUAP
        ik = np.argmax(np.abs(seg[:, 1:-1]), axis=1) + 1
        votes = np.convolve(np.bincount(ik, minlength=seg.shape[1]), np.ones(3), mode="same")
        cc = int(np.argmax(votes))
        lo_i, hi_i = max(1, cc - 2), min(seg.shape[1] - 1, cc + 3)
        i = lo_i + int(np.argmax(np.abs(mean[lo_i:hi_i])))
        i = min(max(i, 1), seg.shape[1] - 2)
        d = float(subsample_offset(mean[i - 1 : i + 2][None, :])[0])
        ref[u] = band_ref[u] + (i - 1 - m) + d - float(frac.mean())
    return ref
