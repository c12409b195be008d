"""LSL outlet: an inlet in this process receives the stream with its metadata, device-clock
timestamps and markers."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from fakesensor import FakeSensor, FakeTransport
from muwatch.device import Device, StreamConfig
from muwatch.session.recorder import Recorder

pylsl = pytest.importorskip("pylsl")


def _inlet(source_id: str):
    found = pylsl.resolve_byprop("source_id", source_id, 1, 10.0)
    if not found:
        pytest.skip("LSL stream discovery does not work on this machine (multicast blocked?)")
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, recover=False)
    inlet.open_stream(10)
    return inlet


def _channels(info) -> list[tuple[str, str, str]]:
    ch = info.desc().child("channels").child("channel")
    out = []
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit"), ch.child_value("type")))
        ch = ch.next_sibling()
    return out


def test_outlet_metadata_timestamps_and_markers():
    from muwatch.lsl import LslOutlet

    serial = f"T{time.monotonic_ns() % 10**9}"
    outlet = LslOutlet(
        serial=serial, channel_labels=["FDI", "APB"], sample_rate=1000, uv_per_code=0.5
    )
    inlet = _inlet(f"muwatch-{serial}-emg")
    markers = _inlet(f"muwatch-{serial}-markers")
    info = inlet.info(10)
    assert info.type() == "EMG" and info.channel_count() == 2 and info.nominal_srate() == 1000
    assert _channels(info) == [("FDI", "microvolts", "EMG"), ("APB", "microvolts", "EMG")]
    assert info.desc().child("acquisition").child_value("serial_number") == serial
    codes = np.arange(40, dtype=np.int32).reshape(20, 2)
    newest = time.monotonic() + 0.25
    outlet.push(codes, newest)
    outlet.marker("MARKER 1: key 1", newest - 0.005)
    data, stamps = [], []
    end = time.monotonic() + 10
    while len(data) < 20 and time.monotonic() < end:
        d, t = inlet.pull_chunk(timeout=1.0)
        data += d
        stamps += t
    assert np.allclose(np.array(data), codes * 0.5)
    # chunk stamped with the newest sample's time; earlier samples back-dated at 1/fs
    want = outlet.lsl_time(newest) - np.arange(19, -1, -1) / 1000
    assert np.allclose(stamps, want, atol=1e-6)
    m, mt = markers.pull_sample(timeout=5)
    assert m == ["MARKER 1: key 1"] and mt == pytest.approx(
        outlet.lsl_time(newest - 0.005), abs=1e-6
    )
    outlet.close()


def test_recorder_publishes_with_device_clock_timestamps(store):
    async def main():
        sensor = FakeSensor(seed=3)
        dev = Device(FakeTransport(sensor), request_timeout=1.0)
        await dev.open()
        rec = Recorder(dev, store, subject="p01", muscle="FDI", task="grip", lsl=True)
        await rec.start(StreamConfig(rate_hz=1000, channels=(1, 2)))
        inlet = await asyncio.get_running_loop().run_in_executor(None, _inlet, "muwatch-FAKE01-emg")
        for _ in range(100):
            sensor.produce(10)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        data, stamps = inlet.pull_chunk(timeout=2.0, max_samples=5000)
        fit = dev.clock.fit
        await rec.stop()
        await dev.close()
        return sensor, data, stamps, fit, rec

    sensor, data, stamps, fit, rec = asyncio.run(main())
    n = len(data)
    assert n > 100
    first = 1000 - n  # the inlet joined late: it holds the newest n samples
    uv = rec.meta.uv_per_code
    got = np.array(data)
    want = sensor.codes(first, 1000) * uv
    assert np.allclose(got, want, rtol=1e-6, atol=uv)
    # timestamps follow the device clock map: sample k at fit.to_host(device time of k)
    dev_us = np.array([sensor.time_us(k) for k in range(first, 1000)], dtype=np.int64)
    dev_us[dev_us < dev_us[0]] += 1 << 32  # unwrapped
    mapped = np.array([fit.to_host(float(t)) for t in dev_us])
    offset = stamps[-1] - mapped[-1]
    assert abs(offset) < 0.01  # LSL clock = monotonic here
    assert np.allclose(np.array(stamps) - offset, mapped, atol=0.05)
