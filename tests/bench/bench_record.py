"""Bench `record`: the host bridge recording 8 ch x 2 kHz from the simulated sensor.

Figures (build/bench/record.json), all from `muwatch record` processes as users run them:
  host_cpu_share_8ch_2khz        CPU of the recorder / wall time over the BLE twin (bleak with
                                 the bumble backend: the BLE host stack runs inside the recorder,
                                 which the OS stack would do elsewhere); fraction of one core,
                                 target < 0.10
  host_cpu_share_8ch_2khz_serial the same over the serial twin
  host_cpu_vs_raw_reader         serial figure as a multiple of a bare pyserial read loop of
                                 the same stream measured in this run (the floor any host pays)
  rss_growth_mb_10min            RSS of the recorder at the end of the 10-minute BLE recording
                                 minus at minute 1 (memory must stay flat)
  rss_mb_recording               RSS of the recorder while recording
  lost_samples_8ch_2khz          samples lost in the 10-minute recording (0 expected)
  lost_samples_5s_outage         samples lost when the BLE twin's radio drops out for 5 s in a
                                 20 s recording (must be 0)
MUWATCH_BENCH_QUICK=1 shortens the long run to 2 minutes (growth then over minutes 1..2).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from figures import figure  # noqa: E402

FS = 2000
TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process (s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_RAW_READER = r"""
import sys, time, serial
from muwatch.protocol import build_configure, build_start, build_stop, serial_frame
url, seconds = sys.argv[1], float(sys.argv[2])
s = serial.serial_for_url(url, timeout=0.02)
s.write(serial_frame(build_configure(rate_hz=2000).encode(1)))
s.write(serial_frame(build_start().encode(2)))
t0 = time.monotonic(); n = 0
while time.monotonic() - t0 < seconds:
    n += len(s.read(65536))
