"""Quantitative MUAP analysis (QEMG) of sorted needle units.

Per unit, from its averaged wide-band waveform (discharges aligned on the unit's reference point,
high-passed at 5 Hz only, as in clinical QEMG where the band is ~5 Hz-10 kHz):
- p2p_uv: peak-to-peak amplitude (µV);
- duration_ms: from the first departure from baseline to the final return. Automatic criterion
  (in the spirit of Stålberg's multi-MUP analysis): the level is max(3 baseline SD, 2 % of p2p,
  5 µV); onset and end are where the signal leaves / finally re-enters that band for good;
- phases: baseline crossings within the duration + 1 (a phase must exceed the level);
- turns: changes of direction with at least 25 µV of swing to the previous and next turn
  (Stålberg 1986);
- area_uv_ms: rectified area within the duration (µV·ms);
- size_index: 2·log10(p2p in mV) + area/amplitude (thickness, ms) (Sonoo & Stålberg 1993);
- rate_hz and isi_cv: firing statistics of the unit's train (C core).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps

from muwatch.analysis._fixed import as_float_array, check_fs
from muwatch.analysis.firing import firing_stats
from muwatch.errors import UsageError

TURN_UV = 25.0
PRE_MS = 12.0
POST_MS = 18.0


@dataclass(frozen=True)
class QemgParams:
    p2p_uv: float
    duration_ms: float
    phases: int
    turns: int
    area_uv_ms: float
    size_index: float
    onset_ms: float  # relative to the template's alignment point
    end_ms: float


@dataclass(frozen=True)
class QemgUnit:
    unit: int
    n_discharges: int
    p2p_uv: float
    duration_ms: float
    phases: int
    turns: int
    area_uv_ms: float
    size_index: float
    rate_hz: float | None
    isi_cv: float | None
    onset_ms: float = 0.0  # MUAP start relative to the discharge time
    end_ms: float = 0.0
    template_uv: tuple[float, ...] = field(repr=False, default=())
    # False: the train's intervals say it mixes units (isi_cv then None; firing.MAX_EXCLUDED)
    firing_consistent: bool | None = None

    def to_dict(self, *, template: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not template:
            d.pop("template_uv")
        return d


def qemg_parameters(template_uv: object, fs: float, align_index: int | None = None) -> QemgParams:
    """The clinical parameters of one averaged MUAP waveform (µV) at `fs`."""
    x = as_float_array(template_uv, "MUAP template", min_len=16)
    fs = check_fs(fs)
    n = x.size
    edge = max(4, int(round(1.5e-3 * fs)))
    if 2 * edge >= n:
        raise UsageError("MUAP template too short to measure a baseline (needs > 3 ms)")
    base_pts = np.r_[x[:edge], x[-edge:]]
    x = x - float(np.median(base_pts))
    sd = float(np.median(np.abs(base_pts - np.median(base_pts))) / 0.6745)
    p2p = float(x.max() - x.min())
    level = max(3.0 * sd, 0.02 * p2p, 5.0)
    peak = int(np.argmax(np.abs(x)))
    out = np.abs(x) > level
    idx = np.flatnonzero(out)
    if idx.size == 0:
        raise UsageError("MUAP template never leaves the baseline")
    quiet = max(2, int(round(0.5e-3 * fs)))  # 0.5 ms back inside the band ends the MUAP
    onset = peak
    k = peak
    while k > 0:
        k -= 1
        if out[k]:
            onset = k
        elif onset - k >= quiet:
            break
    end = peak
    k = peak
    while k < n - 1:
        k += 1
        if out[k]:
            end = k
        elif k - end >= quiet:
            break
    seg = x[onset : end + 1]
    # phases: sign changes between samples beyond the level
    sig_pts = seg[np.abs(seg) > level]
    phases = 1 + int(np.sum(np.diff(np.sign(sig_pts)) != 0)) if sig_pts.size else 0
    # turns: alternating extrema with >= 25 µV swing both sides
    turns = _count_turns(seg, TURN_UV)
    dt_ms = 1000.0 / fs
    area = float(np.sum(np.abs(seg)) * dt_ms)
    p2p_mv = p2p / 1000.0
    size_index = 2.0 * math.log10(p2p_mv) + (area / 1000.0) / p2p_mv if p2p_mv > 0 else float("nan")
    ref = align_index if align_index is not None else peak
    return QemgParams(
        p2p_uv=p2p,
        duration_ms=(end + 1 - onset) * dt_ms,
        phases=phases,
        turns=turns,
        area_uv_ms=area,
        size_index=size_index,
        onset_ms=(onset - ref) * dt_ms,
        end_ms=(end + 1 - ref) * dt_ms,
    )


def _count_turns(x: np.ndarray, swing: float) -> int:
    """Reversals of direction with at least `swing` to the previous and the next reversal (the
    first one counted from the segment's start), by tracking extremes with hysteresis."""
    if x.size < 3:
        return 0
    turns = 0
    last = float(x[0])  # value of the previous turn (or the start)
    hi = lo = float(x[0])
    direction = 0  # +1 rising, -1 falling, 0 not yet known
    for v in x[1:].tolist():
        if direction >= 0:
            hi = max(hi, v)
            if hi - v >= swing and hi - last >= swing:
                turns += 1
                last, direction, lo = hi, -1, v
                continue
            if direction == 0 and v - lo >= swing:
                direction = 1
        if direction <= 0:
            lo = min(lo, v)
            if v - lo >= swing and last - lo >= swing:
                turns += 1
                last, direction, hi = lo, 1, v
            elif direction == 0 and hi - v >= swing:
                direction = -1
    return turns


def unit_templates(
    signal_uv: np.ndarray, fs: float, trains: dict[int, np.ndarray], *, highpass_hz: float = 5.0
) -> dict[int, tuple[np.ndarray, int, int]]:
    """Wide-band averaged waveform per unit: (template, alignment index, discharges used)."""
    x = np.asarray(signal_uv, dtype=np.float64)
    if highpass_hz > 0 and fs > 4 * highpass_hz:
        sos = sps.butter(2, highpass_hz, "highpass", fs=fs, output="sos")
        x = sps.sosfiltfilt(sos, x)
    pre = int(round(PRE_MS * fs / 1000.0))
    post = int(round(POST_MS * fs / 1000.0))
    out = {}
    for u, idx in trains.items():
        idx = np.asarray(idx, dtype=np.int64)
        idx = idx[(idx - pre >= 0) & (idx + post < x.size)]
        if idx.size == 0:
            continue
        snips = x[idx[:, None] + np.arange(-pre, post + 1)[None, :]]
        out[u] = (
            np.median(snips, axis=0) if idx.size >= 5 else snips.mean(axis=0),
            pre,
            int(idx.size),
        )
    return out


def qemg_units(
    signal_uv: object, fs: float, trains: dict[int, np.ndarray], *, min_discharges: int = 5
) -> list[QemgUnit]:
    """QEMG parameters and firing statistics of each unit train (sample indices)."""
    x = as_float_array(signal_uv, "needle signal", min_len=16)
    fs = check_fs(fs)
    out: list[QemgUnit] = []
    for u, (tpl, align, n_used) in sorted(unit_templates(x, fs, trains).items()):
        if n_used < min_discharges:
            continue
        try:
            p = qemg_parameters(tpl, fs, align)
        except UsageError:
            continue
        fst = firing_stats(np.unique(np.asarray(trains[u], dtype=np.int64)), fs)
        out.append(
            QemgUnit(
                unit=int(u),
                n_discharges=int(len(trains[u])),
                p2p_uv=p.p2p_uv,
                duration_ms=p.duration_ms,
                phases=p.phases,
                turns=p.turns,
                area_uv_ms=p.area_uv_ms,
                size_index=p.size_index,
                rate_hz=fst.rate_hz,
                isi_cv=fst.isi_cv if fst.consistent else None,
                onset_ms=p.onset_ms,
                end_ms=p.end_ms,
                template_uv=tuple(float(v) for v in tpl),
                firing_consistent=fst.consistent if fst.rate_hz is not None else None,
            )
        )
    return out


def summarise(units: list[QemgUnit]) -> dict[str, Any]:
    """Mean and SD of each parameter over the units (the per-recording QEMG summary)."""
    keys = ("p2p_uv", "duration_ms", "phases", "turns", "area_uv_ms", "size_index", "rate_hz")
    out: dict[str, Any] = {"n_units": len(units)}
    for k in keys:
        v = np.array([getattr(u, k) for u in units if getattr(u, k) is not None], dtype=float)
        v = v[np.isfinite(v)]
        out[k] = (
            {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0}
            if v.size
            else None
        )
    if units:
        out["polyphasic_percent"] = 100.0 * sum(u.phases > 4 for u in units) / len(units)
        out["trains_mixing_units"] = sum(u.firing_consistent is False for u in units)
    return out
