"""Analysis: MUAP detection and sorting on the fixed-point C core; motor-unit metrics.

Detection and sorting (C core area):
    detect_spikes(signal, fs, preset="needle" | "surface") -> SpikeResult
    sort_spikes(result) -> SortResult (per-unit trains and templates)
    decompose(signal, fs, preset=...) -> Decomposition (templates + peel-off: overlaps resolved)

Motor-unit numbers and metrics (MUNE area, docs/analysis.md):
    munix(cmap, sip_epochs, fs) -> MunixResult; cmap_scan_mune(stimuli, responses) -> CmapScanResult
    poisson_mune(...), incremental_mune(...); surface_indices(...) (index, not MUNE)
    firing_stats(discharges, fs); jitter(snippets, fs); jiggle(snippets, fs); qemg_parameters(tpl, fs)
    load_recording(spec) -> Recording; analyze(recording) -> Analysis (muwatch analyze)
"""

from __future__ import annotations

from muwatch.analysis.cmapscan import CmapScanResult, cmap_scan_mune
from muwatch.analysis.decompose import Decomposition, decompose
from muwatch.analysis.detect import PRESETS, Preset, SpikeResult, detect_spikes
from muwatch.analysis.firing import FiringStats, firing_stats
from muwatch.analysis.incremental import incremental_mune
from muwatch.analysis.indices import surface_indices
from muwatch.analysis.jitter import jiggle, jitter
from muwatch.analysis.munix import MunixResult, munix
from muwatch.analysis.pipeline import analyze, load_recording
from muwatch.analysis.poisson import poisson_mune
from muwatch.analysis.qemg import qemg_parameters
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
    "CmapScanResult",
    "FiringStats",
    "MunixResult",
    "analyze",
    "cmap_scan_mune",
    "firing_stats",
    "incremental_mune",
    "jiggle",
    "jitter",
    "load_recording",
    "munix",
    "poisson_mune",
    "qemg_parameters",
    "surface_indices",
]
