"""The commands a person runs, as processes, against the simulated sensor: info, stream,
record (BDF+ read back by edfio and MNE), export to BIDS (validator: zero errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import edfio
import numpy as np
import pytest
from recordkit import expected, need_sim_device, write_source

pytestmark = pytest.mark.slow

MUWATCH = str(Path(sys.executable).parent / "muwatch")
VALIDATOR = Path(sys.executable).parent / "bids-validator-deno"


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([MUWATCH, *args], capture_output=True, text=True, timeout=timeout)


def test_info_stream_record_export(tmp_path):
    need_sim_device()
    stem, source = write_source(tmp_path, 30, 1000, n_channels=4, seed=5)
    device = f"sim:{stem}"

    info = _run("info", device, "--json")
    assert info.returncode == 0, info.stderr
    facts = json.loads(info.stdout)
    assert facts["protocol_version"] == 1 and facts["max_channels"] == 8

    stream = _run("stream", device, "--rate", "1000", "--channels", "1-4", "--duration", "2")
    assert stream.returncode == 0, stream.stderr
    assert "lost 0" in stream.stdout

    data = tmp_path / "data"
    bids = tmp_path / "bids"
    rec = _run(
        "record",
        device,
        "--subject",
        "p07",
        "--muscle",
        "first dorsal interosseous",
        "--task",
        "grip",
        "--rate",
        "1000",
        "--channels",
        "1-4",
        "--labels",
        "FDI,APB,ADM,REF",
        "--duration",
        "4",
        "--data-dir",
        str(data),
        "--bids",
        str(bids),
        "--json",
    )
    assert rec.returncode == 0, rec.stderr
    summary = json.loads(rec.stdout)
    assert summary["status"] == "finalised" and summary["lost_samples"] == 0
    n = summary["n_samples"]
    assert 3500 <= n <= 6000
    folder = data / "sessions" / summary["session_id"]
    bdf = edfio.read_bdf(folder / summary["files"]["bdf"])
    got = np.stack([s.digital[:n] for s in bdf.signals], axis=1)
    assert np.array_equal(got, expected(source, n, [1, 2, 3, 4]))

    mne = pytest.importorskip("mne")
    raw = mne.io.read_raw_bdf(folder / summary["files"]["bdf"], verbose="error")
    assert raw.ch_names == ["FDI", "APB", "ADM", "REF"]
    assert raw.info["sfreq"] == 1000.0
    assert raw._orig_units == {c: "µV" for c in raw.ch_names}

    listed = _run("sessions", "--data-dir", str(data), "--json")
    assert json.loads(listed.stdout)[0]["id"] == summary["session_id"]
    if not VALIDATOR.exists():
        pytest.skip("bids-validator-deno not installed")
    val = subprocess.run(
        [str(VALIDATOR), str(bids), "--format", "json"], capture_output=True, text=True, timeout=300
    )
    errors = [i for i in json.loads(val.stdout)["issues"]["issues"] if i["severity"] == "error"]
    assert errors == []


def test_keypress_markers_and_q_to_stop(tmp_path):
    """Keys typed at the terminal while recording: 3 sets marker 3, m marker 0, q stops."""
    import os
    import pty
    import time

    need_sim_device()
    stem, _source = write_source(tmp_path, 30, 1000, n_channels=2, seed=6)
    data = tmp_path / "data"
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [
            MUWATCH,
            "record",
            f"sim:{stem}",
            "--subject",
            "p01",
            "--muscle",
            "FDI",
            "--task",
            "keys",
            "--rate",
            "1000",
            "--channels",
            "1,2",
            "--duration",
            "60",
            "--data-dir",
            str(data),
            "--json",
        ],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        assert p.stderr is not None
        while True:
            line = p.stderr.readline()
            assert line, "the recorder ended before starting"
            if line.startswith("started at"):
                break
        time.sleep(1.5)
        os.write(master, b"3")
        time.sleep(1.0)
        os.write(master, b"m")
        time.sleep(1.0)
        os.write(master, b"q")
        out, err = p.communicate(timeout=60)
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    summary = json.loads(out)
    marks = [a for a in summary["annotations"] if a["kind"] == "marker"]
    assert [m["text"] for m in marks] == ["MARKER 3: key 3", "MARKER 0: key m"]
    assert 0.5 < marks[1]["onset_s"] - marks[0]["onset_s"] < 2.0
    assert summary["duration_s"] < 20, "q stopped the recording"
