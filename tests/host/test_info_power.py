"""`muwatch info` against the firmware twin says whether the sensor runs on battery or USB
power (GET_STATUS link_flags bit 3, the board's CHARGE_STAT pin; docs/safety.md)."""

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
