"""`make demo` end to end: simulated subject -> MicroPython firmware on the simulated board ->
simulated BLE radio -> bleak (bumble backend) -> guided session with a scripted participant ->
analysis; the key numbers must sit within their stated tolerance of the simulation's truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from muwatch.errors import DeviceError

    try:
        from muwatch.sim.device import micropython_binary
        from muwatch.sim.radio_twin import BleTwin  # noqa: F401

        micropython_binary()
    except (ImportError, DeviceError) as exc:
        pytest.skip(f"the simulated sensor or radio is not available: {exc}")
    from muwatch.demo import main

    rc = main(["--out", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "all numbers within tolerance" in out and "report:" in out
    truth = json.loads((tmp_path / "demo" / "truth.json").read_text())
    d = json.loads((tmp_path / "demo" / "analysis.json").read_text())
    assert abs(d["methods"]["cmap_scan"]["mune"] - truth["n_units"]) <= 0.3 * truth["n_units"]
    assert d["methods"]["munix"]["munix"] is not None
    assert d["recording"]["missing_samples"] == 0
    report = next((tmp_path / "demo" / "data" / "sessions").glob("*/report.html")).read_text()
    assert 'alt="MUNIX regression"' in report and 'alt="CMAP scan: MUNE' in report
