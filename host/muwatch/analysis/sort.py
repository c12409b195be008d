"""Template sorting of detected spikes into motor units (per-unit firing trains).

Per spike the work is done in fixed point by the C core (`mw_sort`: best template over
+-max_shift alignments by sum of squared differences, accepted when the residual is what
noise would leave, running-mean template update). Python orchestrates three passes:
1. online pass opening units as new shapes appear (templates learn as they go);
2. templates that are within the acceptance distance of each other are merged (one unit
   seen twice), units with too few spikes are dropped (noise crossings do not form a
   stable shape), templates are re-estimated as the aligned mean of their members;
3. every spike is assigned again against the frozen final templates, so early spikes are
   judged by the same templates as late ones.
Spikes that fit no template (overlaps, artifacts, unit fragments) stay unassigned (-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from muwatch.analysis._corewrap import SortParams, sort_snippets
from muwatch.analysis.detect import SpikeResult, recorded_band
from muwatch.errors import UsageError


@dataclass
class SortResult:
    """Unit labels (aligned with the SpikeResult's events) and unit templates."""

    units: np.ndarray  # int32 per event, -1 = unassigned
    templates: np.ndarray  # (n_units, L) in the signal's unit
    counts: np.ndarray  # spikes per unit
    shifts: np.ndarray  # alignment shift per event (samples)
    index: np.ndarray  # per event: sample index aligned to its unit template's extremum

    def times(self, fs: float) -> np.ndarray:
        return self.index / fs

    @property
    def n_units(self) -> int:
        return int(self.templates.shape[0])

    def trains(self, result: SpikeResult) -> dict[int, np.ndarray]:
        """Firing times (s) per unit."""
        return {u: result.events["t"][self.units == u] for u in range(self.n_units)}


def _aligned_mean(sn: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    out = np.zeros(sn.shape[1])
    for s in np.unique(shifts):
        rows = sn[shifts == s].astype(np.float64)
        out += np.roll(rows, -int(s), axis=1).sum(axis=0)
    return out / max(len(sn), 1)


def _template_distance(a: np.ndarray, b: np.ndarray, max_shift: int) -> float:
    m = max_shift
    core = a[m : len(a) - m]
    best = np.inf
    for s in range(-m, m + 1):
        d = b[m + s : len(b) - m + s] - core
        best = min(best, float(np.dot(d, d)))
    return best / len(core)


def sort_spikes(
    result: SpikeResult,
    *,
    max_units: int = 12,
    accept: float = 3.0,
    max_shift: int | None = None,
    min_spikes: int | None = None,
) -> SortResult:
    """Sort the spikes of one detection result into units; fills result.events['unit']."""
    sn = result.int_snippets
    n = len(result.events)
    if n == 0:
        empty = np.zeros((0, sn.shape[1] if sn.ndim == 2 else 0))
        z = np.zeros(0, np.int32)
        return SortResult(z, empty, np.zeros(0, int), z, np.zeros(0, np.int64))
    if sn.shape[0] != n:
        raise UsageError("the detection result has no snippets to sort")
    if max_shift is None:  # the detector's alignment window: a unit's events realign to one phase
        align = int(round(result.preset.align_ms * result.fs / 1000.0))
        max_shift = max(1, min(align, (sn.shape[1] - 1) // 4))
    if min_spikes is None:
        min_spikes = max(3, int(0.005 * n))
    sigma = max(result.noise_sigma * result.scale, 1.0)
    online = SortParams(max_units=max_units, max_shift=max_shift, accept=accept)
    units, shifts, _, tm = sort_snippets(sn, sigma, online)
    # merge templates closer than the acceptance distance, then drop rare units
    templates: list[np.ndarray] = []
    for u in range(tm.shape[0]):
        members = units == u
        if members.sum() < min_spikes:
            continue
        t = _aligned_mean(sn[members], shifts[members])
        # a template within the acceptance distance of an earlier one is the same unit
        if not any(_template_distance(o, t, max_shift) <= accept * sigma**2 for o in templates):
            templates.append(t)
    if not templates:
        none = np.full(n, -1, np.int32)
        result.events["unit"] = none
        return SortResult(
            none,
            np.zeros((0, sn.shape[1])),
            np.zeros(0, int),
            np.zeros(n, np.int32),
            result.events["index"].copy(),
        )
    frozen = SortParams(
        max_units=max(len(templates), 1),
        max_shift=max_shift,
        accept=accept,
        update_shift=0,
        allow_new=False,
    )
    units, shifts, _, _ = sort_snippets(sn, sigma, frozen, np.array(templates))
    final, counts, remap = [], [], np.full(len(templates), -1, np.int32)
    for u in range(len(templates)):
        members = units == u
        if members.sum() < min_spikes:
            continue
        remap[u] = len(final)
        final.append(_aligned_mean(sn[members], shifts[members]))
        counts.append(int(members.sum()))
    labels = np.where(units >= 0, remap[np.maximum(units, 0)], -1).astype(np.int32)
    result.events["unit"] = labels
    tmpl = np.array(final).reshape(len(final), sn.shape[1])
    # each unit's events move to one reference point of the unit (one phase for the whole
    # train): the extremum of its template, then of its mean wide-band waveform
    index = result.events["core_index"].astype(np.int64).copy()
    if len(final):
        peak = np.argmax(np.abs(tmpl), axis=1) - result.pre
        ok = labels >= 0
        index[ok] += shifts[ok] + peak[labels[ok]]
        if result.signal is not None and result.signal.ndim == 1:
            index = _wideband_reference(result, labels, index, max_shift)
    return SortResult(labels, tmpl / result.scale, np.array(counts, int), shifts, index)


def _wideband_reference(
    result: SpikeResult, labels: np.ndarray, index: np.ndarray, window: int
) -> np.ndarray:
    """Move each unit's events to the extremum of the unit's mean waveform in the recorded band
    (zero-phase high-pass at a tenth of the preset's corner only removes offset and drift).

    Why: the detection band changes which phase of a MUAP is the largest (a 300 Hz high-pass
    shrinks the broad phases), while the MUAP's peak as clinical MUP analysis and the ground
    truth read it is that of the averaged wide-band waveform. Averaging over the unit's
    discharges makes the choice between two phases of similar size reliable, where a single
    noisy discharge could not. Host only (float)."""
    y = recorded_band(result)
    w = max(1, int(window))
    offs = np.arange(-w, w + 1)
    out = index.copy()
    for u in np.unique(labels[labels >= 0]):
        sel = np.flatnonzero(labels == u)
        idx = index[sel]
        keep = (idx - w >= 0) & (idx + w < y.size)
        if keep.sum() < 3:
            continue
        mean = y[idx[keep, None] + offs[None, :]].mean(axis=0)
        out[sel] = idx + offs[int(np.argmax(np.abs(mean)))]
    return out
