"""Benchmark of area `ble` (make bench AREA=ble): 8 ch x 2 kHz x 24 bit over the simulated link.

The whole twin (firmware unchanged in the MicroPython unix port, the radio process with its
link model) streams to a host in this process that runs what users run: muwatch.device.Device
over the BLE transport, bleak, the bumble backend over the radio's HCI socket. The central's
connection interval is 7.5 ms, then 15 ms (the radio forces it, standing for the central's
choice; 1M PHY, data length extension).

Figures per interval (suffix 7p5ms / 15ms):
- throughput_kBps: sample payload reaching the host per second (by arrival time, after the
  first second of streaming), against the source's 48.0 kB/s (ratio in throughput_ratio_*)
  and the link model's capacity for 244-byte notifications (link_capacity_kBps_*);
- lost_samples: samples the host reported lost (must be 0);
- latency_p50_ms / latency_p99_ms (7.5 ms, unsuffixed; 15 ms suffixed): from the conversion
  of a frame's newest sample to the host's decoded block of it, over every live frame. The
  simulated chip converts at exactly 2 kHz; the simulated board's stats file (written once a
  second: its world time and the samples read by then, stamped by the file's time) places
  every conversion on the host clock to about a millisecond, independent of arrival times;
- latency_p50_over_interval: p50 latency / connection interval (the baseline a BLE link sets).
Host cost at 7.5 ms: host_cpu_share (CPU seconds of this process per second of streaming,
one core) against the same stream over the twin's serial link in the same run
(host_cpu_share_serial, ratio host_cpu_vs_serial).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from figures import figure  # noqa: E402
from muwatch.device import Device, StreamConfig  # noqa: E402
from muwatch.sim.device import SimDeviceConfig  # noqa: E402
from muwatch.sim.radio_link import LinkModel  # noqa: E402
from muwatch.sim.radio_twin import BleTwin, RadioOptions  # noqa: E402
from muwatch.transports import transport_for  # noqa: E402
from muwatch.transports.ble import BleTransport  # noqa: E402

SECONDS = 12.0
RATE = 2000
CHANNELS = (1, 2, 3, 4, 5, 6, 7, 8)
PAYLOAD_KBPS = RATE * len(CHANNELS) * 3 / 1000  # 48.0 kB/s


class _Listener:
    def __init__(self) -> None:
        self.live: list[tuple[int, float]] = []  # (stream index of the newest sample, arrival)
        self.arrivals: list[tuple[float, int]] = []  # (arrival, samples), live and backfill

    def on_samples(self, block) -> None:
        self.arrivals.append((block.host_time, block.n))
        if block.live:
            self.live.append((block.first_index + block.n - 1, block.host_time))

    def samples_between(self, t0: float, t1: float) -> int:
        return sum(n for t, n in self.arrivals if t0 <= t < t1)


def _clock_record(stats_path: Path, records: list[tuple[int, int, float]]) -> None:
    """(world µs, samples read by then, file time on the host's monotonic clock) per rewrite."""
    try:
        st = os.stat(stats_path)
        stats = json.loads(stats_path.read_text())
        now_us, next_index = int(stats["now_us"]), int(stats["next_index"])
    except (OSError, ValueError, KeyError):
        return
    mono = st.st_mtime_ns / 1e9 - (time.time() - time.monotonic())
    if next_index > 0 and (not records or records[-1][0] != now_us):
        records.append((now_us, next_index, mono))


def _latencies_ms(
    live: list[tuple[int, float]], records: list[tuple[int, int, float]]
) -> np.ndarray:
    """Arrival minus conversion time of each live frame's newest sample, in ms.

    The simulated chip converts at exactly RATE: sample k at world time t0 + k / RATE. Each
    stats record says sample next_index - 1 was converted by world time now_us, so t0 is at
    most now_us - (next_index - 1) / RATE; the tightest record bounds it (within one sample
    period plus the interrupt delivery lag). The file's modification time places world time
    on the host clock; the least delayed record is used."""
    if not records or not live:
        return np.array([])
    t0_us = min(now - (nxt - 1) * 1e6 / RATE for now, nxt, _ in records)
    world_b, _, mono_b = min(records, key=lambda r: r[2] - r[0] / 1e6)
    out = [
        (arrival - (mono_b + (t0_us + k * 1e6 / RATE - world_b) / 1e6)) * 1000.0
        for k, arrival in live
    ]
    return np.asarray(out)


async def _stream(dev: Device, seconds: float, stats_path: Path | None) -> dict[str, object]:
    listener = _Listener()
    dev.add_listener(listener)
    records: list[tuple[int, int, float]] = []
    await dev.start_stream(StreamConfig(rate_hz=RATE, channels=CHANNELS))
    t0, c0 = time.monotonic(), time.process_time()
    end = t0 + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.2)
        if stats_path is not None:
            _clock_record(stats_path, records)
    t1, c1 = time.monotonic(), time.process_time()
    result = await dev.stop_stream(drain_timeout=20)
    lost = sum(g.count for g in result.lost)
    # what reached the host after the first second (the stream is running by then)
    window = (t0 + 1.0, t1)
    return {
        "samples": listener.samples_between(*window),
        "lost": lost if result.confirmed else -1,
        "seconds": window[1] - window[0],
        "cpu_share": (c1 - c0) / (t1 - t0),
        "latency_ms": _latencies_ms(listener.live, records),
    }


