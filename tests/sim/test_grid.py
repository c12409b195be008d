"""The detection grid: a detector function scored over simulated cases."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch import sim
from muwatch.eval import detection_grid, summarise, truth_trains


def test_an_oracle_scores_perfectly_and_a_silent_detector_scores_zero() -> None:
    cases = (
        ("needle-steady", {"peak_snr_db": 14.0}),
        ("surface-aged", {"force_pct": 1.0, "layout": "bipolar"}),  # near-threshold force
    )

    def oracle(x: np.ndarray, fs: float) -> np.ndarray:
        # cheat: regenerate the same recording and read the truth (same seed, same bytes)
        for name, ov in cases:
            for seed in (0,):
                rec = sim.simulate(name, seconds=2.0, seed=seed, **ov)
                if np.array_equal(rec.data[0], x):
                    inc, _, _ = truth_trains(rec.truth, 0, min_snr=4.0, measure="sir")
                    return np.concatenate(list(inc.values()))
        raise AssertionError("recording not found")

    rows = detection_grid(oracle, cases, seeds=(0,), seconds=2.0)
    assert len(rows) == 4
    for r in rows:
        assert r["n_units"] >= 1, "every case must have at least one target unit"
        assert r["recall"] == 1.0 and r["precision"] == 1.0
    silent = summarise(detection_grid(lambda x, fs: np.empty(0), cases, seeds=(0,), seconds=2.0))
    assert all(s["recall"] == 0.0 for s in silent)


def test_sir_is_peak_over_the_channels_robust_sd() -> None:
    rec = sim.simulate("surface-steady", seconds=2.0, seed=1)
    bg = rec.truth["noise"]["background_sd_v"]
    x = rec.data - np.median(rec.data, axis=1, keepdims=True)
    np.testing.assert_allclose(bg, np.median(np.abs(x), axis=1) / 0.6745)
    u = rec.truth["units"][-1]
    np.testing.assert_allclose(u["sir"], np.abs(u["peak_amplitude_v"]) / np.asarray(bg))


def test_bipolar_channels_subtract_the_propagated_copy() -> None:
    pool = sim.make_pool("ADM", n_units=20, seed=2)
    mono = sim.simulate_emg(
        pool, 30.0, seconds=1.0, fs=10000, layout="belly", noise=sim.CLEAN, seed=2
    )
    bip = sim.simulate_emg(
        pool, 30.0, seconds=1.0, fs=10000, layout="bipolar", noise=sim.CLEAN, seed=2
    )
    tm = np.asarray(mono.truth["templates"]["units"][5][0])
    tb = np.asarray(bip.truth["templates"]["units"][5][0])
    delay = 10e-3 / pool.fibre_cv_m_s[5]  # 10 mm at the unit's fibre conduction velocity
    t = np.arange(tb.size) / 10000
    tm_t = np.arange(tm.size) / 10000
    expected = np.interp(t, tm_t, tm, right=0.0) - np.interp(
        t - delay, tm_t, tm, left=0.0, right=0.0
    )
    np.testing.assert_allclose(tb, expected, atol=0.02 * np.abs(tm).max())
    assert abs(np.sum(tb)) < 0.05 * np.abs(tb).sum(), "a bipolar MUAP has (almost) no net area"


def test_jiggle_truth_grows_with_jitter_and_blocking() -> None:
    def median_cad(rec: sim.Recording) -> float:
        units = rec.truth["needle"]["channels"][0]["units"]
        return float(np.median([u["jiggle"]["cad_pct"] for u in units if u.get("jiggle")]))

    normal = sim.simulate("needle-steady", seconds=4.0, seed=4, force_pct=20.0)
    unstable = sim.simulate("nmj-instability", seconds=4.0, seed=4, force_pct=20.0)
    assert median_cad(unstable) > 1.5 * median_cad(normal)
    for u in normal.truth["needle"]["channels"][0]["units"]:
        if u.get("jiggle"):
            assert 0.0 <= u["jiggle"]["cad_pct"] <= 200.0 and -1.0 <= u["jiggle"]["ccc"] <= 1.0


@pytest.mark.parametrize("what", [("bdf",), ("truth", "source")])
def test_save_recording_writes_what_is_asked(what: tuple[str, ...], tmp_path) -> None:  # noqa: ANN001
    rec = sim.simulate("cmap", seconds=1.0, seed=2)
    files = sim.save_recording(rec, tmp_path / "r", what=what)
    names = sorted(p.name for p in files)
    expected = {"bdf": ["r.bdf"], "truth": ["r_truth.json"], "source": ["r.i32", "r.json"]}
    assert names == sorted(n for w in what for n in expected[w])
