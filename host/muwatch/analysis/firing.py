"""Firing statistics per motor unit (C core mw_firing): discharge rate and ISI variability.

Used for needle units (QEMG `rate_hz`) and for the stimulator-free surface indices. ISIs outside
[min_isi_ms, max_isi_ms] are left out and counted (double detections, pauses/missed discharges).

Why the default also bounds ISIs around their median: a decomposed or sorted train misses some
discharges (the interval doubles) and gains some false ones (an interval splits), and each such
interval weighs heavily in the SD: a few percent of them turn a true ISI CV of 0.15 into
0.3-0.5. The usual practice for decomposed trains is to leave out intervals that imply a missed
or an extra discharge before computing variability (e.g. Mochizuki et al., Exp Brain Res 2005,
and De Luca & Hostage, J Neurophysiol 2010, edit or exclude such intervals); here, intervals
outside (1 ± `around_median`) × the median ISI are excluded and counted (n_short/n_long), and a
train needing more than MAX_EXCLUDED of its intervals removed is flagged as not one unit's
(`consistent`: a sorting that merged units). With
±50 % a Gaussian ISI of CV <= 0.2 loses < 1 % of its intervals (CV biased < 3 % low); a truly
more variable train (CV 0.3) reads ~15 % low: pass `around_median=None` for the raw figure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.analysis._fixed import Q16, check_fs, core
from muwatch.errors import UsageError

# A train needing more than this fraction of its intervals edited out or excluded is not one
# unit's: on the simulator's sorted needle trains, single units needed <= 0.18, trains mixing
# units >= 0.46 (make bench AREA=mune, isi_cv_trains_mixed).
MAX_EXCLUDED = 0.3


@dataclass(frozen=True)
class FiringStats:
    n_discharges: int
    n_isi: int  # ISIs used
    n_short: int  # ISIs below min_isi_ms (left out)
    n_long: int  # ISIs above max_isi_ms (left out)
    rate_hz: float | None  # 1 / mean ISI
    mean_isi_ms: float | None
    isi_sd_ms: float | None
    isi_cv: float | None
    n_removed: int = 0  # discharges dropped as false (they split an interval)
    excluded_fraction: float = 0.0  # intervals edited out or excluded / intervals
    consistent: bool = True  # excluded_fraction <= MAX_EXCLUDED: one unit's train

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def firing_stats(
    discharges: object,
    fs: float,
    *,
    min_isi_ms: float = 20.0,
    max_isi_ms: float = 250.0,
    around_median: float | None = 0.5,
) -> FiringStats:
    """Rate and ISI CV of one unit from its discharge times as sample indices at `fs`.

    Defaults bound ISIs to 20-250 ms (4-50 Hz), the range of steady voluntary firing, and then
    to (1 ± around_median) × the median of those (missed and extra discharges; module
    docstring); fewer than two ISIs in range give None statistics with the counts saying why.
    """
    fs = check_fs(fs)
    if not 0 < min_isi_ms <= max_isi_ms:
        raise UsageError(f"ISI bounds must satisfy 0 < min <= max, got {min_isi_ms}, {max_isi_ms}")
    t = np.asarray(discharges)
    if t.ndim != 1:
        raise UsageError("discharges must be a 1-D array of sample indices")
    if t.size and (not np.issubdtype(t.dtype, np.integer)):
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise UsageError("discharges must be whole sample indices")
    if t.size and (t.min() < 0 or t.max() > 0xFFFFFFFF):
        raise UsageError("discharge sample indices must be within 0..2**32-1")
    t = np.ascontiguousarray(t.astype(np.uint32))
    if t.size > 1 and np.any(np.diff(t.astype(np.int64)) <= 0):
        raise UsageError("discharge times must be strictly increasing")
    if around_median is not None and not 0.0 < around_median < 1.0:
        raise UsageError(f"around_median must be within (0, 1), got {around_median}")
    lo = max(1, int(round(min_isi_ms * fs / 1000.0)))
    hi = max(lo, int(round(max_isi_ms * fs / 1000.0)))
    n_removed = 0
    n_given = int(t.size)
    if around_median is not None and t.size > 2:
        d = np.diff(t.astype(np.int64))
        d = d[(d >= lo) & (d <= hi)]
        if d.size >= 2:
            med = float(np.median(d))
            lo = max(lo, int(np.ceil((1.0 - around_median) * med)))
            hi = min(hi, max(lo, int(np.floor((1.0 + around_median) * med))))
            kept = _drop_false(t.astype(np.int64), lo, med)
            n_removed = t.size - kept.size
            t = np.ascontiguousarray(kept.astype(np.uint32))
    if hi > 4194304:
        raise UsageError("max_isi_ms too long for this sampling rate (limit 2**22 samples)")
    ffi, lib = core()
    out = ffi.new("mw_firing_stats_t *")
    rc = lib.mw_firing_stats(ffi.from_buffer("uint32_t[]", t), t.size, int(round(fs)), lo, hi, out)
    if rc != 0:
        raise UsageError(f"firing statistics refused the input (code {rc})")
    ok = out.n_isi >= 2
    ms = 1000.0 / fs
    frac = (n_removed + out.n_short + out.n_long) / max(n_given - 1, 1)
    return FiringStats(
        n_discharges=int(out.n_spikes),
        n_isi=int(out.n_isi),
        n_short=int(out.n_short),
        n_long=int(out.n_long),
        rate_hz=out.rate_hz_q16 / Q16 * (fs / round(fs)) if ok else None,
        mean_isi_ms=out.mean_isi_q16 / Q16 * ms if ok else None,
        isi_sd_ms=out.sd_isi_q16 / Q16 * ms if ok else None,
        isi_cv=out.cv_q16 / Q16 if ok else None,
        n_removed=n_removed,
        excluded_fraction=frac,
        consistent=frac <= MAX_EXCLUDED,
    )


def _drop_false(t: np.ndarray, lo: int, med: float) -> np.ndarray:
    """Discharge editing: a false discharge splits one interval into two, one of them shorter
    than `lo`; of the two discharges bounding a short interval, drop the one whose removal
    leaves the interval closest to the median (the edit an operator makes on a decomposed
    train). The first and last discharge have one neighbour only."""
    keep = list(t.tolist())
    i = 0
    while i < len(keep) - 1:
        if keep[i + 1] - keep[i] >= lo:
            i += 1
            continue
        # merged interval if keep[i] is dropped, resp. keep[i + 1]
        a = abs(keep[i + 1] - keep[i - 1] - med) if i > 0 else float("inf")
        b = abs(keep[i + 2] - keep[i] - med) if i + 2 < len(keep) else float("inf")
        if a == b == float("inf"):
            del keep[i + 1]
        elif a <= b:
            del keep[i]
            i = max(i - 1, 0)
        else:
            del keep[i + 1]
    return np.asarray(keep, dtype=np.int64)
