"""CMAPs, CMAP scans (Bostock 2016) and the degeneration series."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch import sim
from muwatch.errors import UsageError
from muwatch.sim.evoked import bostock_units, degenerate, scan_from_units


@pytest.mark.parametrize("name", sim.muscle_names())
def test_cmap_amplitude_in_the_muscles_normal_range(name: str) -> None:
    m = sim.muscle(name)
    lo, hi = m.cmap_range_v
    for seed in range(6):
        pool = sim.make_pool(name, seed=seed)
        rec = sim.simulate_cmap(pool, seed=seed)
        cm = rec.truth["cmap"]["channels"][0]
        assert lo <= cm["amplitude_v"] <= hi, (
            f"{name} seed {seed}: CMAP {cm['amplitude_v'] * 1e3:.2f} mV"
        )
        # cancellation is physiological: some, but not most, of the summed S-MUPs
        assert 0.05 < cm["phase_cancellation"] < 0.5
        # distal latency: onset a few ms after the stimulus
        assert 1.5e-3 < cm["onset_s"] < 6e-3


def test_recorded_cmap_matches_its_truth() -> None:
    pool = sim.make_pool("ADM", seed=4)
    rec = sim.simulate_cmap(pool, n_stimuli=3, fs=10000, seed=4)
    truth = rec.truth["cmap"]["channels"][0]
    assert rec.extras["triggers"] == pytest.approx([0.1, 1.1, 2.1])
    for t in rec.extras["triggers"]:
        i = int(round(t * rec.fs))
        # the artifact is at the trigger; the CMAP's negative peak follows within 2-15 ms
        assert np.abs(rec.data[0, i : i + 3]).max() > 5e-3
        win = rec.data[0, i + 20 : i + 150]
        assert -win.min() == pytest.approx(truth["amplitude_v"], rel=0.03)
    assert all(s["n_fired"] == pool.n for s in rec.truth["stimuli"])


def test_fire_probability_is_bostocks_normal_model() -> None:
    thr = np.array([20.0, 30.0])
    rs = np.array([0.02, 0.01])
    p = sim.fire_probability([20.0, 30.3, 29.7], thr, rs)
    assert p[0, 0] == pytest.approx(0.5)
    assert p[1, 1] == pytest.approx(0.8413, abs=1e-4)  # +1 SD
    assert p[2, 1] == pytest.approx(0.1587, abs=1e-4)  # -1 SD


def test_scan_of_a_pool() -> None:
    pool = sim.make_pool("ADM", seed=5)
    scan = sim.simulate_cmap_scan(pool, n_stimuli=450, seed=5)
    assert scan.n_units == pool.n and scan.stim_ma.size == 450
    assert np.all(np.diff(scan.stim_ma) < 0), "a scan descends from supramaximal"
    total = pool.surface_amplitude(0.0).sum()
    assert scan.amplitude_v[:5] == pytest.approx(np.full(5, total), abs=5 * 5e-6)
    assert np.abs(scan.amplitude_v[-5:]).max() < 5 * 5e-6
    # each unit fires at each stimulus with Φ((s − θ)/(θ·RS)): check the counts statistically
    p = sim.fire_probability(scan.stim_ma, pool.threshold_ma, pool.rel_spread)
    expected, seen = p.sum(axis=0), scan.fired.sum(axis=0)
    assert np.all(np.abs(seen - expected) <= 4 * np.sqrt(np.maximum((p * (1 - p)).sum(axis=0), 1)))


def test_bostock_units() -> None:
    amp, thr, rs = bostock_units(160, seed=1)
    assert amp.min() >= 25e-6
    assert amp.mean() == pytest.approx(62.5e-6, rel=0.15)
    assert thr.mean() == pytest.approx(26.5, abs=0.6) and thr.std() == pytest.approx(2.0, rel=0.2)
    assert np.all(rs == 0.0165)


def test_degeneration_cycle_conserves_adopted_amplitude() -> None:
    amp, thr, rs = bostock_units(160, seed=2)
    rng = np.random.default_rng(0)
    a2, t2, r2 = degenerate(amp, thr, rs, rng, death=0.5, adoption=0.6)
    assert a2.size == 80
    # thresholds of survivors are kept, so the dead are the ones missing
    dead = ~np.isin(thr, t2)
    assert a2.sum() == pytest.approx(amp[~dead].sum() + 0.6 * amp[dead].sum())
    with pytest.raises(UsageError):
        degenerate(amp[:1], thr[:1], rs[:1], rng, death=1.0)


def test_degeneration_series_is_bostocks_60_scans() -> None:
    scans = sim.degeneration_series(n_stimuli=100)
    assert len(scans) == 60
    assert [s.n_units for s in scans[:6]] == [160, 80, 40, 20, 10, 5]
    assert {s.meta["series_seed"] for s in scans} == set(range(10))
    for s in scans:
        assert s.stim_ma[0] == 33.0 and s.stim_ma[-1] == 20.0
        assert s.noise_sd_v == 5e-6
    # the maximal CMAP shrinks as units die (40 % of orphaned fibres are lost each cycle)
    cmax = [s.truth()["cmap_max_v"] for s in scans[:6]]
    assert all(b < a for a, b in zip(cmax, cmax[1:], strict=False))


def test_scan_range_errors() -> None:
    amp, thr, rs = bostock_units(10)
    with pytest.raises(UsageError, match="range"):
        scan_from_units(amp, thr, rs, range_ma=(30.0, 20.0))
    with pytest.raises(UsageError, match="2 stimuli"):
        scan_from_units(amp, thr, rs, n_stimuli=1)
