"""Noise, interference and artifacts: set levels are met, every artifact is logged, each is switchable."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch import sim


def _pair(**noise: float) -> tuple[sim.Recording, sim.Recording]:
    pool = sim.make_pool("ADM", n_units=80, seed=2)
    clean = sim.simulate_emg(
        pool, 20.0, seconds=4.0, fs=2000, layout="belly", noise=sim.CLEAN, seed=2
    )
    noisy = sim.simulate_emg(
        pool, 20.0, seconds=4.0, fs=2000, layout="belly", noise=sim.NoiseConfig(**noise), seed=2
    )
    return clean, noisy


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_snr_is_met(snr: float) -> None:
    clean, noisy = _pair(snr_db=snr)
    resid = noisy.data - clean.data
    got = 20 * np.log10(np.sqrt(np.mean(clean.data**2)) / np.sqrt(np.mean(resid**2)))
    assert got == pytest.approx(snr, abs=0.2)
    assert noisy.truth["noise"]["sd_v"][0] == pytest.approx(np.std(resid), rel=0.02)


def test_peak_snr_and_unit_snr() -> None:
    rec = sim.simulate("needle-steady", seconds=2.0, seed=4, peak_snr_db=12.0)
    sd = rec.truth["noise"]["sd_v"][0]
    snr = np.array([u["snr"][0] for u in rec.truth["units"]])
    peak = np.array([abs(u["peak_amplitude_v"][0]) for u in rec.truth["units"]])
    np.testing.assert_allclose(snr, peak / sd)
    assert snr.max() > 10 ** (12 / 20)


def test_mains_shows_at_its_frequency() -> None:
    clean, noisy = _pair(floor_uv_rms=0.0, mains_uv=30.0, mains_hz=60.0)
    resid = noisy.data[0] - clean.data[0]
    spec = np.abs(np.fft.rfft(resid))
    f = np.fft.rfftfreq(resid.size, 1 / 2000)
    assert f[np.argmax(spec)] == pytest.approx(60.0, abs=0.5)
    assert spec[np.argmin(np.abs(f - 180))] > 10 * np.median(spec)


def test_artifacts_are_logged_and_annotated() -> None:
    clean, noisy = _pair(floor_uv_rms=0.0, motion_per_min=30.0, pops_per_min=30.0)
    arts = noisy.truth["artifacts"]
    kinds = {a["kind"] for a in arts}
    assert kinds == {"motion", "pop"}
    resid = noisy.data[0] - clean.data[0]
    for a in arts:
        i0 = int(a["onset_s"] * 2000)
        i1 = int((a["onset_s"] + min(a["duration_s"], 0.1)) * 2000)
        assert np.abs(resid[i0 : i1 + 1]).max() > 0, (
            f"{a['kind']} at {a['onset_s']:.2f} s left no trace"
        )
    outside = np.ones(resid.size, bool)
    for a in arts:
        outside[int(a["onset_s"] * 2000) : int((a["onset_s"] + a["duration_s"]) * 2000) + 2] = False
    assert np.abs(resid[outside]).max() < 1e-12, "nothing added outside the logged artifacts"
    assert sum(x.text.startswith("artifact: ") for x in noisy.annotations) == len(arts)


def test_everything_off_is_the_clean_signal() -> None:
    clean, noisy = _pair(floor_uv_rms=0.0)
    assert np.array_equal(clean.data, noisy.data)
    assert noisy.truth["artifacts"] == []


def test_wander_is_slow() -> None:
    clean, noisy = _pair(floor_uv_rms=0.0, wander_uv=100.0)
    resid = noisy.data[0] - clean.data[0]
    spec = np.abs(np.fft.rfft(resid * np.hanning(resid.size))) ** 2
    f = np.fft.rfftfreq(resid.size, 1 / 2000)
    assert spec[f < 2.0].sum() > 0.99 * spec.sum()
