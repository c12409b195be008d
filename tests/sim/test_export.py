"""BDF+ export opened back with edfio and MNE: names, units, rate, samples and annotations."""

from __future__ import annotations

import warnings
from pathlib import Path

import edfio
import mne
import numpy as np
import pytest
from muwatch import sim


@pytest.fixture(scope="module")
def session_rec() -> sim.Recording:
    pool = sim.make_pool("ADM", n_units=60, seed=8)
    sched = [
        sim.Rest(1.0),
        sim.Steady(20.0, 2.0),
        sim.Stimuli(3, None, 0.5, 0.25),
        sim.Scan(6, None, 0.25, 0.25),
    ]
    return sim.simulate_session(
        pool, sched, fs=2000, layout="array8", seed=8, noise=sim.NoiseConfig(mains_uv=5.0)
    )


def test_bdf_opens_in_edfio_and_mne(session_rec: sim.Recording, tmp_path: Path) -> None:
    rec = session_rec
    path = sim.write_bdf(rec, tmp_path / "s.bdf")
    b = edfio.read_bdf(path)
    assert b.labels == rec.channels
    assert all(s.physical_dimension == "uV" and s.sampling_frequency == 2000 for s in b.signals)
    ed_ann = [(round(a.onset, 6), a.text) for a in b.annotations]
    for a in rec.annotations:
        assert (round(a.onset, 6), a.text) in ed_ann

    raw = mne.io.read_raw_bdf(path, preload=True, verbose="error")
    assert raw.ch_names == list(rec.channels)
    assert raw.info["sfreq"] == 2000
    assert set(raw._orig_units.values()) == {"µV"}
    lsb = sim.lsb_volts(24)
    np.testing.assert_allclose(raw.get_data(), rec.data, atol=lsb)  # volts, to one ADS1299 code
    desc = list(raw.annotations.description)
    assert desc.count("supramaximal stimuli") == 1 and desc.count("CMAP scan") == 1
    stims = [
        o for o, d in zip(raw.annotations.onset, desc, strict=True) if d.startswith("stimulus ")
    ]
    np.testing.assert_allclose(stims, rec.extras["triggers"], atol=1e-6)
    truth = sim.read_truth(sim.truth_path(path))
    assert truth["n_units"] == 60 and len(truth["stimuli"]) == 9


def test_odd_length_is_padded_and_says_so(tmp_path: Path) -> None:
    rec = sim.simulate("surface-steady", seconds=1.2345, fs=2000, seed=1)
    path = sim.write_bdf(rec, tmp_path / "odd.bdf", truth_sidecar=False)
    raw = mne.io.read_raw_bdf(path, preload=True, verbose="error")
    assert raw.n_times >= rec.n_samples
    if raw.n_times > rec.n_samples:
        assert "padding (not recorded)" in list(raw.annotations.description)
    np.testing.assert_allclose(raw.get_data()[:, : rec.n_samples], rec.data, atol=sim.lsb_volts(24))
    assert not sim.truth_path(path).exists()


def test_clipping_in_the_bdf_warns(tmp_path: Path) -> None:
    rec = sim.simulate("cmap", seconds=1.0, seed=1)
    with pytest.warns(sim.SaturationWarning):
        sim.write_bdf(rec, tmp_path / "c.bdf", gain=24, truth_sidecar=False)  # fine at 24...
        rec.data[0, 10] = 1.0  # ...but 1 V is beyond ±187.5 mV
        sim.write_bdf(rec, tmp_path / "c2.bdf", gain=24, truth_sidecar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec.data[0, 10] = 0.0
        sim.write_bdf(rec, tmp_path / "c3.bdf", truth_sidecar=False)


@pytest.mark.parametrize("fs", [1000.0, 2500.0, 20000.0])
def test_any_rate_from_1_to_20_khz_exports(fs: float, tmp_path: Path) -> None:
    rec = sim.simulate("needle-steady", seconds=0.5, fs=fs, seed=1)
    assert rec.n_samples == int(0.5 * fs)
    raw = mne.io.read_raw_bdf(
        sim.write_bdf(rec, tmp_path / "r.bdf"), preload=False, verbose="error"
    )
    assert raw.info["sfreq"] == fs


def test_a_rate_without_whole_samples_per_record_is_refused(tmp_path: Path) -> None:
    from muwatch.errors import UsageError

    rec = sim.simulate("needle-steady", seconds=0.2, fs=1234.567, seed=1)
    with pytest.raises(UsageError, match="whole number of samples"):
        sim.write_bdf(rec, tmp_path / "r.bdf")
