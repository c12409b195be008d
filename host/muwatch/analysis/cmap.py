"""Compound muscle action potential (CMAP) measures and per-stimulus response sizes.

A CMAP epoch is the signal around one stimulus (or the average over supramaximal stimuli), with
`stim_index` marking the stimulus. The main phase is the phase holding the largest deflection
after the stimulus artefact: the "negative peak" of clinical convention (negative is drawn up;
here polarity is reported, not assumed). Area and power of the main phase are what MUNIX uses
(Nandedkar 2004); the whole response is measured too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from muwatch.analysis._fixed import as_float_array, check_fs
from muwatch.errors import UsageError


@dataclass(frozen=True)
class CmapMeasures:
    """Measures of one CMAP (µV, ms from the stimulus, mV·ms, mV²·ms)."""

    amplitude_uv: float  # baseline to the main (negative) peak
    peak_to_peak_uv: float
    polarity: int  # sign of the main peak in the input signal
    onset_ms: float
    peak_ms: float
    end_ms: float
    area_mv_ms: float  # main phase
    power_mv2_ms: float
    whole_area_mv_ms: float  # onset to end of the response
    whole_power_mv2_ms: float
    noise_uv: float  # baseline noise SD (robust)
    main_phase: tuple[int, int]  # [start, stop) sample indices of the main phase
    response: tuple[int, int]  # [onset, end) sample indices of the whole response

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["main_phase"] = list(self.main_phase)
        d["response"] = list(self.response)
        return d


def _robust_sd(x: np.ndarray) -> float:
    if x.size < 4:
        return 0.0
    d = x - np.median(x)
    return float(np.median(np.abs(d)) / 0.6745)


def cmap_measures(
    epoch_uv: object,
    fs: float,
    stim_index: int = 0,
    *,
    blank_ms: float = 1.0,
) -> CmapMeasures:
    """Measure a CMAP. The baseline comes from the samples before `stim_index` when there are at
    least 8 of them (else from the last 10 % of the epoch); `blank_ms` after the stimulus is the
    artefact, never part of the response."""
    x = as_float_array(epoch_uv, "CMAP epoch", min_len=8)
    fs = check_fs(fs)
    if not 0 <= int(stim_index) < x.size:
        raise UsageError(f"stim_index {stim_index} outside the epoch (0..{x.size - 1})")
    stim = int(stim_index)
    pre = x[:stim] if stim >= 8 else x[-max(8, x.size // 10) :]
    base = float(np.median(pre))
    noise = _robust_sd(pre)
    y = x - base
    first = stim + max(1, int(round(blank_ms * fs / 1000.0)))
    if first >= x.size - 2:
        raise UsageError("CMAP epoch ends inside the stimulus blanking; give a longer epoch")
    seg = y[first:]
    p = first + int(np.argmax(np.abs(seg)))
    pol = 1 if y[p] >= 0 else -1
    amp = float(abs(y[p]))
    # main phase: between the zero crossings around the peak
    s = p
    while s > first and y[s - 1] * pol > 0:
        s -= 1
    e = p + 1
    while e < x.size and y[e] * pol > 0:
        e += 1
    # whole response: where |y| leaves and finally returns to the noise band
    level = max(4.0 * noise, 0.005 * amp)
    above = np.flatnonzero(np.abs(y[first:]) > level) + first
    onset = int(above[0]) if above.size else s
    end = int(above[-1]) + 1 if above.size else e
    onset = min(onset, s)
    end = max(end, e)
    dt_ms = 1000.0 / fs

    def area(a: int, b: int) -> float:
        return float(np.sum(np.abs(y[a:b])) * dt_ms / 1000.0)

    def power(a: int, b: int) -> float:
        return float(np.sum(y[a:b] ** 2) * dt_ms / 1e6)

    resp = y[onset:end]
    return CmapMeasures(
        amplitude_uv=amp,
        peak_to_peak_uv=float(resp.max() - resp.min()) if resp.size else amp,
        polarity=pol,
        onset_ms=(onset - stim) * dt_ms,
        peak_ms=(p - stim) * dt_ms,
        end_ms=(end - stim) * dt_ms,
        area_mv_ms=area(s, e),
        power_mv2_ms=power(s, e),
        whole_area_mv_ms=area(onset, end),
        whole_power_mv2_ms=power(onset, end),
        noise_uv=noise,
        main_phase=(s, e),
        response=(onset, end),
    )


def response_sizes(
    epochs_uv: object,
    reference: CmapMeasures,
    reference_epoch_uv: object,
    stim_index: int,
) -> np.ndarray:
    """Size of each evoked response as the least-squares scale of the reference CMAP's main phase,
    in µV of the reference's amplitude.

    Why a projection and not each response's own peak: it is linear, so the contributions of the
    units that fired add exactly and noise averages out instead of biasing small responses upward
    (a peak of pure noise is never zero). `epochs_uv` is (n_stimuli, n_samples), aligned like the
    reference epoch, each with its own pre-stimulus baseline removed here.
    """
    ep = np.asarray(epochs_uv, dtype=np.float64)
    ref = as_float_array(reference_epoch_uv, "reference CMAP epoch", min_len=8)
    if ep.ndim != 2 or ep.shape[1] != ref.size:
        raise UsageError(
            f"response epochs must be (n, {ref.size}) like the reference CMAP, got {ep.shape}"
        )
    if not np.all(np.isfinite(ep)):
        raise UsageError("response epochs contain NaN or infinite values")
    s, e = reference.main_phase
    stim = int(stim_index)
    base_ref = np.median(ref[:stim]) if stim >= 8 else np.median(ref[-max(8, ref.size // 10) :])
    c = ref[s:e] - base_ref
    cc = float(np.dot(c, c))
    if cc <= 0.0:
        raise UsageError("reference CMAP has an empty main phase")
    if stim >= 8:
        base = np.median(ep[:, :stim], axis=1)
    else:
        base = np.median(ep[:, -max(8, ep.shape[1] // 10) :], axis=1)
    proj = (ep[:, s:e] - base[:, None]) @ c / cc
    return proj * reference.amplitude_uv
