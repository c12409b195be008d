"""The fixed-point chain against the float reference (tests/c_core/reference.py): events
within +-1 sample for >= 99 %, on simulated needle and surface EMG and on a synthetic signal in
mV with a DC offset and 60 Hz hum at 1 kHz."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from muwatch.analysis import _design, detect
from muwatch.analysis._corewrap import Chain

sys.path.insert(0, str(Path(__file__).parent))
from reference import detect_float  # noqa: E402


def _core_and_float(x: np.ndarray, fs: float, preset: str | detect.Preset, mains: float | None):
    p = detect.get_preset(preset)
    xi, _, shift = detect.to_core_units(x)
    assert shift == 0
    sections = detect.build_sections(fs, p, mains)
    det = detect.detector_params(fs, p, sections)
    nshift = detect.noise_shift_for(fs, p.noise_memory_s)
    prime = min(xi.size, 1 << (nshift + 2))
    chain = Chain(sections, det, noise_shift=nshift)
    chain.prime(xi[:prime])
    ev, _, _ = chain.process(xi)
    fixed = ev["index"][ev["flags"] == 0]
    ref = detect_float(xi.astype(np.float64), _design.float_sos(sections), det, nshift, prime)
    return fixed, ref


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of events of a and of b with a partner within +-1 sample (the worse side)."""
    if a.size == 0 and b.size == 0:
        return 1.0
    if a.size == 0 or b.size == 0:
        return 0.0

    def frac(u: np.ndarray, v: np.ndarray) -> float:
        j = np.clip(np.searchsorted(v, u), 1, v.size - 1)
        d = np.minimum(np.abs(u - v[j - 1]), np.abs(u - v[j]))
        return float(np.mean(d <= 1))

    return min(frac(a, b), frac(b, a))


def test_needle_simulation_matches_float_reference() -> None:
    from muwatch import sim

    rec = sim.simulate("needle-steady", seconds=6, seed=3)
    fixed, ref = _core_and_float(rec.data[0], rec.fs, "needle", None)
    assert fixed.size > 50
    assert _agreement(fixed, ref) >= 0.99


def test_surface_simulation_matches_float_reference() -> None:
    from muwatch import sim

    rec = sim.simulate("surface-noisy", seconds=20, seed=2, force_pct=5.0)
    preset = replace(detect.PRESETS["surface"], k=3.0)  # many crossings in the interference
    fixed, ref = _core_and_float(rec.data[0], rec.fs, preset, 50.0)
    assert fixed.size > 20
    assert _agreement(fixed, ref) >= 0.99


def test_synthetic_mv_with_offset_and_60hz_at_1khz() -> None:
    fs = 1000.0
    rng = np.random.default_rng(7)
    n = int(fs * 30)
    t = np.arange(n) / fs
    x = 2.5 + 0.02 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * 60 * t)  # mV
    shape = np.array([0.2, 0.8, 1.0, -0.6, -0.9, -0.3, 0.1])
    pos = np.cumsum(rng.integers(40, 120, size=400))
    pos = pos[pos < n - 10]
    for p in pos:
        x[p : p + shape.size] += 0.25 * shape
    fixed, ref = _core_and_float(x, fs, "surface", 60.0)
    assert fixed.size > 0.8 * pos.size
    assert _agreement(fixed, ref) >= 0.99


@pytest.mark.parametrize("fs", [2000.0, 20000.0])
def test_fixed_and_float_agree_across_rates(fs: float) -> None:
    rng = np.random.default_rng(int(fs))
    n = int(fs * 10)
    x = rng.standard_normal(n) * 5.0
    spike = np.exp(-0.5 * ((np.arange(-20, 21) / (fs / 4000.0)) ** 2))
    for p in rng.integers(100, n - 100, size=int(n / fs * 20)):
        x[p - 20 : p + 21] += 40.0 * spike * rng.choice([-1, 1])
    fixed, ref = _core_and_float(x, fs, "needle", None)
    assert fixed.size > 50
    assert _agreement(fixed, ref) >= 0.99