async def _over_ble(twin: BleTwin, seconds: float) -> dict[str, object]:
    dev = Device(BleTransport(twin.name, backend=twin.backend_spec, pair=True), connect_timeout=30)
    await dev.open()
    try:
        return await _stream(dev, seconds, twin.device.stats_path)
    finally:
        await dev.close()


async def _over_serial(url: str, seconds: float) -> dict[str, object]:
    dev = Device(transport_for(url), connect_timeout=30)
    await dev.open()
    try:
        return await _stream(dev, seconds, None)
    finally:
        await dev.close()


def run() -> dict[str, dict[str, object]]:
    figures: dict[str, dict[str, object]] = {}
    model = LinkModel()
    serial_cpu = None
    for interval_ms, tag in ((7.5, "7p5ms"), (15.0, "15ms")):
        twin = BleTwin(SimDeviceConfig(), RadioOptions(interval_ms=interval_ms)).start()
        try:
            res = asyncio.run(_over_ble(twin, SECONDS))
            if serial_cpu is None:
                serial_cpu = asyncio.run(_over_serial(twin.serial, SECONDS))["cpu_share"]
        finally:
            twin.close()
        kbps = float(res["samples"]) * len(CHANNELS) * 3 / 1000 / float(res["seconds"])
        capacity = model.capacity_bytes_per_s(interval_ms / 1000, 244) / 1000
        lat = res["latency_ms"]
        assert isinstance(lat, np.ndarray) and lat.size, "no latency measured (no clock records)"
        p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
        figures[f"throughput_kBps_{tag}"] = figure(
            kbps, "kB/s", f"source payload {PAYLOAD_KBPS:.1f} kB/s (8 ch x 2 kHz x 3 B)"
        )
        figures[f"throughput_ratio_{tag}"] = figure(
            kbps / PAYLOAD_KBPS, "x", "delivered / source payload rate, same run"
        )
        figures[f"link_capacity_kBps_{tag}"] = figure(
            capacity, "kB/s", "link model: 244-byte notifications per event at 1M PHY"
        )
        figures[f"lost_samples_{tag}"] = figure(int(res["lost"]), "samples", "must be 0")
        suffix = "" if tag == "7p5ms" else "_15ms"
        figures[f"latency_p50_ms{suffix}"] = figure(
            p50, "ms", "conversion of the newest sample to decoded block"
        )
        figures[f"latency_p99_ms{suffix}"] = figure(
            p99, "ms", "conversion of the newest sample to decoded block"
        )
        figures[f"latency_p50_over_interval{suffix or '_7p5ms'}"] = figure(
            p50 / interval_ms, "x", f"connection interval {interval_ms} ms"
        )
        if tag == "7p5ms":
            figures["host_cpu_share"] = figure(
                float(res["cpu_share"]), "of one core", "BLE host at 7.5 ms"
            )
            assert serial_cpu is not None
            figures["host_cpu_share_serial"] = figure(
                float(serial_cpu), "of one core", "same stream over serial, same run"
            )
            figures["host_cpu_vs_serial"] = figure(
                float(res["cpu_share"]) / max(float(serial_cpu), 1e-6),
                "x",
                "host CPU over serial, same run",
            )
    return figures


if __name__ == "__main__":
    from figures import write_area

    write_area("ble", run())
