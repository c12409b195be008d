"""Sessions from phase schedules, repeated sessions of one subject, and the scenario presets."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch import sim
from muwatch.errors import UsageError


def test_guided_session_has_every_phase_and_trigger() -> None:
    rec = sim.simulate("guided-session", seed=2)
    sched = sim.GUIDED_SCHEDULE
    assert rec.duration == pytest.approx(sum(p.duration for p in sched))
    texts = [a.text for a in rec.annotations]
    for label in (
        "rest (baseline)",
        "MVC",
        "steady 10% MVC",
        "steady 30% MVC",
        "ramp 0-60% MVC",
        "supramaximal stimuli",
        "CMAP scan",
    ):
        assert label in texts
    stim = rec.truth["stimuli"]
    assert len(stim) == 5 + 100 == len(rec.extras["triggers"])
    assert sum(t.startswith("stimulus ") for t in texts) == 105
    # scan intensities descend; supramaximal stimuli fire every unit
    scan = [s for s in stim if s["phase"] == "CMAP scan"]
    assert all(a["intensity_ma"] > b["intensity_ma"] for a, b in zip(scan, scan[1:], strict=False))
    assert all(
        s["n_fired"] == rec.truth["n_units"] for s in stim if s["phase"] == "supramaximal stimuli"
    )
    assert scan[0]["n_fired"] == rec.truth["n_units"] and scan[-1]["n_fired"] == 0
    # voluntary firing only in voluntary phases: none during the baseline rest
    fir = np.concatenate(rec.firings())
    assert not np.any(fir < 5.0)
    assert np.any((fir > 5.0) & (fir < 8.0)), "MVC recruits units"


def test_phase_rms_follows_force() -> None:
    pool = sim.make_pool("ADM", seed=3)
    rec = sim.simulate_session(
        pool,
        [sim.Rest(2.0), sim.Steady(10.0, 2.0), sim.Steady(50.0, 2.0), sim.MVC(2.0, 0.2)],
        fs=2000,
        layout="belly",
        seed=3,
    )

    def rms(a: float, b: float) -> float:
        x = rec.data[0, int(a * rec.fs) : int(b * rec.fs)]
        return float(np.sqrt(np.mean(x**2)))

    assert rms(0.2, 1.8) < rms(2.2, 3.8) < rms(4.2, 5.8) < rms(6.4, 7.6)


def test_cut_session_counts_dropped_stimuli() -> None:
    pool = sim.make_pool("ADM", n_units=30, seed=1)
    rec = sim.simulate_session(
        pool, [sim.Stimuli(10, None, 1.0, 0.5)], seconds=4.0, layout="belly", seed=1
    )
    assert len(rec.truth["stimuli"]) == 4
    assert rec.truth["stimuli_dropped_after_end"] == 6


def test_bad_schedules() -> None:
    pool = sim.make_pool("ADM", n_units=10)
    with pytest.raises(UsageError):
        sim.simulate_session(pool, [])
    with pytest.raises(UsageError):
        sim.simulate_session(pool, [sim.Stimuli(0)])
    with pytest.raises(UsageError):
        sim.simulate_session(pool, [sim.Steady(120.0, 1.0)])
    with pytest.raises(UsageError):
        sim.simulate_session(pool, ["rest"])  # type: ignore[list-item]


def test_repeated_sessions_share_the_subject() -> None:
    recs = sim.simulate_repeats("surface-steady", 3, subject_seed=5, seconds=1.0)
    ids = [tuple(u["id"] for u in r.truth["units"]) for r in recs]
    fibres = [tuple(u["fibres"] for u in r.truth["units"]) for r in recs]
    assert ids[0] == ids[1] == ids[2] and fibres[0] == fibres[1] == fibres[2]
    shifts = [r.truth["session"]["shift_mm"] for r in recs]
    assert len(set(shifts)) == 3
    lat = [r.truth["channels"][0]["lateral_mm"] for r in recs]
    assert lat[1] - lat[0] == pytest.approx(shifts[1] - shifts[0])
    assert not np.allclose(recs[0].data, recs[1].data)


def test_every_preset_runs_and_is_described() -> None:
    desc = sim.describe()
    assert set(desc) == set(sim.scenario_names())
    assert len(desc) >= 10 and all(len(v) > 20 for v in desc.values())
    for name in sim.scenario_names():
        rec = sim.simulate(name, seconds=1.5, seed=1)
        assert rec.data.shape[0] == len(rec.channels) <= 8
        assert np.all(np.isfinite(rec.data))
        assert rec.truth["scenario"] == name and rec.truth["n_units"] > 0


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UsageError, match="known scenarios: surface-steady"):
        sim.simulate("nope")
    with pytest.raises(UsageError, match="unknown scenario option"):
        sim.simulate("cmap", snr=3)
    with pytest.raises(UsageError, match="1000-20000 Hz"):
        sim.simulate("cmap", fs=50)


def test_munix_scenario_has_cmaps_then_graded_sip_epochs() -> None:
    rec = sim.simulate("munix", seed=3)
    texts = [a.text for a in rec.annotations]
    levels = [t for t in texts if t.startswith("SIP ")]
    assert levels == [f"SIP {p}% MVC" for p in range(10, 101, 10)]
    assert sum(t.startswith("stimulus ") for t in texts) == 3
    # SIP power grows with the force level
    powers = []
    for a in rec.annotations:
        if a.text.startswith("SIP "):
            x = rec.data[0, int((a.onset + 0.5) * rec.fs) : int((a.onset + a.duration) * rec.fs)]
            powers.append(float(np.mean(x**2)))
    assert all(b > a for a, b in zip(powers, powers[1:], strict=False))


def test_repeat_sessions_vary_less_than_subjects() -> None:
    def cmap_amp(rec: sim.Recording) -> float:
        return rec.truth["cmap"]["channels"][0]["amplitude_v"]

    same = [cmap_amp(r) for r in sim.simulate_repeats("cmap", 5, subject_seed=7, seconds=1.0)]
    others = [cmap_amp(sim.simulate("cmap", seconds=1.0, seed=s)) for s in range(5)]
    cv_same = np.std(same) / np.mean(same)
    cv_others = np.std(others) / np.mean(others)
    assert 0 < cv_same < cv_others
