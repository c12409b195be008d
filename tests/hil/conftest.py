"""Hardware-in-the-loop suite: one set of tests, two kinds of target (docs/hil.md).

    pytest tests/hil                                   # --dut sim: starts the twin
    pytest tests/hil --dut serial:/dev/ttyACM0 --ble muw-1A2B [--ble-backend bumble:usb:0]
    pytest tests/hil --dut ble:muw-1A2B                # a sensor reachable over BLE only

The twin is the firmware (main.py, unchanged) in the MicroPython unix port on the simulated
board, reached over the simulated radio (muwatch.sim.radio_twin.BleTwin); its ADS1299 model
plays a known signal, so samples can be compared with what was played. A bench sensor is
reached through the OS Bluetooth stack (or --ble-backend). Tests needing what a target lacks
(a radio fault injector, a known source, an unplugged electrode) skip and say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Channel whose positive electrode the twin's scenario leaves off (lead-off detection test).
TWIN_OFF_ELECTRODE = 3
#: The twin's signal source: 8 channels, gain 24, looped by the ADS1299 model.
SOURCE_GAIN = 24
SOURCE_SAMPLES = 24000


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop suite (tests/hil)")
    group.addoption(
        "--dut",
        default="sim",
        help="device under test: sim (the simulated twin, default), serial:PATH (a sensor on a "
        "serial port; add --ble NAME for its BLE tests) or ble:NAME",
    )
    group.addoption("--ble", default=None, metavar="NAME", help="the bench sensor's BLE name")
    group.addoption(
        "--ble-backend",
        dest="hil_ble_backend",
        default=None,
        metavar="SPEC",
        help="bleak backend for a bench sensor: the OS stack by default, or bumble:usb:0",
    )
    group.addoption(
        "--off-electrode",
        type=int,
        default=None,
        metavar="CH",
        help="bench only: channel whose positive electrode is left unconnected (lead-off test)",
    )


@dataclass
class Target:
    """What the suite talks to, and what it can do."""

    kind: str  # "sim" or "bench"
    ble_name: str | None = None
    ble_backend: str | None = None
    serial: str | None = None
    source: np.ndarray | None = None  # codes played by the twin's ADS1299 model (n, 8)
    radio_control: str | None = None  # the simulated radio's fault injector
    off_electrode: int | None = None
    twin: Any = None
    notes: list[str] = field(default_factory=list)

    def need_ble(self) -> None:
        if self.ble_name is None:
            pytest.skip("no BLE target: give --ble NAME (the sensor's advertised name)")

    def need_radio_control(self) -> None:
        if self.radio_control is None:
            pytest.skip(
                "this target has no radio fault injector: the outage tests run on the twin "
                "(--dut sim), whose simulated radio can silence the air on demand"
            )

    def need_source(self) -> None:
        if self.source is None:
            pytest.skip("only the twin knows the exact signal it plays (--dut sim)")

    def need_off_electrode(self) -> int:
        if self.off_electrode is None:
            pytest.skip(
                "lead-off detection needs an unplugged electrode: on a bench, leave one "
                "positive input open and pass --off-electrode CH"
            )
        return self.off_electrode


def _source_codes() -> np.ndarray:
    """Deterministic 8-channel EMG-like test pattern: tones plus noise, in ADS1299 codes."""
    rng = np.random.default_rng(2024)
    t = np.arange(SOURCE_SAMPLES) / 2000.0
    codes = np.empty((SOURCE_SAMPLES, 8), dtype=np.int64)
    for c in range(8):
        tone = 40000 * np.sin(2 * np.pi * (13 + 7 * c) * t + c)
        codes[:, c] = np.round(tone + rng.normal(0, 3000, SOURCE_SAMPLES)).astype(np.int64)
    return codes


def _start_twin(workdir: Path) -> Target:
    from muwatch.sim.ads1299 import write_signal_source
    from muwatch.sim.device import SimDeviceConfig
    from muwatch.sim.radio_twin import BleTwin, RadioOptions

    codes = _source_codes()
    stem = workdir / "hil-source"
    write_signal_source(stem, codes, 2000.0, {"gain": SOURCE_GAIN})
    scenario = workdir / "scenario.json"
    lead_off = [{"t": 0, "lead_off": [1 << (TWIN_OFF_ELECTRODE - 1), 0]}]
    scenario.write_text(json.dumps(lead_off))
    root = workdir / "flash"
    root.mkdir()
    cfg = SimDeviceConfig(root=root, signal=stem, scenario=scenario)
    # 2M PHY: what a current host negotiates with an ESP32-S3; it carries 8 ch x 4 kHz.
    twin = BleTwin(cfg, RadioOptions(phy="2M")).start()
    return Target(
        kind="sim",
        ble_name=twin.name,
        ble_backend=twin.backend_spec,
        serial=twin.serial,
        source=codes,
        radio_control=twin.control,
        off_electrode=TWIN_OFF_ELECTRODE,
        twin=twin,
    )


@pytest.fixture(scope="session")
def dut(request: pytest.FixtureRequest):
    # Defaults too: when the whole tree runs (`make test`), this conftest is not an initial
    # one and its options may be unregistered; the twin is the default target.
    spec: str = request.config.getoption("--dut", default="sim")
    if spec == "sim":
        workdir = Path(tempfile.mkdtemp(prefix="muwatch-hil-"))
        target = _start_twin(workdir)
        try:
            yield target
        finally:
            target.twin.close()
        return
    ble = request.config.getoption("--ble", default=None)
    backend = request.config.getoption("hil_ble_backend", default=None)
    off = request.config.getoption("--off-electrode", default=None)
    if spec.startswith("serial:"):
        port = spec[len("serial:") :]
        if not os.path.exists(port) and "://" not in port:
            pytest.skip(f"serial port {port} is not there (is the sensor plugged in?)")
        yield Target("bench", ble, backend, port, off_electrode=off)
    elif spec.startswith("ble:"):
        yield Target("bench", spec[len("ble:") :], backend, None, off_electrode=off)
    else:
        raise pytest.UsageError(f"--dut {spec!r}: use sim, serial:PATH or ble:NAME")


def run(coro: Coroutine[Any, Any, Any], timeout: float = 120.0) -> Any:
    """One fresh event loop per test; a hang fails the test instead of the run."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())
