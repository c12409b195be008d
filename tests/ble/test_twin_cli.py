"""`muwatch sim-device --ble`: one command starts the whole twin (firmware + radio) and prints
what a host passes as --ble-backend; the host bridge then talks to it as to a real sensor."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run
from muwatch.device import Device, StreamConfig
from muwatch.transports import transport_for


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            return proc.stdout.readline().strip()
        if proc.poll() is not None:
            break
    raise AssertionError(
        f"sim-device printed nothing; stderr: {proc.stderr.read() if proc.stderr else ''}"
    )


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.add(int(entry.name))
    return out


def test_sim_device_ble_starts_the_twin_the_host_bridge_can_use(tmp_path):
    muwatch = str(Path(sys.executable).parent / "muwatch")
    proc = subprocess.Popen(
        [muwatch, "sim-device", "--ble", "--root", str(tmp_path), "--duration", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        backend = _readline(proc, 60)
        assert backend.startswith("bumble:tcp-client:127.0.0.1:")

        async def host():
            dev = Device(
                transport_for("muw-E5F6", ble_backend=backend, ble_pair=True), connect_timeout=30
            )
            info = await dev.open()
            try:
                await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
                await asyncio.sleep(1.0)
                result = await dev.stop_stream()
                status = await dev.status()
            finally:
                await dev.close()
            return info, result, status

        info, result, status = run(host())
        children = _children(proc.pid)
        assert len(children) >= 2, "expected the radio and the MicroPython processes"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert info.device_name == "muw-E5F6"
    assert status.encrypted and status.bonded
    assert result.lost == [] and result.next_index >= 900
    time.sleep(0.5)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children), "processes left running"
    assert (tmp_path / "bonds.json").exists()  # the sensor kept its bond in its flash
