"""Motor-unit decomposition of one channel: templates learnt from isolated MUAPs, then template
matching with iterative subtraction ("peel-off") over the whole filtered signal, so that
superimposed discharges of several units are resolved.

    from muwatch.analysis import decompose
    dec = decompose(signal, fs, preset="needle")
    dec.trains[u]          # discharge times (s) of unit u, at the unit's reference point
    dec.events             # every discharge and every unexplained detection (unit -1), time order

The method follows the template-matching decompositions of needle EMG (McGill et al., J
Neurosci Methods 2005;149:121, EMGLAB; Stashuk, J Electromyogr Kinesiol 2001;11:151, DQEMG;
the peel-off idea of Holobar & Zazula and of spike sorters' matching pursuit):
1. Detection (`detect_spikes`, zero-phase band-pass, k robust sigmas) gives candidate MUAPs.
   Isolated ones (no other detection within a template length) are aligned to a point that
   does not depend on which of two phases of similar size noise makes the larger one (the peak
   of the short-time energy), clustered (PCA + Ward linkage, deliberately over-split), and
   clusters whose templates match after the best shift are merged; a unit needs min_count
   members and a consistent waveform.
2. The fixed-point core (`mw_match`) peels the templates off the filtered signal, segment by
   segment (stretches where it leaves the noise), at sub-sample phases: the fit of largest
   energy reduction first, accepted only when its amplitude is plausible, it explains a share
   of the energy present and it passes a noise test tied to sigma (see mw_match.h).
3. A second round re-learns templates from the fitted discharges (each as residual + its own
   fit, i.e. cleaned of overlapping units), looks for units in what the first round left
   unexplained, and peels the signal again.
4. Every discharge of a unit is reported at one reference point of that unit: the main
   extremum of the unit's averaged MUAP in the recorded band (reference="wideband", a
   zero-phase high-pass at a tenth of the preset's corner only), or of its template in the
   detection band (reference="band"). Detections that no fit explains stay in the output with
   unit -1 (`unassigned`), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps
from scipy.cluster import hierarchy

from muwatch.analysis._corewrap import (
    MATCH_ALPHA_ONE,
    MATCH_MAX_LEN,
    MATCH_MAX_REACH,
    MATCH_MAX_ROWS,
    Matcher,
)
from muwatch.analysis.detect import Preset, SpikeResult, detect_spikes, get_preset, subsample_offset
from muwatch.errors import UsageError

#: residual scale handed to the core: the robust sigma is 64 LSB (int16 reaches 512 sigma)
SIGMA_LSB = 64.0
MAX_SEGMENT = 8192
_PAIR_MS = {"needle": 0.0, "surface": 0.0}  # pair search off until templates are pure

DECOMP_EVENTS_DTYPE = np.dtype(
    [
        ("t", "<f8"),  # seconds, at the unit's reference point (detections: their extremum)
        ("index", "<f8"),  # the same in samples (sub-sample)
        ("unit", "<i4"),  # -1: a detection no template explains
        ("amplitude", "<f8"),  # fitted amplitude x template extremum (input unit)
        ("alpha", "<f4"),  # fitted amplitude relative to the template (NaN for detections)
    ]
)


@dataclass
class Decomposition:
    """Units, templates and discharges of one channel; amplitudes in the input's unit."""

    fs: float
    preset: Preset
    templates: np.ndarray  # (n_units, L) in the detection band, input unit
    pre: int  # template samples before its alignment point
    reference: np.ndarray  # per unit: reference point as a (sub-sample) offset in the template
    events: np.ndarray  # DECOMP_EVENTS_DTYPE, time order: fits and unassigned detections
    noise_sigma: float  # robust sigma of the filtered signal (input unit)
    residual_sigma: float  # robust sigma of what the fits leave (input unit)
    detection: SpikeResult
    counters: dict[str, int] = field(default_factory=dict)
    residual: np.ndarray | None = None  # filtered signal minus every fit, if asked for

    @property
    def n_units(self) -> int:
        return int(self.templates.shape[0])

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


# ---------------------------------------------------------------------------------------------
# helpers


