"""`kill -9` of a real `muwatch record` process at a random moment, then `muwatch recover`:
every sample up to one second before the kill is in the session, bit-identical."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import edfio
import numpy as np
import pytest
from muwatch.device import Device
from muwatch.protocol import requests as rq
from muwatch.transports.serial import SerialTransport
from recordkit import expected, need_sim_device, sim_sensor, write_source

pytestmark = pytest.mark.slow

FS = 2000
MUWATCH = str(Path(sys.executable).parent / "muwatch")


async def _sensor_index(url: str) -> tuple[int, float]:
    """The sensor's own count of conversions now (it kept streaming after the host died)."""
    dev = Device(SerialTransport(url), auto_reconnect=False)
    await dev.open()
    st = await dev.status()
    t = time.monotonic()
    if st.streaming:
        await dev.request(rq.build_stop())
    await dev.close()
    return int(st.next_index), t


def test_kill9_then_recover_keeps_everything_but_the_last_second(tmp_path):
    need_sim_device()
    stem, source = write_source(tmp_path, 60, FS, seed=11)
    data = tmp_path / "data"
    delay = random.uniform(3.0, 8.0)
    with sim_sensor(stem) as (_sim, url):
        p = subprocess.Popen(
            [
                MUWATCH,
                "record",
                url,
                "--subject",
                "p01",
                "--muscle",
                "FDI",
                "--task",
                "crash",
                "--duration",
                "60",
                "--channels",
                "1-8",
                "--rate",
                str(FS),
                "--data-dir",
                str(data),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert p.stderr is not None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = p.stderr.readline()
                if not line or line.startswith("started at"):
                    break
            assert line.startswith("started at"), f"recorder did not start: {line!r}"
            time.sleep(delay)
            t_kill = time.monotonic()
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        finally:
            if p.poll() is None:
                p.kill()
        next_index, t_query = asyncio.run(_sensor_index(url))
    index_at_kill = next_index - int((t_query - t_kill) * FS)
    rc = subprocess.run(
        [MUWATCH, "recover", "--all", "--data-dir", str(data)], capture_output=True, text=True
    )
    assert rc.returncode == 0, rc.stderr
    folder = next((data / "sessions").iterdir())
    summary = json.loads((folder / "session.json").read_text())
    assert summary["status"] == "recovered"
    need = index_at_kill - FS  # every sample up to 1 s before the kill
    n = summary["n_samples"]
    msg = f"killed after {delay:.2f} s at index ~{index_at_kill}; recovered {n} samples"
    assert n >= need, msg
    bdf = edfio.read_bdf(folder / summary["files"]["bdf"])
    got = np.stack([s.digital[:need] for s in bdf.signals], axis=1)
    assert np.array_equal(got, expected(source, need, list(range(1, 9)))), msg
    gaps_before = [g for g in summary["gaps"] if g["first"] < need]
    assert gaps_before == [], msg
