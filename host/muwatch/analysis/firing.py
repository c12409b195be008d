"""Firing statistics per motor unit (C core mw_firing): discharge rate and ISI variability.

Used for needle units (QEMG `rate_hz`) and for the stimulator-free surface indices. ISIs outside
[min_isi_ms, max_isi_ms] are left out and counted (double detections, pauses/missed discharges).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.analysis._fixed import Q16, check_fs, core
from muwatch.errors import UsageError


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def firing_stats(
    discharges: object,
    fs: float,
    *,
    min_isi_ms: float = 20.0,
    max_isi_ms: float = 250.0,
) -> FiringStats:
    """Rate and ISI CV of one unit from its discharge times as sample indices at `fs`.

    Defaults bound ISIs to 20-250 ms (4-50 Hz), the range of steady voluntary firing; fewer than
    two ISIs in range give None statistics with the counts saying why.
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
    lo = max(1, int(round(min_isi_ms * fs / 1000.0)))
    hi = max(lo, int(round(max_isi_ms * fs / 1000.0)))
    if hi > 4194304:
        raise UsageError("max_isi_ms too long for this sampling rate (limit 2**22 samples)")
    ffi, lib = core()
    out = ffi.new("mw_firing_stats_t *")
    rc = lib.mw_firing_stats(ffi.from_buffer("uint32_t[]", t), t.size, int(round(fs)), lo, hi, out)
    if rc != 0:
        raise UsageError(f"firing statistics refused the input (code {rc})")
    ok = out.n_isi >= 2
    ms = 1000.0 / fs
    return FiringStats(
        n_discharges=int(out.n_spikes),
        n_isi=int(out.n_isi),
        n_short=int(out.n_short),
        n_long=int(out.n_long),
        rate_hz=out.rate_hz_q16 / Q16 * (fs / round(fs)) if ok else None,
        mean_isi_ms=out.mean_isi_q16 / Q16 * ms if ok else None,
        isi_sd_ms=out.sd_isi_q16 / Q16 * ms if ok else None,
        isi_cv=out.cv_q16 / Q16 if ok else None,
    )