def _frac_shift(t: np.ndarray, d: float) -> np.ndarray:
    """t delayed by d samples (band-limited interpolation on a zero-padded copy)."""
    if d == 0.0:
        return t.copy()
    n = t.size
    pad = np.zeros(3 * n)
    pad[n : 2 * n] = t
    f = np.fft.rfftfreq(pad.size)
    out = np.fft.irfft(np.fft.rfft(pad) * np.exp(-2j * np.pi * f * d), pad.size)
    return out[n : 2 * n]


def _energy_peak(x: np.ndarray, w: int) -> np.ndarray:
    """Index of the short-time energy maximum of each row (a w-sample box): between two phases
    of similar size rather than on whichever noise makes the larger."""
    k = np.ones(w) / w
    e = np.apply_along_axis(lambda r: np.convolve(r * r, k, mode="same"), 1, x)
    return np.argmax(e, axis=1)


def _best_shift(a: np.ndarray, b: np.ndarray, m: int) -> tuple[float, float]:
    """Shift s (samples, to a quarter sample) in -m..m minimising ||a - b delayed by s||^2
    over the central part; (s, that squared distance)."""
    n = a.size
    core = a[m : n - m]
    best, bs = np.inf, 0
    for s in range(-m, m + 1):
        d = core - b[m - s : n - m - s]
        v = float(d @ d)
        if v < best:
            best, bs = v, s
    out = (float(bs), best)
    for f in (-0.5, -0.25, 0.25, 0.5):
        bb = _frac_shift(b, bs + f)
        d = core - bb[m : n - m]
        v = float(d @ d)
        if v < out[1]:
            out = (bs + f, v)
    return out


def _noise_acf(q: np.ndarray, quiet: np.ndarray, lags: int) -> np.ndarray:
    """Autocovariance of the background at lags 0..lags-1 from the quiet samples only."""
    x = np.where(quiet, q, 0.0)
    m = quiet.astype(np.float64)
    n = 1 << int(np.ceil(np.log2(x.size + lags)))
    fx, fm = np.fft.rfft(x, n), np.fft.rfft(m, n)
    num = np.fft.irfft(fx * np.conj(fx), n)[:lags]
    den = np.fft.irfft(fm * np.conj(fm), n)[:lags]
    acf = num / np.maximum(den, 1.0)
    if not np.isfinite(acf[0]) or acf[0] <= 0:
        acf = np.zeros(lags)
        acf[0] = SIGMA_LSB**2
    return acf


def _quad_noise(t: np.ndarray, acf: np.ndarray) -> float:
    """t' R t for the Toeplitz covariance R of the background."""
    a = np.correlate(t, t, mode="full")  # lags -(L-1)..L-1
    mid = t.size - 1
    r = np.zeros(a.size)
    k = min(acf.size, t.size)
    r[mid : mid + k] = acf[:k]
    r[mid - k + 1 : mid + 1] = acf[:k][::-1]
    return float(max(a @ r, 1.0))


def _segments(active: np.ndarray, pad: int, length: int) -> np.ndarray:
    """[start, end) runs of `active` dilated by pad, at least `length` long, cut at MAX_SEGMENT."""
    n = active.size
    if not active.any():
        return np.zeros((0, 2), np.int64)
    c = np.convolve(active.astype(np.int8), np.ones(2 * pad + 1, np.int8), mode="same") > 0
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

    @property
    def length(self) -> int:
        return self.pre + self.post + 1


