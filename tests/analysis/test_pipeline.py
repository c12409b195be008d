"""`analyze` on simulated sessions written as BDF+: what runs, what cannot and why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from muwatch import sim
from muwatch.analysis.pipeline import Annotation, Recording, analyze, load_recording
from muwatch.errors import FileFormatError


@pytest.fixture(scope="module")
def munix_bdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    rec = sim.simulate("munix", seed=3)
    path = sim.write_bdf(rec, tmp_path_factory.mktemp("munix") / "munix.bdf")
    return Path(path), rec.truth


def test_munix_session_gives_munix_and_says_what_could_not_run(munix_bdf) -> None:
    path, truth = munix_bdf
    a = analyze(load_recording(path))
    d = a.to_dict()
    m = d["methods"]["munix"]
    assert m["munix"] is not None and m["n_accepted"] >= 20 and m["r2"] > 0.8
    assert m["musix_uv"] == pytest.approx(
        d["methods"]["cmap"]["amplitude_uv"] / m["munix"], rel=1e-3
    )
    # the simulated CMAP is the sum of the pool's units: amplitude in the truth's range
    assert d["methods"]["cmap"]["n_stimuli"] == 3
    reasons = {n["method"]: n["reason"] for n in d["not_run"]}
    assert "CMAP scan" in reasons["CMAP-scan MUNE"] or "60 stimuli" in reasons["CMAP-scan MUNE"]
    assert "needle" in reasons["jitter"]
    assert d["units"] == []


def test_recording_without_stimulator_has_no_mune_only_indices() -> None:
    pool = sim.make_pool("ADM", seed=2)
    rec = sim.simulate_emg(pool, 3.0, seconds=6, fs=4000, layout="belly", seed=2)
    r = Recording(rec.fs, list(rec.channels), rec.data * 1e6, [], "array")
    d = analyze(r).to_dict()
    reasons = {n["method"]: n["reason"] for n in d["not_run"]}
    for m in ("CMAP", "MUNIX", "CMAP-scan MUNE"):
        assert "without a stimulator there is no CMAP" in reasons[m]
    assert d["indices"]["surface"]["kind"] == "index, not MUNE"
    assert not any(k in d["methods"] for k in ("munix", "cmap_scan", "poisson"))


def test_missing_samples_are_never_analysed() -> None:
    fs = 4000.0
    x = np.random.default_rng(0).normal(0, 5, (1, 8000))
    from muwatch.analysis.pipeline import Annotation

    r = Recording(
        fs, ["EMG1"], x, [Annotation(0.5, 0.25, "BAD_GAP 1000 samples lost (link)")], "array"
    )
    assert not r.ok(1900, 2100) and r.ok(3000, 4000)
    assert int((~r.valid).sum()) == 1000


def test_unknown_files_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hello")
    with pytest.raises(FileFormatError, match="unknown format"):
        load_recording(p)
    bad = tmp_path / "bad.bdf"
    bad.write_bytes(b"0" * 300)
    with pytest.raises(FileFormatError, match="not a readable BDF"):
        load_recording(bad)


def test_needle_recording_gives_qemg_units() -> None:
    rec = sim.simulate("needle-steady", seed=2, seconds=6)
    r = Recording(rec.fs, list(rec.channels), rec.data * 1e6, [], "array")
    d = analyze(r).to_dict()
    assert r.kinds == ["needle"] and d["units"]
    for u in d["units"]:
        assert {
            "p2p_uv",
            "duration_ms",
            "phases",
            "turns",
            "area_uv_ms",
            "size_index",
            "rate_hz",
        } <= set(u)
        assert 100 < u["p2p_uv"] < 20000 and 0.5 < u["duration_ms"] < 20 and u["phases"] >= 1
        assert u["rate_hz"] is None or 4 < u["rate_hz"] < 50
        # a train flagged as mixing units gives no ISI CV (a mixture's CV is not a unit's)
        assert u["firing_consistent"] in (True, False, None)
        if u["firing_consistent"] is False:
            assert u["isi_cv"] is None
    # a rate is withheld only where a train's discharges are not one unit's, never everywhere
    assert any(u["rate_hz"] is not None for u in d["units"])
    assert d["qemg_summary"]["n_units"] == len(d["units"])
    assert d["qemg_summary"]["trains_mixing_units"] == sum(
        u["firing_consistent"] is False for u in d["units"]
    )
    reasons = {n["method"]: n["reason"] for n in d["not_run"]}
    assert "no surface channel" in reasons["MUNIX"]


def test_statistical_mune_from_fixed_blocks_and_the_session_scan() -> None:
    # the guided session's stimulator block: supramaximal stimuli, a CMAP scan, then two
    # 30-stimulus blocks where the scan reaches 20 and 40 % of the CMAP (demo's operator)
    from muwatch.guide import block_intensities

    pool = sim.make_pool("ADM", n_units=60, seed=8)
    pre = sim.simulate_cmap_scan(pool, n_stimuli=300, seed=9)
    y = pre.amplitude_v * 1e6
    block_ma = block_intensities(pre.stim_ma, y, [20, 40])
    schedule = [
        sim.Rest(2.0, "rest (baseline)"),
        sim.Stimuli(5, None, 0.5, 0.5, "supramaximal stimuli"),
        sim.Scan(300, None, 0.05, 0.5, "CMAP scan"),
        sim.Stimuli(30, block_ma[0], 0.2, 0.5, "fixed submaximal block 1 (~20% CMAP)"),
        sim.Stimuli(30, block_ma[1], 0.2, 0.5, "fixed submaximal block 2 (~40% CMAP)"),
    ]
    rec = sim.simulate_session(pool, schedule, fs=2000, layout="belly", seed=8)
    ann = [Annotation(a.onset, a.duration, a.text) for a in rec.annotations]
    r = analyze(Recording(rec.fs, list(rec.channels), rec.data * 1e6, ann, "belly"))
    p = r.methods["poisson"]
    assert "slope" in p["estimator"] and p["rel_spread_assumed"] == pytest.approx(0.02)
    assert [b["used"] for b in p["blocks"]] == [True, True]
    assert all(
        b["intensity_ma"] == pytest.approx(s, abs=0.01)
        for b, s in zip(p["blocks"], block_ma, strict=True)
    )
    # 30 stimuli per block leave a wide spread (bench: 90th percentile error 0.61)
    assert 0.35 * pool.n <= p["mune"] <= 1.65 * pool.n
    # Daube's variance/mean counts the always-firing units' mean: far above N (kept, flagged)
    assert p["mune_classic"] > 2 * pool.n
