"""The Device client over a protocol-level fake sensor: requests, accounting of every sample,
reconnect with back-off and RESEND backfill, exact lost ranges, clock map."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fakesensor import FakeSensor, FakeTransport
from muwatch.device import Device, DeviceTimeout, StreamConfig, StreamTracker
from muwatch.protocol import constants as pc
from muwatch.protocol.errors import RequestFailed
from muwatch.transports.base import TransportClosed


class Sink:
    def __init__(self, n_ch: int) -> None:
        self.blocks: list = []
        self.gaps: list = []
        self.events: list = []
        self.links: list = []

    def on_samples(self, b) -> None:
        self.blocks.append(b)

    def on_gap(self, g) -> None:
        self.gaps.append(g)

    def on_event(self, e) -> None:
        self.events.append(e)

    def on_link(self, state, detail) -> None:
        self.links.append(state)

    def assembled(self, n: int, n_ch: int) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((n, n_ch), np.int32)
        count = np.zeros(n, np.int32)
        for b in self.blocks:
            out[b.first_index : b.first_index + b.n] = b.codes
            count[b.first_index : b.first_index + b.n] += 1
        return out, count


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _settle(dev: Device, until=lambda: False, limit: float = 5.0) -> None:
    end = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < end:
        await asyncio.sleep(0.01)
        if until():
            return


def _make(**kw):
    sensor = FakeSensor(**kw)
    dev = Device(FakeTransport(sensor), request_timeout=1.0, backoff=(0.01, 0.05))
    return sensor, dev


def test_requests_are_typed_and_errors_carry_the_device_message():
    async def main():
        sensor, dev = _make()
        info = await dev.open()
        assert info.serial_number == "FAKE01" and info.ring_capacity == 2000
        st = await dev.status()
        assert not st.streaming and st.config.channels == (1, 2)
        applied = await dev.configure(StreamConfig(rate_hz=1000, channels=(1, 3), gain=24))
        assert applied.channels == (1, 3) and applied.rate_hz == 1000
        await dev.start_stream()
        with pytest.raises(RequestFailed, match="CONFIGURE.*BUSY.*CONFIGURE while streaming"):
            await dev.configure(StreamConfig(rate_hz=1000, channels=(1,)))
        sensor.silent.add(pc.Opcode.PING)
        with pytest.raises(DeviceTimeout, match="PING: no answer"):
            await dev.ping()
        await dev.close()
        with pytest.raises(TransportClosed):
            await dev.status()

    run(main())


def test_every_sample_exactly_once_duplicates_dropped():
    async def main():
        sensor, dev = _make(n_channels=3, samples_per_frame=7)
        sink = Sink(3)
        await dev.open()
        dev.add_listener(sink)
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2, 3)))
        sensor.duplicate_every = 5
        for _ in range(50):
            sensor.produce(37)
            await asyncio.sleep(0)
        result = await dev.stop_stream(drain_timeout=2.0)
        assert result.next_index == 1850 and result.lost == [] and result.confirmed
        got, count = sink.assembled(1850, 3)
        assert np.array_equal(count, np.ones(1850))
        assert np.array_equal(got, sensor.codes(0, 1850))
        assert dev.stats.duplicate_samples > 0
        assert all(b.live for b in sink.blocks)
        await dev.close()

    run(main())


def test_outage_within_the_ring_is_backfilled_with_zero_loss():
    async def main():
        sensor, dev = _make(ring_samples=3000)
        sink = Sink(2)
        await dev.open()
        dev.add_listener(sink)
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
        for _ in range(20):
            sensor.produce(50)
            await asyncio.sleep(0.001)
        sensor.go_away()
        for _ in range(30):  # 1500 samples while away, within the 3000-sample ring
            sensor.produce(50)
            await asyncio.sleep(0.005)
        assert dev.link_state in ("lost", "reconnecting")
        sensor.come_back()
        for _ in range(40):
            sensor.produce(50)
            await asyncio.sleep(0.01)
        await _settle(dev, lambda: dev.tracker.missing == 0 and dev.tracker.hwm == 4500)
        result = await dev.stop_stream(drain_timeout=3.0)
        assert result.lost == [] and sink.gaps == []
        got, count = sink.assembled(result.next_index, 2)
        assert np.array_equal(count, np.ones(result.next_index))
        assert np.array_equal(got, sensor.codes(0, result.next_index))
        assert dev.stats.backfilled_samples >= 1500
        assert dev.stats.reconnects == 1 and dev.stats.resend_requests >= 1
        assert any(not b.live for b in sink.blocks)
        assert sink.links.count("lost") == 1 and "open" in sink.links
        await dev.close()

    run(main())


def test_outage_longer_than_the_ring_loses_exactly_what_was_overwritten():
    async def main():
        sensor, dev = _make(ring_samples=1000)
        sink = Sink(2)
        await dev.open()
        dev.add_listener(sink)
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
        sensor.produce(900)
        await asyncio.sleep(0.01)
        sensor.go_away()
        sensor.produce(2500)  # 900..3400 produced while away; ring keeps the last 1000
        await asyncio.sleep(0.05)
        sensor.come_back()
        await _settle(dev, lambda: dev.is_connected)
        await _settle(dev, lambda: dev.tracker.missing == 0)
        sensor.produce(100)
        await asyncio.sleep(0.02)
        result = await dev.stop_stream(drain_timeout=3.0)
        lost = [(g.first, g.count) for g in sink.gaps]
        # at the time of RESEND the ring held [2400, 3400): lost is [900, 2400) exactly
        assert lost == [(900, 1500)]
        assert "overwritten" in sink.gaps[0].cause
        assert result.next_index == 3500
        got, count = sink.assembled(3500, 2)
        keep = np.ones(3500, bool)
        keep[900:2400] = False
        assert np.array_equal(count[keep], np.ones(keep.sum()))
        assert np.all(count[~keep] == 0)
        assert np.array_equal(got[keep], sensor.codes(0, 3500)[keep])
        await dev.close()

    run(main())


def test_overrun_event_is_an_exact_lost_range_without_resend():
    async def main():
        sensor, dev = _make()
        sink = Sink(2)
        await dev.open()
        dev.add_listener(sink)
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
        sensor.produce(100)
        sensor.overrun(100, 23, cause=1)
        sensor.produce(77)
        await asyncio.sleep(0.3)
        result = await dev.stop_stream(drain_timeout=1.0)
        assert [(g.first, g.count) for g in sink.gaps] == [(100, 23)]
        assert "missed conversions" in sink.gaps[0].cause
        assert result.next_index == 200
        resends = [b for op, b in sensor.requests if op == pc.Opcode.RESEND]
        assert all(int.from_bytes(b[:4], "little") >= 123 for b in resends)
        await dev.close()

    run(main())


def test_reconnect_backs_off_without_blocking_and_stops_on_close():
    async def main():
        sensor, dev = _make()
        await dev.open()
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
        sensor.go_away()
        ticks = 0
        for _ in range(40):  # the loop stays responsive while reconnect attempts fail
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 40
        attempts = dev.transport.open_attempts
        assert attempts >= 3
        await asyncio.sleep(0.2)
        # bounded back-off: attempts keep coming at most every ~0.05 s (+ jitter)
        assert dev.transport.open_attempts - attempts >= 2
        await dev.close()
        n = dev.transport.open_attempts
        await asyncio.sleep(0.2)
        assert dev.transport.open_attempts == n, "no reconnect attempts after close()"
        assert dev.link_state == "closed"

    run(main())


def test_reconnect_gives_up_after_the_timeout():
    async def main():
        sensor = FakeSensor()
        dev = Device(FakeTransport(sensor), backoff=(0.01, 0.02), reconnect_timeout=0.2)
        sink = Sink(2)
        dev.add_listener(sink)
        await dev.open()
        sensor.go_away("switched off")
        await _settle(dev, lambda: dev.link_state == "gave_up", limit=3)
        assert dev.link_state == "gave_up" and "0.2 s" in dev.link_detail
        await dev.close()

    run(main())


def test_device_restart_during_outage_restarts_the_stream_with_an_estimated_gap():
    async def main():
        sensor, dev = _make()
        sink = Sink(2)
        await dev.open()
        dev.add_listener(sink)
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
        sensor.produce(500)
        await asyncio.sleep(0.01)
        sensor.go_away()
        sensor.reboot()
        await asyncio.sleep(0.3)
        sensor.come_back()
        await _settle(dev, lambda: sensor.streaming)
        assert sensor.streaming, "the stream was restarted"
        sensor.produce(100)
        await asyncio.sleep(0.05)
        restarts = [e for e in sink.events if e.kind == "RESTARTED"]
        assert len(restarts) == 1
        base = restarts[0].fields["sample_index"]
        assert base > 500 + 200  # at least the ~0.3 s away at 1 kHz
        assert (
            sink.gaps
            and sink.gaps[0].first == 500
            and sink.gaps[0].first + sink.gaps[0].count == base
        )
        after = [b for b in sink.blocks if b.first_index >= base]
        assert after and after[0].first_index == base
        assert np.array_equal(after[0].codes, sensor.codes(0, after[0].n))
        await dev.close()

    run(main())


def test_16_bit_frames_come_out_in_24_bit_units():
    async def main():
        sensor, dev = _make(fmt=16)
        sink = Sink(2)
        await dev.open()
        dev.add_listener(sink)
        await dev.start_stream()
        sensor.produce(90)
        await asyncio.sleep(0.01)
        got, _ = sink.assembled(90, 2)
        assert np.array_equal(got, (sensor.source[:90, :2] >> 8) << 8)
        await dev.close()

    run(main())


def test_device_time_is_unwrapped_across_the_u32_wrap_and_feeds_the_clock_map():
    async def main():
        sensor = FakeSensor(t0_us=(1 << 32) - 150_000)  # wraps 150 ms into the stream
        dev = Device(FakeTransport(sensor), request_timeout=1.0)
        sink = Sink(2)
        dev.add_listener(sink)
        await dev.open()
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
        for _ in range(40):
            sensor.produce(10)
            await asyncio.sleep(0.005)
        times = [b.device_time_us for b in sink.blocks]
        assert times == sorted(times) and times[-1] > 1 << 32
        assert times[-1] - times[0] == sink.blocks[-1].first_index * 1000
        fit = dev.clock.fit
        assert fit is not None
        # mapping the newest sample lands within the time the test took, not 71 minutes off
        newest = times[-1] + (sink.blocks[-1].n - 1) * 1000
        assert abs(fit.to_host(newest) - sink.blocks[-1].host_time) < 0.5
        await dev.close()

    run(main())


def test_tracker_accounts_every_index_once():
    t = StreamTracker()
    assert t.accept(0, 10) == [(0, 10)]
    assert t.accept(20, 5) == [(20, 25)] and t.holes == [(10, 20)]
    assert t.accept(12, 4) == [(12, 16)] and t.holes == [(10, 12), (16, 20)]
    assert t.accept(0, 30) == [(10, 12), (16, 20), (25, 30)] and t.holes == []
    lost = t.declare_lost(40, 5, "overrun")
    assert [(x.first, x.count) for x in lost] == [(40, 5)]
    t.accept(50, 5)
    assert t.holes == [(30, 40), (45, 50)], "known-lost range is not a hole"
    t.expect_until(60)
    assert t.holes == [(30, 40), (45, 50), (55, 60)]
    assert t.received == 35 and t.missing == 20


def test_silent_stall_is_noticed_and_a_restarted_sensor_resumes():
    """The sensor restarts while connected and says nothing: the host notices the stall,
    asks, restarts the stream after the old indices, and reports the stretch between."""

    async def main():
        sensor = FakeSensor()
        dev = Device(FakeTransport(sensor), request_timeout=1.0, stall_timeout=0.3)
        sink = Sink(2)
        dev.add_listener(sink)
        await dev.open()
        await dev.start_stream(StreamConfig(rate_hz=1000, channels=(1, 2)))
        sensor.produce(300)
        await asyncio.sleep(0.05)
        sensor.reboot()  # no STATE event, link stays up
        await _settle(dev, lambda: sensor.streaming, limit=3)
        sensor.produce(200)
        await asyncio.sleep(0.05)
        result = await dev.stop_stream(drain_timeout=1.0)
        await dev.close()
        return sensor, dev, sink, result

    sensor, dev, sink, result = run(main())
    assert dev.stats.stalls >= 1
    restarted = [e for e in sink.events if e.kind == "RESTARTED"]
    assert len(restarted) == 1
    base = restarted[0].fields["sample_index"]
    assert sink.gaps[0].first == 300 and sink.gaps[0].first + sink.gaps[0].count == base
    assert result.next_index == base + 200
    got, count = sink.assembled(result.next_index, 2)
    assert np.array_equal(got[:300], sensor.codes(0, 300))
    assert np.array_equal(got[base:], sensor.codes(0, 200))
    assert count[300:base].sum() == 0
