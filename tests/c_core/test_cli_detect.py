"""`muwatch detect` on a WFDB needle record and on a BDF+ file; JSON form; errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from muwatch.cli import main


@pytest.fixture(scope="module")
def needle() -> tuple[np.ndarray, float]:
    from muwatch import sim

    rec = sim.simulate("needle-steady", seconds=4, seed=5, fs=10000.0)
    return rec.data[0] * 1e3, rec.fs  # mV


@pytest.fixture(scope="module")
def wfdb_record(tmp_path_factory: pytest.TempPathFactory, needle) -> Path:
    import wfdb

    x, fs = needle
    d = tmp_path_factory.mktemp("wfdb")
    sig = np.column_stack([x, 0.5 * x])
    wfdb.wrsamp(
        "needle1",
        fs=fs,
        units=["mV", "mV"],
        sig_name=["EMG", "EMG2"],
        p_signal=sig,
        fmt=["16", "16"],
        write_dir=str(d),
    )
    return d / "needle1.hea"


@pytest.fixture(scope="module")
def bdf_file(tmp_path_factory: pytest.TempPathFactory, needle) -> Path:
    import edfio

    x, fs = needle
    d = tmp_path_factory.mktemp("bdf")
    uv = x * 1e3
    sigs = [
        edfio.BdfSignal(
            uv, fs, label="ADM", physical_dimension="uV", physical_range=(-20000.0, 20000.0)
        ),
        edfio.BdfSignal(
            np.zeros_like(uv),
            fs,
            label="REF",
            physical_dimension="uV",
            physical_range=(-20000.0, 20000.0),
        ),
    ]
    bdf = edfio.Bdf(sigs, annotations=[edfio.EdfAnnotation(1.0, None, "needle in")])
    path = d / "rec.bdf"
    bdf.write(path)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["detect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_wfdb_record_json(capsys, wfdb_record: Path) -> None:
    code, out, _ = _run(capsys, str(wfdb_record), "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"fs", "channel", "spikes"}
    assert doc["fs"] == 10000.0 and doc["channel"] == "EMG"
    assert len(doc["spikes"]) > 20
    assert set(doc["spikes"][0]) == {"t", "amplitude", "unit"}
    assert all(s["unit"] is None for s in doc["spikes"])
    t = [s["t"] for s in doc["spikes"]]
    assert t == sorted(t) and 0 <= t[0] and t[-1] <= 4.0


def test_wfdb_sort_gives_per_unit_trains(capsys, wfdb_record: Path) -> None:
    code, out, _ = _run(capsys, str(wfdb_record), "--sort", "--json", "--channel", "0")
    assert code == 0
    spikes = json.loads(out)["spikes"]
    units = [s["unit"] for s in spikes if s["unit"] is not None]
    assert len(units) > 0.5 * len(spikes)
    code, text, _ = _run(capsys, str(wfdb_record), "--sort")
    assert code == 0 and "unit 0:" in text and "Hz" in text


def test_bdf_plus_by_channel_name(capsys, bdf_file: Path, wfdb_record: Path) -> None:
    code, out, _ = _run(capsys, str(bdf_file), "--channel", "ADM", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["channel"] == "ADM" and len(doc["spikes"]) > 20
    # same signal, other unit and container: the same spikes
    _, ref, _ = _run(capsys, str(wfdb_record), "--json")
    a = np.array([s["t"] for s in doc["spikes"]])
    b = np.array([s["t"] for s in json.loads(ref)["spikes"]])
    assert abs(a.size - b.size) <= 0.05 * b.size + 1
    code, text, _ = _run(capsys, str(bdf_file), "--preset", "surface")
    assert code == 0 and "preset surface" in text


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["{bdf}", "--channel", "7"], 2, "out of range"),
        (["{bdf}", "--channel", "BICEPS"], 2, "no channel named"),
        (["{missing}"], 4, "no such file"),
        (["{junk}"], 4, "not a readable BDF"),
        (["{txt}"], 4, "unknown format"),
    ],
)
def test_clear_errors(capsys, bdf_file: Path, tmp_path: Path, args, code, message) -> None:
    junk = tmp_path / "junk.bdf"
    junk.write_bytes(b"0       not a bdf header" * 20)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    paths = {"bdf": bdf_file, "missing": tmp_path / "nope.edf", "junk": junk, "txt": txt}
    got, _, err = _run(capsys, *[a.format(**paths) for a in args])
    assert got == code
    assert message in err


def test_bad_preset_is_a_usage_error(capsys, bdf_file: Path) -> None:
    got, out, err = _run(capsys, str(bdf_file), "--preset", "fast")
    assert got == 2 and "fast" in (out + err)
