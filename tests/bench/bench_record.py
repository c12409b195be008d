"""Bench `record`: the host bridge recording 8 ch x 2 kHz from the simulated sensor.

Figures (build/bench/record.json):
  host_cpu_share_8ch_2khz   CPU of the `muwatch record` process / wall time, while recording
                            (fraction of one core; target < 0.10)
  host_cpu_vs_raw_reader    the same, as a multiple of a bare pyserial read loop of the same
                            stream measured in this run (the floor any host pays)
  rss_growth_mb_10min       RSS of the recorder at the end of a 10-minute recording minus at
                            minute 1 (memory must stay flat)
  rss_mb_recording          RSS of the recorder while recording
  lost_samples_8ch_2khz     samples lost in that recording (0 expected)
  lost_samples_5s_outage    samples lost when the link drops for 5 s mid-recording (must be 0;
                            the BLE twin's scripted outage when available, else the serial
                            cable pulled by a relay)
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
s = serial.serial_for_url(url, timeout=0.05)
s.write(serial_frame(build_configure(rate_hz=2000).encode(1)))
s.write(serial_frame(build_start().encode(2)))
t0 = time.monotonic(); n = 0
while time.monotonic() - t0 < seconds:
    b = s.read(1)
    if b:
        n += 1 + len(s.read(s.in_waiting))
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


def _long_recording(url: str, data_dir: Path, minutes: float) -> dict[str, float]:
    seconds = minutes * 60
    cmd = [
        str(Path(sys.executable).parent / "muwatch"),
        "record",
        url,
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
    ]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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
    warm = [s for s in samples if s[0] >= 15.0]
    first, last = warm[0], warm[-1]
    share = (last[1] - first[1]) / (last[0] - first[0])
    at_1min = min(samples, key=lambda s: abs(s[0] - 60.0))
    return {
        "cpu_share": share,
        "rss_growth": last[2] - at_1min[2],
        "rss": last[2],
        "lost": float(summary["lost_samples"]),
        "n_samples": float(summary["n_samples"]),
    }


async def _outage_run(url: str, data_dir: Path) -> tuple[int, str]:
    """20 s at 8 ch x 2 kHz with a 5 s outage at 6 s; returns (lost samples, twin used)."""
    from faultproxy import FaultProxy
    from muwatch.device import Device, StreamConfig
    from muwatch.session import SessionStore
    from muwatch.session.recorder import Recorder
    from muwatch.transports.serial import SerialTransport

    host, port = url[len("socket://") :].rsplit(":", 1)
    proxy = FaultProxy(host, int(port))
    try:
        dev = Device(SerialTransport(proxy.url), backoff=(0.05, 0.5))
        await dev.open()
        rec = Recorder(
            dev,
            SessionStore(data_dir),
            subject="bench",
            muscle="FDI",
            task="outage",
            on_warning=lambda m: None,
        )
        await rec.start(StreamConfig(rate_hz=FS, channels=(1, 2, 3, 4, 5, 6, 7, 8)))
        await asyncio.sleep(6.0)
        proxy.cut(5.0)
        await asyncio.sleep(14.0)
        summary = await rec.stop(drain_timeout=20.0)
        await dev.close()
    finally:
        proxy.close()
    return int(summary["lost_samples"]), "serial twin, cable pulled 5 s by a relay"


def run() -> dict[str, dict[str, object]]:
    from muwatch.sim.device import SimDevice, SimDeviceConfig
    from recordkit import write_source

    minutes = 2.0 if os.environ.get("MUWATCH_BENCH_QUICK") else 10.0
    with tempfile.TemporaryDirectory(prefix="muwatch-bench-record-") as tmp:
        tmpdir = Path(tmp)
        stem, _ = write_source(tmpdir, 60, FS)
        with SimDevice(SimDeviceConfig(signal=stem)) as sim:
            url = sim.serve_socket()
            raw_share, raw_bytes = _raw_reader_share(url, 15.0)
            if raw_bytes < 15 * FS * 8 * 3 * 0.5:
                raise RuntimeError(
                    f"raw reader got only {raw_bytes} bytes: the twin is not streaming"
                )
            time.sleep(1.0)
            long = _long_recording(url, tmpdir / "long", minutes)
            time.sleep(1.0)
            lost_outage, twin = asyncio.run(_outage_run(url, tmpdir / "outage"))
    return {
        "host_cpu_share_8ch_2khz": figure(
            long["cpu_share"], "fraction of one core", "one core of this machine; target < 0.10"
        ),
        "host_cpu_vs_raw_reader": figure(
            long["cpu_share"] / raw_share if raw_share > 0 else float("nan"),
            "x",
            f"bare pyserial read loop of the same stream ({raw_share:.4f} of a core)",
        ),
        "rss_growth_mb_10min": figure(
            long["rss_growth"],
            "MB",
            f"RSS at minute 1 of a {minutes:g}-minute 8 ch x 2 kHz recording",
        ),
        "rss_mb_recording": figure(long["rss"], "MB", "resident memory of `muwatch record`"),
        "lost_samples_8ch_2khz": figure(
            long["lost"], "samples", f"{long['n_samples']:.0f} recorded"
        ),
        "lost_samples_5s_outage": figure(float(lost_outage), "samples", f"must be 0 ({twin})"),
    }


if __name__ == "__main__":
    from figures import write_area

    write_area("record", run())
