"""Analysis: MUAP detection and sorting on the fixed-point C core; motor-unit metrics.

Detection and sorting (C core area):
    detect_spikes(signal, fs, preset="needle" | "surface") -> SpikeResult
    sort_spikes(result) -> SortResult (per-unit trains and templates)
    decompose(signal, fs, preset=...) -> Decomposition (templates + peel-off: overlaps resolved)
"""

from __future__ import annotations

from muwatch.analysis.decompose import Decomposition, decompose
from muwatch.analysis.detect import PRESETS, Preset, SpikeResult, detect_spikes
from muwatch.analysis.sort import SortResult, sort_spikes

__all__ = [
    "Decomposition",
    "PRESETS",
    "Preset",
    "SortResult",
    "SpikeResult",
    "decompose",
    "detect_spikes",
    "sort_spikes",
]