def _cut(z: np.ndarray, centres: np.ndarray, g: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Snippets of z around centres with the alignment margin on both sides; (snips, ok)."""
    lo = centres - g.pre - g.margin
    hi = centres + g.post + g.margin + 1
    ok = (lo >= 0) & (hi <= z.size)
    idx = lo[ok, None] + np.arange(g.length + 2 * g.margin)[None, :]
    return z[idx], ok


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
        seg = ext[:, m + s : m + s + g.length]
        d = ((seg - ref[None, :]) ** 2).sum(axis=1)
        better = d < best
        best[better] = d[better]
        out[better] = s
    return out


def _take(ext: np.ndarray, shifts: np.ndarray, g: _Geometry) -> np.ndarray:
    cols = g.margin + shifts[:, None] + np.arange(g.length)[None, :]
    return np.take_along_axis(ext, cols, axis=1)


def _consensus(ext: np.ndarray, g: _Geometry, iters: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Template of a group: aligned mean, re-aligned to it `iters` times; (template, shifts)."""
    sh = _align(ext, g)
    t = _take(ext, sh, g).mean(axis=0)
    for _ in range(iters):
        sh = _align(ext, g, t)
        t = _take(ext, sh, g).mean(axis=0)
    return t, sh


def _cluster(
    ext: np.ndarray, g: _Geometry, max_clusters: int, min_count: int, rng_limit: int = 3000
) -> list[np.ndarray]:
    """Over-split groups of snippets (index arrays into ext), each >= min_count members."""
    n = len(ext)
    if n < min_count:
        return []
    sh = _align(ext, g)
    x = _take(ext, sh, g)
    sel = np.arange(n)
    if n > rng_limit:  # evenly spread subset for the linkage, the rest joins the nearest
        sel = np.linspace(0, n - 1, rng_limit).round().astype(int)
    xs = x[sel]
    mu = xs.mean(axis=0)
    u, s, vt = np.linalg.svd(xs - mu, full_matrices=False)
    d = int(min(6, vt.shape[0]))
    feats = (xs - mu) @ vt[:d].T
    if len(xs) < 2:
        return [np.arange(n)]
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
    template: np.ndarray  # sigma units, detection band, length L
    members: int
    spread: float  # mean squared deviation of members from the template per sample (sigma^2)


SPREAD_MAX = 1.6  # a unit's members deviate from its template by <= 1.6 sigma^2 per sample


def _spread(ext: np.ndarray, g: _Geometry) -> tuple[np.ndarray, float]:
    """(template, median over members of their mean squared deviation from it per sample)."""
    t, sh = _consensus(ext, g)
    dev = _take(ext, sh, g) - t[None, :]
    return t, float(np.median((dev**2).mean(axis=1)))


def _split2(ext: np.ndarray, g: _Geometry) -> list[np.ndarray]:
    """Two groups by Ward linkage on the principal components of the aligned members."""
    x = _take(ext, _align(ext, g), g)
    xc = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    f = xc @ vt[: min(4, vt.shape[0])].T
    lab = hierarchy.fcluster(hierarchy.linkage(f, method="ward"), 2, criterion="maxclust") - 1
    return [np.flatnonzero(lab == c) for c in (0, 1)]


def _learn(ext: np.ndarray, g: _Geometry, k: float, max_units: int, min_count: int) -> list[_Unit]:
    """Units from extended snippets (sigma units) of isolated candidates: clusters are split
    until their members share one waveform (spread <= SPREAD_MAX), then clusters whose
    templates a matcher could not tell apart are merged."""
    queue = _cluster(ext, g, 2 * max_units, min_count)
    done: list[tuple[np.ndarray, np.ndarray]] = []
    while queue:
        grp = queue.pop()
        if len(grp) < min_count:
            continue
        t, sp = _spread(ext[grp], g)
        if len(grp) >= 2 * min_count:
            halves = [grp[h] for h in _split2(ext[grp], g)]
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
    out.sort(key=lambda u: -u.members * float(u.template @ u.template))
    return out[:max_units]


def _same_unit(a: np.ndarray, b: np.ndarray, m: int, na: int = 0, nb: int = 0) -> bool:
    """Templates (sigma units) of one unit: after the best (sub-sample) shift their squared
    difference is within what averaging noise leaves (twice L/na + L/nb sigma^2) plus 3 % of
    the smaller energy (alignment and shape jitter)."""
    _, d = _best_shift(a, b, m)
    e = min(float(a @ a), float(b @ b))
    n_noise = a.size * (1.0 / max(na, 1) + 1.0 / max(nb, 1)) if na and nb else 9.0
    return d <= 0.03 * e + 2.0 * n_noise


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Peel the templates (sigma units) off q (int16, sigma = 64): (unit, pos + phase, alpha,
    residual, segments that hit the fit limit). pair: reach of the pair search (samples, 0 =
    off), tried where a single fit leaves more than pair_z standard deviations of background
    energy above the floor on its support."""
    resid = q.copy()
    if not templates:
        return np.zeros(0, int), np.zeros(0), np.zeros(0), resid, 0
    p = _phases(fs, len(templates))
    rows, unit_of, phase_of, gains = [], [], [], []
    for u, t in enumerate(templates):
        for j in range(p):
            tq = np.clip(np.round(_frac_shift(t, j / p) * SIGMA_LSB), -32767, 32767)
            e = float(tq @ tq)
            if e <= 0:
                continue
            rows.append(tq.astype(np.int16))
            unit_of.append(u)
            phase_of.append(j / p)
            gains.append(z * z * _quad_noise(tq, acf) / e)
    if not rows:
        return np.zeros(0, int), np.zeros(0), np.zeros(0), resid, 0
    n = g.length
    if leftover is not None:  # per unit (LSB^2) -> per row
        lv = np.clip(np.asarray(leftover, float)[np.array(unit_of)], 0, 2**44)
    lags = np.arange(-min(n, acf.size) + 1, min(n, acf.size))
    # variance of the background's energy over a support: 2 sum_ij R(i-j)^2
    e_sd = float(np.sqrt(2.0 * np.sum((n - np.abs(lags)) * acf[np.abs(lags)] ** 2)))
    floor = int(n * acf[0])
    matcher = Matcher(
        np.array(rows),
        np.array(unit_of),
        np.ceil(np.array(gains)).astype(np.int64),
        alpha=alpha,
        gap=gap,
        frac=frac,
        floor=floor,
        pair_reach=min(pair, MATCH_MAX_REACH),
        pair_trigger=int(floor + pair_z * e_sd),
        spill=None if leftover is None else np.ceil(z * z * lv / n**2).astype(np.int64),
        leftover=None if leftover is None else lv.astype(np.int64),
    )
    smallest = min(float(np.abs(t).max()) for t in templates)
    thr = max(2.0, min(seg_k, alpha[0] * smallest)) * SIGMA_LSB
    seg = _segments(np.abs(q) >= thr, g.length, g.length)
    hits, full = matcher.run(resid, seg)
    order = np.argsort(hits["pos"], kind="stable")
    hits = hits[order]
    unit = np.array(unit_of)[hits["row"]]
    pos = hits["pos"] + np.array(phase_of)[hits["row"]]
    return unit, pos, hits["alpha_q14"] / MATCH_ALPHA_ONE, resid, full


def _leftover(
    resid: np.ndarray, unit: np.ndarray, pos: np.ndarray, n_units: int, g: _Geometry, floor: float
) -> np.ndarray:
    """Per unit: the residual energy (LSB^2) its isolated fits leave on their support beyond the
    background's floor (median): the unit's own variability, which the matcher must not take
    for other units."""
    out = np.zeros(n_units)
    if unit.size == 0:
        return out
    a = np.floor(pos).astype(np.int64)
    order = np.argsort(a)
    a_s = a[order]
    gap = np.diff(a_s)
    iso_s = (np.r_[np.inf, gap] > g.length) & (np.r_[gap, np.inf] > g.length)
    iso = np.zeros(a.size, bool)
    iso[order] = iso_s
    r = resid.astype(np.float64)
    c = np.r_[0.0, np.cumsum(r * r)]
    ok = iso & (a >= 0) & (a + g.length <= r.size)
    w = np.zeros(a.size)
    w[ok] = c[a[ok] + g.length] - c[a[ok]]
    for u in range(n_units):
        sel = ok & (unit == u)
        if sel.sum() >= 3:
            out[u] = max(0.0, float(np.median(w[sel])) - floor)
    return out


def _refit_templates(
    q: np.ndarray,
    resid: np.ndarray,
    unit: np.ndarray,
    pos: np.ndarray,
    alpha: np.ndarray,
    templates: list[np.ndarray],
    g: _Geometry,
) -> list[np.ndarray]:
    """Each unit's template again as the mean of its discharges cleaned of the other fits:
    residual + its own fit, shifted back by its sub-sample phase."""
    out = []
    lq = g.length
    for u, t in enumerate(templates):
        sel = np.flatnonzero(unit == u)
        acc, n = np.zeros(lq), 0
        for i in sel:
            a = int(np.floor(pos[i]))
            ph = pos[i] - a
            if a < 0 or a + lq > q.size:
                continue
            own = _frac_shift(t, ph) * alpha[i]
            snip = resid[a : a + lq] / SIGMA_LSB + own
            acc += _frac_shift(snip, -ph)
            n += 1
        out.append(acc / n if n >= 3 else t)
    return out


# ---------------------------------------------------------------------------------------------
# public entry point


def decompose(
    signal: Any,
    fs: float,
    preset: str | Preset = "needle",
    *,
    detection: SpikeResult | None = None,
    max_units: int = 20,
    min_count: int | None = None,
    z: float = 4.0,
    alpha: tuple[float, float] = (0.6, 1.6),
    frac: float = 0.25,
    gap_ms: float = 2.5,
    reference: str = "wideband",
    rounds: int = 2,
    learn_k: float | None = None,
    keep_residual: bool = False,
    pair_ms: float | None = None,
    **detect_kw: Any,
) -> Decomposition:
    """Decompose one channel into motor-unit discharge trains (see the module docstring).

    detection: a `detect_spikes(..., keep_filtered=True)` result to reuse; otherwise it runs
    here with `preset` and `detect_kw`. min_count: least discharges for a unit (default 8).
    z: noise test of a fit (its energy reduction must exceed z^2 times what background noise
    gives that template); alpha: accepted amplitude range of a fit relative to its template;
    frac: share of the energy above noise a fit must explain where it lands; gap_ms: a unit's
    least interval between discharges.
    """
    p = get_preset(preset)
    if reference not in ("wideband", "band"):
        raise UsageError(f'reference must be "wideband" or "band", got {reference!r}')
    if not (1 <= max_units <= MATCH_MAX_ROWS):
        raise UsageError(f"max_units must be 1..{MATCH_MAX_ROWS}")
    if not (0 < alpha[0] <= 1.0 <= alpha[1] < 4.0):
        raise UsageError(f"alpha range {alpha!r} must contain 1 and lie in (0, 4)")
    if not (0 < z <= 20) or not (0 <= frac <= 1) or not (0 <= gap_ms <= 100):
        raise UsageError("z must be in (0, 20], frac in [0, 1], gap_ms in [0, 100]")
    if not isinstance(rounds, int) or not 1 <= rounds <= 5:
        raise UsageError("rounds must be 1..5")
    if min_count is not None and min_count < 2:
        raise UsageError("min_count must be >= 2")
    det = detection
    if det is None or det.filtered is None:
        det = detect_spikes(signal, fs, p, keep_filtered=True, **detect_kw)
    p = det.preset
    fs = det.fs
    y = np.asarray(det.filtered, dtype=np.float64)
    sigma = float(np.median(np.abs(y))) / 0.6745 if y.size else 0.0
    if not np.isfinite(sigma) or sigma <= 0:
        sigma = det.noise_sigma if det.noise_sigma > 0 else 1.0
    ms = fs / 1000.0
    pre = max(2, int(round(p.pre_ms * ms)))
    post = max(2, int(round(p.post_ms * ms)))
    while pre + post + 1 > MATCH_MAX_LEN:
        pre, post = pre * 3 // 4, post * 3 // 4
    margin = max(1, int(round(p.align_ms * ms)))
    g = _Geometry(pre, post, margin, max(3, int(round((pre + post + 1) / 8))))
    k = p.k
    mc = 8 if min_count is None else int(min_count)
    gap = int(max(round(gap_ms * ms), (pre + post + 1) // 2))
    zf = y / sigma
    q = np.clip(np.round(zf * SIGMA_LSB), -32767, 32767).astype(np.int16)

    ev = det.events
    centres = ev["core_index"].astype(np.int64)
    quiet = np.ones(q.size, bool)
    for c in centres:
        quiet[max(0, c - g.length) : c + g.length] = False
    quiet &= np.abs(zf) < k
    acf = _noise_acf(q.astype(np.float64), quiet, g.length)

    def isolated(cs: np.ndarray) -> np.ndarray:
        d = np.diff(cs)
        left = np.r_[np.inf, d]
        right = np.r_[d, np.inf]
        return (left > g.length) & (right > g.length)

    if learn_k is None or learn_k >= k:
        iso = centres[isolated(centres)] if centres.size else centres
    else:  # candidates below the detection threshold too: units whose MUAPs barely reach it
        iso = _residual_peaks(zf, learn_k, g)
    ext, _ = _cut(zf, iso, g)
    units = _learn(ext, g, k, max_units, mc) if len(ext) else []
    templates = [u.template for u in units]
    pair = int(round(pair_ms * ms)) if pair_ms is not None else int(round(_PAIR_MS[p.name] * ms))
    opts = {"z": z, "alpha": alpha, "frac": frac, "gap": gap, "seg_k": k, "pair": 0}
    unit, pos, alp, resid, full = _peel(q, templates, g, fs, acf, **opts)
    for _ in range(rounds - 1):
        # learn again from every fitted discharge, cleaned of the other fits (residual + its
        # own fit: overlapped discharges join), and from what the fits left unexplained
        ext1 = _cleaned(resid, unit, pos, alp, templates, g)
        rz = resid / SIGMA_LSB
        cand = _residual_peaks(rz, k if learn_k is None else min(k, learn_k), g)
        ext2, _ = _cut(rz, cand, g)
        pool = np.concatenate([ext1, ext2]) if len(ext2) else ext1
        if len(pool) >= mc:
            relearnt = [u.template for u in _learn(pool, g, k, max_units, mc)]
            if relearnt:
                templates = relearnt
        unit, pos, alp, resid, full = _peel(q, templates, g, fs, acf, **opts)
        # units the matching hardly uses are dropped (a cluster of what was not one unit)
        counts = np.bincount(unit, minlength=len(templates))
        keep = [u for u in range(len(templates)) if counts[u] >= mc]
        if len(keep) < len(templates):
            templates = [templates[u] for u in keep]
            unit, pos, alp, resid, full = _peel(q, templates, g, fs, acf, **opts)

    # one unit seen as two templates (e.g. aligned on different phases): similar waveforms
    # whose discharges interleave instead of coinciding at random
    merged = _merge_by_trains(templates, unit, pos, g)
    if len(merged) < len(templates):
        templates = merged
        unit, pos, alp, resid, full = _peel(q, templates, g, fs, acf, **opts)

    # the final peel: each unit's variability (what its fits leave) declared, near-coincident
    # pairs resolved
    lv = _leftover(resid, unit, pos, len(templates), g, g.length * acf[0])
    unit, pos, alp, resid, full = _peel(
        q, templates, g, fs, acf, **(opts | {"pair": pair}), leftover=lv
    )

    n_u = len(templates)
    tm = np.array(templates).reshape(n_u, g.length)
    band_ref = np.zeros(n_u)
    for u in range(n_u):
        i = int(np.argmax(np.abs(tm[u])))
        if 0 < i < g.length - 1:
            band_ref[u] = i + float(subsample_offset(tm[u, i - 1 : i + 2][None, :])[0])
        else:
            band_ref[u] = float(i)
    ref = band_ref.copy()
    if reference == "wideband" and n_u and det.signal is not None:
        ref = _wideband_ref(det, unit, pos, band_ref, g)
    t_idx = pos + ref[unit] if unit.size else np.zeros(0)
    peak_val = tm[np.arange(n_u), np.clip(np.round(band_ref).astype(int), 0, g.length - 1)]
    fits = np.zeros(unit.size, DECOMP_EVENTS_DTYPE)
    fits["index"] = t_idx
    fits["t"] = t_idx / fs
    fits["unit"] = unit
    fits["alpha"] = alp
    fits["amplitude"] = alp * (peak_val[unit] if unit.size else 0.0) * sigma

    # detections no fit explains: the residual still reaches the threshold at their extremum
    left = np.zeros(centres.size, bool)
    if centres.size:
        nb = np.clip(centres[:, None] + np.arange(-1, 2)[None, :], 0, q.size - 1)
        left = np.abs(resid[nb]).max(axis=1) >= k * SIGMA_LSB
    un = np.zeros(int(left.sum()), DECOMP_EVENTS_DTYPE)
    un["t"] = ev["t"][left]
    un["index"] = ev["t"][left] * fs
    un["unit"] = -1
    un["amplitude"] = ev["amplitude"][left]
    un["alpha"] = np.nan
    events = np.concatenate([fits, un])
    events = events[np.argsort(events["t"], kind="stable")]
    rs = float(np.median(np.abs(resid.astype(np.float64)))) / 0.6745 / SIGMA_LSB * sigma
    counters = {
        "detections": int(len(ev)),
        "isolated_detections": int(iso.size),
        "fits": int(unit.size),
        "unassigned": int(left.sum()),
        "segments_at_fit_limit": int(full),
    }
    return Decomposition(
        fs=fs,
        preset=p,
        templates=tm * sigma,
        pre=g.pre,
        reference=ref,
        events=events,
        noise_sigma=sigma,
        residual_sigma=rs,
        detection=det,
        counters=counters,
        residual=resid.astype(np.float64) / SIGMA_LSB * sigma if keep_residual else None,
    )


def _merge_by_trains(
    templates: list[np.ndarray], unit: np.ndarray, pos: np.ndarray, g: _Geometry
) -> list[np.ndarray]:
    """Merge templates that are one unit: after the best shift they differ by less than a
    third of the smaller energy, and fewer than 10 % of the discharges of the smaller train
    fall within half an inter-discharge interval of the other's (independent units coincide
    that closely about half of the time; the two halves of one split unit alternate)."""
    m = max(1, g.margin)
    keep = list(range(len(templates)))
    trains = {u: np.sort(pos[unit == u]) for u in keep}
    changed = True
    while changed:
        changed = False
        for i in keep:
            for j in keep:
                if j <= i or trains[i].size < 3 or trains[j].size < 3:
                    continue
                a, b = templates[i], templates[j]
                _, d = _best_shift(a, b, m)
                if d > min(float(a @ a), float(b @ b)) / 3.0:
                    continue
                small, big = (
                    (trains[i], trains[j])
                    if trains[i].size <= trains[j].size
                    else (
                        trains[j],
                        trains[i],
                    )
                )
                half = 0.5 * min(np.median(np.diff(trains[i])), np.median(np.diff(trains[j])))
                k = np.searchsorted(big, small)
                near = np.minimum(
                    np.abs(small - big[np.clip(k - 1, 0, big.size - 1)]),
                    np.abs(small - big[np.clip(k, 0, big.size - 1)]),
                )
                if np.mean(near < half) < 0.1:
                    keep.remove(j if trains[i].size >= trains[j].size else i)
                    changed = True
                    break
            if changed:
                break
    return [templates[u] for u in keep]


def _cleaned(
    resid: np.ndarray,
    unit: np.ndarray,
    pos: np.ndarray,
    alpha: np.ndarray,
    templates: list[np.ndarray],
    g: _Geometry,
) -> np.ndarray:
    """Extended snippets (sigma units) of every fit: the residual plus that fit alone, so the
    discharge is seen without the units that overlapped it; aligned to its template."""
    m, lq = g.margin, g.length
    out = []
    for i in range(unit.size):
        a = int(np.floor(pos[i]))
        if a - m < 0 or a + lq + m > resid.size:
            continue
        ext = resid[a - m : a + lq + m] / SIGMA_LSB
        ext[m : m + lq] += _frac_shift(templates[unit[i]], pos[i] - a) * alpha[i]
        out.append(ext)
    return np.array(out).reshape(len(out), lq + 2 * m)


def _residual_peaks(rz: np.ndarray, k: float, g: _Geometry) -> np.ndarray:
    """Extrema of |rz| >= k that stand alone (no other crossing within a template length)."""
    above = np.abs(rz) >= k
    if not above.any():
        return np.zeros(0, np.int64)
    d = np.diff(np.r_[0, above.astype(np.int8), 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    peaks = np.array(
        [a + int(np.argmax(np.abs(rz[a:b]))) for a, b in zip(starts, ends, strict=True)], np.int64
    )
    if peaks.size < 2:
        return peaks
    dd = np.diff(peaks)
    ok = (np.r_[np.inf, dd] > g.length) & (np.r_[dd, np.inf] > g.length)
    return peaks[ok]


def _wideband_ref(
    det: SpikeResult, unit: np.ndarray, pos: np.ndarray, band_ref: np.ndarray, g: _Geometry
) -> np.ndarray:
    """Per unit: the band reference moved to the extremum of the unit's averaged MUAP in the
    recorded band (zero-phase high-pass at a tenth of the preset's corner), within the
    alignment margin. Averaging over the unit's discharges settles which of two phases of
    similar size is the peak; the clinical MUP reading and the simulator's truth use that
    waveform."""
    x = np.asarray(det.signal, dtype=np.float64)
    fs = det.fs
    lo = det.preset.band[0]
    hp = max((lo or 0.0) / 10.0, 2.0)
    w = x - np.median(x)
    if hp < 0.2 * fs and x.size > 64:
        w = sps.sosfiltfilt(sps.butter(2, hp, "highpass", fs=fs, output="sos"), w)
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
        i = int(np.argmax(np.abs(mean[1:-1]))) + 1
        d = float(subsample_offset(mean[i - 1 : i + 2][None, :])[0])
        ref[u] = band_ref[u] + (i - 1 - m) + d - float(frac.mean())
    return ref
