"""Stimulator-free motor-unit indices from a fixed-force surface epoch: index, not MUNE.

Without a supramaximal, nerve-evoked CMAP there is no motor unit number estimate. What a wearable
can measure alone, at a fixed low force, are indices to compare with the same person's own
baseline, never with MUNE normal values:
- MUAP count index: motor units the template sorter separates in the epoch;
- MUAP rate: detected MUAP discharges per second;
- mean surface-MUAP size: peak-to-peak of each unit's spike-triggered average (STA) of the
  wide-band surface signal, averaged over units (the S-MUP of spike-triggered-averaging MUNE,
  here triggered by the surface sorter itself);
- firing statistics per unit (rate, ISI CV).
When the session also holds a supramaximal CMAP, CMAP amplitude / mean S-MUAP size is the
spike-triggered-averaging MUNE (it depends on the force of the epoch: tibialis anterior 226 at
threshold vs 91 at 40 % MVC, McNeil 2005), reported separately as a MUNE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps

from muwatch.analysis._fixed import as_float_array, check_fs
from muwatch.analysis.firing import FiringStats, firing_stats
from muwatch.errors import UsageError

KIND = "index, not MUNE"


@dataclass(frozen=True)
class SurfaceIndices:
    muap_count_index: int
    muap_rate_hz: float
    mean_smuap_uv: float | None
    smuap_uv: tuple[float, ...]
    firing: tuple[FiringStats, ...]
    epoch_s: float
    force_label: str
    kind: str = KIND
    notes: tuple[str, ...] = (
        "index, not MUNE: compare only with this person's own baseline at the same force, "
        "never with MUNE normal values",
    )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["firing"] = [f.to_dict() for f in self.firing]
        return d


@dataclass(frozen=True)
class StaMune:
    mune: float
    cmap_uv: float
    mean_smuap_uv: float
    n_units: int
    force_label: str
    method: str = "spike-triggered-averaging MUNE (surface-triggered S-MUAPs, supramaximal CMAP)"
    kind: str = "MUNE"
    notes: tuple[str, ...] = field(
        default=("depends on the force of the epoch (larger units join as force rises)",)
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spike_triggered_average(
    signal_uv: np.ndarray,
    fs: float,
    index: np.ndarray,
    *,
    pre_ms: float = 15.0,
    post_ms: float = 25.0,
) -> np.ndarray | None:
    """Mean of the signal around the trigger samples (those whose window fits)."""
    pre = int(round(pre_ms * fs / 1000.0))
    post = int(round(post_ms * fs / 1000.0))
    idx = np.asarray(index, dtype=np.int64)
    idx = idx[(idx - pre >= 0) & (idx + post < signal_uv.size)]
    if idx.size == 0:
        return None
    return signal_uv[idx[:, None] + np.arange(-pre, post + 1)[None, :]].mean(axis=0)


def surface_indices(
    epoch_uv: object,
    fs: float,
    *,
    force_label: str = "",
    min_discharges: int = 10,
) -> SurfaceIndices:
    """Indices of one fixed-force surface epoch (µV). Detection and sorting run on the C core
    (`surface` preset); the STA uses the signal high-passed at 10 Hz (baseline drift only)."""
    from muwatch.analysis import detect_spikes, sort_spikes

    x = as_float_array(epoch_uv, "surface epoch", min_len=64)
    fs = check_fs(fs)
    dur = x.size / fs
    if dur < 2.0:
        raise UsageError(f"the fixed-force epoch is {dur:.1f} s; indices need at least 2 s")
    res = detect_spikes(x, fs, preset="surface")
    srt = sort_spikes(res) if len(res) else None
    wide = x - np.median(x)
    if fs > 40:
        wide = sps.sosfiltfilt(sps.butter(2, 10.0, "highpass", fs=fs, output="sos"), wide)
    sizes, fstats = [], []
    if srt is not None:
        for u in range(srt.n_units):
            idx = np.sort(srt.index[srt.units == u])
            if idx.size < min_discharges:
                continue
            sta = spike_triggered_average(wide, fs, idx)
            if sta is None:
                continue
            sizes.append(float(sta.max() - sta.min()))
            fstats.append(firing_stats(np.unique(idx), fs))
    return SurfaceIndices(
        muap_count_index=len(sizes),
        muap_rate_hz=len(res) / dur,
        mean_smuap_uv=float(np.mean(sizes)) if sizes else None,
        smuap_uv=tuple(sizes),
        firing=tuple(fstats),
        epoch_s=dur,
        force_label=force_label,
    )


def sta_mune(indices: SurfaceIndices, cmap_uv: float) -> StaMune | None:
    """CMAP amplitude / mean S-MUAP size, when both exist (same amplitude measure: p2p)."""
    if indices.mean_smuap_uv is None or indices.mean_smuap_uv <= 0 or not cmap_uv > 0:
        return None
    return StaMune(
        mune=cmap_uv / indices.mean_smuap_uv,
        cmap_uv=cmap_uv,
        mean_smuap_uv=indices.mean_smuap_uv,
        n_units=indices.muap_count_index,
        force_label=indices.force_label,
    )
