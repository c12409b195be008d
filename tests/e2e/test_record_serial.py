"""Recording from the real firmware (simulated sensor) over serial, with the cable pulled:
reconnect, RESEND backfill, exact lost ranges; the BDF+ compared with the signal source."""

from __future__ import annotations

import asyncio
import time

import edfio
import numpy as np
import pytest
from faultproxy import FaultProxy
from muwatch.device import Device, StreamConfig
from muwatch.session import SessionStore
from muwatch.session.recorder import Recorder
from muwatch.transports.serial import SerialTransport
from recordkit import expected, need_sim_device, sim_sensor, write_source

pytestmark = pytest.mark.slow

FS = 2000
CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8]
RECORD = 31  # bytes per ring record at 8 channels (firmware: status word + 8 x 3)


async def _record(
    url: str, store: SessionStore, plan, seconds: float, resends: list, drops: list, overruns=None
):
    dev = Device(SerialTransport(url), backoff=(0.05, 0.5), request_timeout=3.0)
    real_resend = dev.resend

    async def spy(first, count):
        r = await real_resend(first, count)
        resends.append((first, count, r))
        return r

    dev.resend = spy  # type: ignore[method-assign]

    class Drops:
        def on_link(self, state, detail):
            if state == "lost":
                drops.append(dev.tracker.hwm)

        def on_event(self, ev):
            if ev.kind == "OVERRUN" and overruns is not None:
                overruns.append((ev.fields["first_lost_index"], ev.fields["count"]))

    dev.add_listener(Drops())
    await dev.open()
    rec = Recorder(dev, store, subject="p01", muscle="FDI", task="grip", on_warning=lambda m: None)
    await rec.start(StreamConfig(rate_hz=FS, channels=tuple(CHANNELS)))
    t0 = time.monotonic()
    for at, action in plan:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        action()
    await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
    summary = await rec.stop(drain_timeout=15.0)
    await dev.close()
    return summary


def _check_file(store: SessionStore, summary: dict, source: np.ndarray) -> np.ndarray:
    sid = summary["session_id"]
    n = summary["n_samples"]
    bdf = edfio.read_bdf(store.sessions_dir / sid / f"{sid}.bdf")
    got = np.stack([s.digital[:n] for s in bdf.signals], axis=1)
    want = expected(source, n, CHANNELS)
    lost = np.zeros(n, bool)
    for g in summary["gaps"]:
        lost[g["first"] : g["first"] + g["count"]] = True
    assert np.array_equal(got[~lost], want[~lost]), "received samples differ from the source"
    assert np.all(got[lost] == 0)
    return lost


def test_pulled_cable_within_the_ring_is_backfilled_bit_identical(tmp_path):
    need_sim_device()
    stem, source = write_source(tmp_path, 30, FS)
    store = SessionStore(tmp_path / "data")
    resends: list = []
    drops: list = []
    with sim_sensor(stem) as (_sim, url):
        host, port = url[len("socket://") :].rsplit(":", 1)
        proxy = FaultProxy(host, int(port))
        try:
            summary = asyncio.run(
                _record(proxy.url, store, [(3.0, lambda: proxy.cut(3.0))], 11.0, resends, drops)
            )
        finally:
            proxy.close()
    assert proxy.discarded > 0, "the cut happened while the sensor was sending"
    assert drops, "the host saw the link drop"
    assert summary["lost_samples"] == 0 and summary["gaps"] == []
    assert summary["backfilled_samples"] >= 2.5 * FS
    assert summary["n_samples"] >= 10 * FS
    _check_file(store, summary, source)


def test_cable_pulled_longer_than_the_ring_loses_exactly_the_overwritten_range(tmp_path):
    need_sim_device()
    stem, source = write_source(tmp_path, 30, FS, seed=8)
    store = SessionStore(tmp_path / "data")
    ring_seconds = 2.0
    resends: list = []
    drops: list = []
    overruns: list = []
    with sim_sensor(stem, ring_bytes=int(ring_seconds * FS) * RECORD) as (_sim, url):
        host, port = url[len("socket://") :].rsplit(":", 1)
        proxy = FaultProxy(host, int(port))
        try:
            summary = asyncio.run(
                _record(
                    proxy.url,
                    store,
                    [(2.0, lambda: proxy.cut(4.5))],
                    10.0,
                    resends,
                    drops,
                    overruns,
                )
            )
        finally:
            proxy.close()
    # What the sensor said it no longer has: everything older than the oldest sample it held
    # when first asked (RESEND answer), and the ranges of its OVERRUN events (samples its
    # buffer overwrote before sending them; while resending, a 2 s buffer also overflows
    # with live samples). The host had everything before the drop.
    reported = np.zeros(summary["n_samples"], bool)
    reported[drops[0] : resends[0][2].oldest_index] = True
    for f, c in overruns:
        reported[f : f + c] = True
    lost = np.zeros(summary["n_samples"], bool)
    for g in summary["gaps"]:
        lost[g["first"] : g["first"] + g["count"]] = True
    gaps = [(g["first"], g["count"], g["cause"]) for g in summary["gaps"]]
    assert np.array_equal(lost, reported), (gaps, overruns, resends[:2])
    first, count, cause = gaps[0]
    assert first == drops[0], gaps  # from the first sample the host never got
    assert "overwritten" in cause
    assert 1.5 * FS < count < 3.5 * FS  # about cut (4.5 s) - ring (2 s)
    assert _check_file(store, summary, source).sum() == summary["lost_samples"]
