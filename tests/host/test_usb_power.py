"""Against the firmware twin: `muwatch info` says whether the sensor runs on battery or USB
power (GET_STATUS link_flags bit 3, the board's CHARGE_STAT pin; docs/safety.md), and
`muwatch record` warns about USB power and writes it into the file."""

from __future__ import annotations

import json

import pytest
from muwatch.cli import main


def _twin(scenario):  # type: ignore[no-untyped-def]
    from muwatch.errors import DeviceError

    try:
        from muwatch.sim.device import SimDevice, SimDeviceConfig, micropython_binary

        micropython_binary()
    except (ImportError, DeviceError) as exc:
        pytest.skip(f"the simulated sensor (MicroPython unix port) is not available: {exc}")
    return SimDevice(SimDeviceConfig(scenario=scenario))


@pytest.mark.parametrize("usb", [True, False])
def test_info_shows_the_power_source(usb, tmp_path, capsys):
    scenario = None
    if usb:  # the cable is plugged from the start: CHARGE_STAT pulled low
        scenario = tmp_path / "usb.json"
        scenario.write_text(json.dumps([{"t": 0, "usb_power": True}]))
    with _twin(scenario) as sim:
        url = sim.serve_socket()
        assert main(["info", url, "--timeout", "20"]) == 0
        text = capsys.readouterr().out
        assert main(["info", url, "--json", "--timeout", "20"]) == 0
        facts = json.loads(capsys.readouterr().out)
    if usb:
        assert "power: USB" in text and "docs/safety.md" in text
        assert facts["power"] == "usb"
    else:
        assert "power: battery" in text and "power: USB" not in text
        assert facts["power"] == "battery"


def test_record_on_usb_power_warns_and_writes_it_into_the_file(tmp_path, monkeypatch, capsys):
    """`muwatch record` on the twin with the cable plugged: warned on stderr, annotated in the
    BDF+, and recorded all the same (the rule is the person's to keep, bench use is legal)."""
    import edfio

    _twin(None).close()  # skips when the twin cannot run (nothing is started here)
    scenario = tmp_path / "usb.json"
    scenario.write_text(json.dumps([{"t": 0, "usb_power": True}]))
    monkeypatch.setenv("MUWATCH_SIM_SCENARIO", str(scenario))  # inherited by `sim`'s process
    data = tmp_path / "data"
    args = ["record", "sim", "--subject", "p01", "--muscle", "FDI", "--task", "grip"]
    args += ["--rate", "1000", "--channels", "1", "--duration", "1.5", "--data-dir", str(data)]
    assert main([*args, "--json"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["status"] == "finalised" and summary["n_samples"] > 0
    assert "warning: the sensor is on USB power: never record from electrodes" in out.err
    folder = data / "sessions" / summary["session_id"]
    bdf = edfio.read_bdf(folder / summary["files"]["bdf"])
    assert any(a.text.startswith("USB_POWER the sensor is on USB power") for a in bdf.annotations)
    meta = json.loads((folder / "session.json").read_text())["meta"]
    assert meta["device"]["power_at_start"] == "usb"
