"""MUNIX identities the simulator must honour (science.md; Nandedkar et al. 2004).

ICMUC = (CMAP power × SIP area) / (CMAP area × SIP power). For identical MUAPs that do not
overlap in the SIP and sum without cancellation in the CMAP it equals N; for one shared shape
with sizes sᵢ it is (Σsᵢ)²/Σsᵢ² = N/(1 + CV²); it falls as MUAPs overlap at higher force.
Sampled at 10 kHz the discrete sums agree with the integrals to < 0.1 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from muwatch import sim
from muwatch.sim.emg import render_voluntary


def _area_power(x: np.ndarray, fs: float) -> tuple[float, float]:
    return float(np.abs(x).sum() / fs), float((x**2).sum() / fs)


def _icmuc(pool: sim.MotorUnitPool, fs: float = 10000.0) -> float:
    lay = sim.make_layout("belly", pool.muscle)
    cmap = sim.cmap_waveform(pool, lay, fs)[0]
    trains = [np.array([0.05 + 0.04 * u]) for u in range(pool.n)]  # one discharge each, 40 ms apart
    n = int((0.1 + 0.04 * pool.n) * fs)
    sip, _ = render_voluntary(pool, trains, lay, fs, n, seed=0, scenario="icmuc")
    a_c, p_c = _area_power(cmap, fs)
    a_s, p_s = _area_power(sip[0], fs)
    return p_c * a_s / (a_c * p_s)


@pytest.mark.parametrize("n_units", [20, 77, 160])
def test_icmuc_equals_n_for_identical_muaps(n_units: int) -> None:
    pool = sim.make_pool("ADM", n_units=n_units, seed=1, variability="identical")
    assert _icmuc(pool) == pytest.approx(n_units, rel=1e-3)


@pytest.mark.parametrize("muscle", ["ADM", "TA"])
def test_icmuc_is_n_over_one_plus_cv2_for_unequal_sizes(muscle: str) -> None:
    pool = sim.make_pool(muscle, n_units=100, seed=2, variability="shared_shape")
    sizes = pool.surface_amplitude(0.0)
    cv = sizes.std() / sizes.mean()
    assert cv > 0.5, "the sizes must really differ for this check to mean anything"
    assert _icmuc(pool) == pytest.approx(100 / (1 + cv**2), rel=1e-3)


def test_icmuc_falls_as_overlap_grows_with_force() -> None:
    pool = sim.make_pool("ADM", seed=3)
    lay = sim.make_layout("belly", pool.muscle)
    fs = 4000.0
    cmap = sim.cmap_waveform(pool, lay, fs)[0]
    a_c, p_c = _area_power(cmap, fs)
    values = []
    for pct in (5.0, 30.0, 80.0):
        rec = sim.simulate_emg(pool, pct, seconds=3.0, fs=fs, layout=lay, noise=sim.CLEAN, seed=3)
        a_s, p_s = _area_power(rec.data[0], fs)
        values.append(p_c * a_s / (a_c * p_s))
    assert values[0] > values[1] > values[2]
