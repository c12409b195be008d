"""ADS1299 codes and the signal-source file the firmware's ADS1299 model reads."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from muwatch import sim
from muwatch.errors import FileFormatError, UsageError


def test_code_scale_matches_the_datasheet_lsb() -> None:
    lsb = sim.lsb_volts(24, 4.5)
    assert lsb == pytest.approx(4.5 / 24 / 2**23)
    v = np.array([[1e-3, -1e-3, 0.0, 123 * lsb]])
    codes = sim.to_ads1299_codes(v, gain=24)
    assert codes.shape == (4, 8) and codes.dtype == np.int32
    assert codes[0, 0] == round(1e-3 / lsb)
    assert codes[1, 0] == -round(1e-3 / lsb)
    assert codes[3, 0] == 123
    assert not codes[:, 1:].any(), "unused channels must be 0"
    np.testing.assert_allclose(sim.from_ads1299_codes(codes)[0], v[0], atol=lsb / 2)


def test_saturation_is_counted_and_warned() -> None:
    full = 4.5 / 6
    v = np.array([[0.0, 2 * full, -2 * full, 0.1]])
    with pytest.warns(sim.SaturationWarning, match="2 samples"):
        codes = sim.to_ads1299_codes(v, gain=6)
    assert codes[1, 0] == 2**23 - 1 and codes[2, 0] == -(2**23)


def test_bad_gain_and_too_many_channels() -> None:
    with pytest.raises(UsageError, match="gain"):
        sim.to_ads1299_codes(np.zeros((1, 3)), gain=3)
    with pytest.raises(UsageError, match="8 channels"):
        sim.to_ads1299_codes(np.zeros((9, 3)))
    with pytest.raises(UsageError, match="NaN"):
        sim.to_ads1299_codes(np.array([[np.nan]]))


def test_round_trip_file(tmp_path: Path) -> None:
    rec = sim.simulate("surface-steady", seconds=1.0, fs=2000, seed=1)
    codes = sim.to_ads1299_codes(rec.data, gain=24)
    bin_p, json_p = sim.write_signal_source(
        tmp_path / "src",
        codes,
        rec.fs,
        {"gain": 24, "scenario": rec.scenario, "seed": 1, "channels": rec.channels},
    )
    raw = np.fromfile(bin_p, dtype="<i4")
    assert raw.size == 2000 * 8
    assert raw[0:8].tolist() == codes[0].tolist(), "channels interleaved per sample"
    head = json.loads(json_p.read_text())
    assert head == head | {
        "fs": 2000.0,
        "n_channels": 8,
        "n_samples": 2000,
        "gain": 24,
        "vref": 4.5,
        "seed": 1,
    }
    assert head["channels"][:8] == list(rec.channels)
    back = sim.read_signal_source(tmp_path / "src")
    assert np.array_equal(back.codes, codes)
    assert back.scenario == "surface-steady"
    np.testing.assert_allclose(back.volts()[:8], rec.data, atol=sim.lsb_volts() / 2 + 1e-15)


def test_damaged_files_are_refused(tmp_path: Path) -> None:
    codes = np.zeros((10, 2), dtype=np.int32)
    sim.write_signal_source(tmp_path / "s", codes, 1000, {"gain": 24})
    with open(tmp_path / "s.i32", "ab") as f:
        f.write(b"\0\0")
    with pytest.raises(FileFormatError, match="holds 322 bytes"):
        sim.read_signal_source(tmp_path / "s")
    with pytest.raises(FileFormatError, match="not found"):
        sim.read_signal_source(tmp_path / "absent")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FileFormatError):
        sim.read_signal_source(tmp_path / "bad")
    with pytest.raises(UsageError):
        sim.write_signal_source(
            tmp_path / "x", np.zeros((3, 9), dtype=np.int32), 1000, {"gain": 24}
        )


def test_no_warning_for_normal_emg() -> None:
    rec = sim.simulate("surface-steady", seconds=0.5, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.to_ads1299_codes(rec.data)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sim.ads1299.GAINS), st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=50))
def test_codes_round_trip_within_half_an_lsb(gain: int, fractions: list[float]) -> None:
    full = 4.5 / gain
    v = np.array([fractions]) * full * (1 - 1e-7)
    codes = sim.to_ads1299_codes(v, gain=gain)
    back = sim.from_ads1299_codes(codes, gain=gain)[0]
    assert np.all(np.abs(back - v[0]) <= sim.lsb_volts(gain) / 2 * (1 + 1e-9))