s.write(serial_frame(build_stop().encode(3)))
time.sleep(0.2)
print(n)
"""


def _raw_reader_share(url: str, seconds: float) -> tuple[float, int]:
    p = subprocess.Popen(
        [sys.executable, "-c", _RAW_READER, url, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    c0, t0 = _proc_cpu(p.pid), time.monotonic()
    time.sleep(seconds - 3.0)
    c1, t1 = _proc_cpu(p.pid), time.monotonic()
    out, _ = p.communicate(timeout=30)
    return (c1 - c0) / (t1 - t0), int(out.strip() or 0)


MUWATCH = str(Path(sys.executable).parent / "muwatch")


def _recording(
    device: str, data_dir: Path, minutes: float, extra: list[str], env: dict[str, str]
) -> dict[str, float]:
    seconds = minutes * 60
    cmd = [
        MUWATCH,
        "record",
        device,
        "--subject",
        "bench",
        "--muscle",
        "FDI",
        "--task",
        "bench",
        "--rate",
        "2000",
        "--channels",
        "1-8",
        "--duration",
        str(seconds),
        "--data-dir",
        str(data_dir),
        "--json",
        *extra,
    ]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    t_start = time.monotonic()
    samples: list[tuple[float, float, float]] = []  # (t, cpu, rss)
    while p.poll() is None and time.monotonic() - t_start < seconds - 2:
        try:
            samples.append((time.monotonic() - t_start, _proc_cpu(p.pid), _proc_rss_mb(p.pid)))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            break
        time.sleep(5.0)
    out, _ = p.communicate(timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"muwatch record failed with exit code {p.returncode}")
    summary = json.loads(out)
    warm = [s for s in samples if s[0] >= 10.0]
    first, last = warm[0], warm[-1]
    share = (last[1] - first[1]) / (last[0] - first[0])
    at_1min = min(samples, key=lambda s: abs(s[0] - min(60.0, seconds / 2)))
    return {
        "cpu_share": share,
        "rss_growth": last[2] - at_1min[2],
        "rss": last[2],
        "lost": float(summary["lost_samples"]),
        "n_samples": float(summary["n_samples"]),
    }


async def _outage_run(twin, data_dir: Path) -> int:  # type: ignore[no-untyped-def]
    """20 s at 8 ch x 2 kHz over the BLE twin, radio out for 5 s at 6 s; lost samples."""
    from muwatch.device import Device, StreamConfig
    from muwatch.session import SessionStore
    from muwatch.session.recorder import Recorder
    from muwatch.sim.radio import RadioControl
    from muwatch.transports.ble import BleTransport

    dev = Device(
        BleTransport(twin.name, backend=twin.backend_spec, pair=True),
        connect_timeout=30.0,
        request_timeout=5.0,
    )
    await dev.open()
    rec = Recorder(
        dev,
        SessionStore(data_dir),
        subject="bench",
        muscle="FDI",
        task="outage",
        on_warning=lambda m: None,
    )
    radio = RadioControl(twin.control)
    try:
        await rec.start(StreamConfig(rate_hz=FS, channels=(1, 2, 3, 4, 5, 6, 7, 8)))
        await asyncio.sleep(6.0)
        await radio.outage(5.0)
        await asyncio.sleep(14.0)
        summary = await rec.stop(drain_timeout=30.0)
    finally:
        await radio.close()
        await dev.close()
    if summary["n_samples"] < 19 * FS:
        raise RuntimeError(f"outage run recorded only {summary['n_samples']} samples")
    return int(summary["lost_samples"])


def run() -> dict[str, dict[str, object]]:
    from muwatch.sim.device import SimDevice, SimDeviceConfig
    from muwatch.sim.radio_twin import BleTwin, RadioOptions
    from recordkit import write_source

    minutes = 2.0 if os.environ.get("MUWATCH_BENCH_QUICK") else 10.0
    with tempfile.TemporaryDirectory(prefix="muwatch-bench-record-") as tmp:
        tmpdir = Path(tmp)
        stem, _ = write_source(tmpdir, 60, FS)
        env = dict(os.environ, MUWATCH_BLE_BONDS=str(tmpdir / "bonds.json"))
        with SimDevice(SimDeviceConfig(signal=stem)) as sim:
            url = sim.serve_socket()
            raw_share, raw_bytes = _raw_reader_share(url, 15.0)
            if raw_bytes < 15 * FS * 8 * 3 * 0.5:
                raise RuntimeError(
                    f"raw reader got only {raw_bytes} bytes: the twin is not streaming"
                )
            time.sleep(1.0)
            serial = _recording(url, tmpdir / "serial", 1.0, [], env)
        with BleTwin(SimDeviceConfig(signal=stem), RadioOptions(phy="2M")) as twin:
            backend = ["--ble-backend", twin.backend_spec]
            subprocess.run(
                [MUWATCH, "pair", twin.name, *backend], env=env, check=True, capture_output=True
            )
            long = _recording(twin.name, tmpdir / "ble", minutes, backend, env)
        with BleTwin(SimDeviceConfig(signal=stem), RadioOptions(phy="2M")) as twin:
            lost_outage = asyncio.run(_outage_run(twin, tmpdir / "outage"))
    return {
        "host_cpu_share_8ch_2khz": figure(
            long["cpu_share"],
            "fraction of one core",
            "one core of this machine; target < 0.10 (BLE twin, bumble host stack in-process)",
        ),
        "host_cpu_share_8ch_2khz_serial": figure(
            serial["cpu_share"], "fraction of one core", "one core of this machine (serial twin)"
        ),
        "host_cpu_vs_raw_reader": figure(
            serial["cpu_share"] / raw_share if raw_share > 0 else float("nan"),
            "x",
            f"bare pyserial read loop of the same stream ({raw_share:.4f} of a core)",
        ),
        "rss_growth_mb_10min": figure(
            long["rss_growth"],
            "MB",
            f"RSS at minute 1 of a {minutes:g}-minute 8 ch x 2 kHz recording (BLE twin)",
        ),
        "rss_mb_recording": figure(long["rss"], "MB", "resident memory of `muwatch record`"),
        "lost_samples_8ch_2khz": figure(
            long["lost"], "samples", f"{long['n_samples']:.0f} recorded over the BLE twin"
        ),
        "lost_samples_5s_outage": figure(
            float(lost_outage), "samples", "must be 0 (BLE twin, radio out 5 s)"
        ),
    }


if __name__ == "__main__":
    from figures import write_area

    write_area("record", run())
