"""Hardware-in-the-loop: the same tests on the twin (CI) and on a sensor on a bench.

What each test proves is in docs/hil.md. Every test talks to the sensor the way users do:
muwatch.device.Device over the BLE transport (bleak's public API; the OS stack on a bench, the
bumble backend on the simulated radio for the twin), except the pairing test, which needs a
host that holds no bond and uses bleak with the protocol package directly."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from conftest import SOURCE_GAIN, run
from hilkit import open_device, percentile, wait_for
from muwatch.ble import BondStore, backend_from_spec
from muwatch.device import StreamConfig
from muwatch.protocol import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    INFO_CHAR_UUID,
    DataFrame,
    DeviceInfo,
    Flag,
    ResponseFrame,
    Status,
    build_configure,
    build_get_info,
    build_get_status,
    build_ping,
    build_start,
    decode_frame,
    samples_per_frame,
    volts_per_code,
)
from muwatch.protocol.bodies import DeviceStatus

ALL = (1, 2, 3, 4, 5, 6, 7, 8)
DIS_MODEL = "00002a24-0000-1000-8000-00805f9b34fb"
DIS_SERIAL = "00002a25-0000-1000-8000-00805f9b34fb"
DIS_FIRMWARE = "00002a26-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"

# ADS1299 internal test signal (SBAS499C 9.3.1.5): +-(VREFP - VREFN)/2400, fCLK / 2^20.
TEST_SIGNAL_V = 4.5 / 2400
TEST_SIGNAL_HZ = 2.048e6 / 2**20
# Tolerances from the datasheet's electrical characteristics: the internal oscillator is
# specified to +-2.5 % over temperature; the amplitude rests on the reference (+-0.2 %) and
# the PGA gain (+-0.5 % max), rounded up to 2 % for the test signal generator itself.
TEST_SIGNAL_AMPLITUDE_TOL = 0.02
TEST_SIGNAL_FREQUENCY_TOL = 0.025


def _client(dev):
    """The BleakClient under the Device (bleak's public API for the GATT-level checks)."""
    return dev.transport._client


def test_boot_and_get_info(dut):
    async def main():
        dev, _ = await open_device(dut, pair=False)
        try:
            info = dev.device_info or await dev.info()
            client = _client(dev)
            mtu = client.mtu_size
            info_char = bytes(await client.read_gatt_char(INFO_CHAR_UUID))
            dis = {
                uuid: bytes(await client.read_gatt_char(uuid)).decode()
                for uuid in (DIS_MODEL, DIS_SERIAL, DIS_FIRMWARE)
            }
        finally:
            await dev.close()
        serial_info = None
        if dut.serial is not None:
            from muwatch.device import Device
            from muwatch.transports import transport_for

            sdev = Device(transport_for(dut.serial), connect_timeout=20)
            try:
                serial_info = await sdev.open()
            finally:
                await sdev.close()
        return info, mtu, info_char, dis, serial_info

    info, mtu, info_char, dis, serial_info = run(main())
    assert info.protocol_version == 1 and info.max_channels == 8
    assert info.device_name == dut.ble_name
    assert info.vref_volts == pytest.approx(4.5)
    assert 2000 in info.rates_hz and info.ring_capacity > 0
    assert mtu >= 247, "the sensor did not raise the MTU (protocol.md 6)"
    assert info.samples_per_frame == samples_per_frame(mtu - 3, 8, 0x18)
    assert DeviceInfo.decode(info_char) == info  # the Info characteristic is GET_INFO's body
    assert dis == {
        DIS_MODEL: info.board,
        DIS_SERIAL: info.serial_number,
        DIS_FIRMWARE: info.firmware_version,
    }
    if serial_info is not None:  # the same sensor on its other link
        same = ("serial_number", "device_name", "firmware_version", "board", "rates_mask")
        assert {k: getattr(serial_info, k) for k in same} == {k: getattr(info, k) for k in same}


def test_control_refused_before_pairing(dut):
    """Until the link is encrypted only GET_INFO and PING run; no data or event is sent."""
    dut.need_ble()

    async def main():
        be = backend_from_spec(dut.ble_backend, bond_store=BondStore())  # a host with no bond
        device = await BleakScanner.find_device_by_name(
            dut.ble_name, timeout=20, **be.scanner_kwargs()
        )
        assert device is not None, f"{dut.ble_name} is not advertising"
        client = BleakClient(device, timeout=20, **be.client_kwargs())
        await client.connect()
        if be.client is None:  # the OS stack may hold a bond from earlier runs: drop it
            await client.unpair()
            await client.connect()
        frames: list[object] = []
        await client.start_notify(
            CONTROL_CHAR_UUID, lambda _c, v: frames.append(decode_frame(bytes(v)))
        )
        await client.start_notify(
            DATA_CHAR_UUID, lambda _c, v: frames.append(decode_frame(bytes(v)))
        )
        requests = {
            1: build_get_info(),
            2: build_ping(),
            3: build_get_status(),
            4: build_configure(rate_hz=1000, channels=ALL),
            5: build_start(),
        }
        for rid, req in requests.items():
            await client.write_gatt_char(CONTROL_CHAR_UUID, req.encode(rid), response=True)
        await asyncio.sleep(1.0)
        before = {f.request_id: f.status for f in frames if isinstance(f, ResponseFrame)}
        data_before = [f for f in frames if isinstance(f, DataFrame)]
        await client.pair()
        await client.write_gatt_char(CONTROL_CHAR_UUID, build_get_status().encode(6), response=True)
        await wait_for(
            lambda: any(isinstance(f, ResponseFrame) and f.request_id == 6 for f in frames),
            10,
            "GET_STATUS",
        )
        after = next(f for f in frames if isinstance(f, ResponseFrame) and f.request_id == 6)
        await client.disconnect()
        return before, data_before, after

    before, data_before, after = run(main())
    assert before == {
        1: Status.OK,
        2: Status.OK,
        3: Status.NOT_PAIRED,
        4: Status.NOT_PAIRED,
        5: Status.NOT_PAIRED,
    }
    assert data_before == []
    assert after.status == Status.OK
    status = DeviceStatus.decode(after.body)
    assert status.encrypted and status.bonded and not status.streaming


def test_battery_status(dut):
    async def main():
        dev, _ = await open_device(dut)
        try:
            status = await dev.status()
            level = bytes(await _client(dev).read_gatt_char(BATTERY_LEVEL))
        finally:
            await dev.close()
        return status, level

    status, level = run(main())
    assert len(level) == 1 and abs(level[0] - status.battery_percent) <= 1
    assert 0 <= status.battery_percent <= 100
    assert 3000 <= status.battery_mv <= 4400
    # the low flag follows the voltage, with the firmware's 100 mV of hysteresis above 3.5 V
    if status.battery_mv < 3500:
        assert status.battery_low
    elif status.battery_mv > 3600:
        assert not status.battery_low
    if dut.kind == "sim":
        assert abs(status.battery_mv - 3950) <= 50  # the twin's battery, through its ADC


def _stream_seconds(dut, seconds: float, config: StreamConfig, **device_kwargs):
    async def main():
        dev, col = await open_device(dut, **device_kwargs)
        try:
            info = dev.device_info
            applied = await dev.start_stream(config)
            await asyncio.sleep(seconds)
            result = await dev.stop_stream(drain_timeout=20)
            status = await dev.status()
        finally:
            await dev.close()
        return info, applied, result, status, col, dev.stats

    return run(main(), timeout=seconds + 120)


def test_streaming_integrity_at_the_highest_supported_rate(dut):
    dut.need_ble()

    async def highest() -> int:
        dev, _ = await open_device(dut)
        try:
            return max(dev.device_info.rates_hz)
        finally:
            await dev.close()

    rate = run(highest())
    seconds = 5.0 if dut.kind == "sim" else 20.0
    info, applied, result, status, col, stats = _stream_seconds(
        dut, seconds, StreamConfig(rate_hz=rate, channels=ALL, gain=SOURCE_GAIN)
    )
    n = result.next_index
    assert applied.rate_hz == rate
    assert result.confirmed and n >= 0.8 * rate * seconds
    assert result.lost == [] and col.gaps == [], f"lost: {result.lost}"
    seen = col.coverage(n)
    assert seen.min() == 1 and seen.max() == 1, "indices missing or delivered twice"
    assert status.lost_samples == 0
    if dut.source is not None:
        # the twin's unplugged electrode rails its channel (checked in the lead-off test)
        keep = [c for c in range(8) if c + 1 != dut.off_electrode]
        got = col.samples(n, 8)[:, keep]
        want = dut.source[np.arange(n) % len(dut.source)][:, keep]
        mismatched = np.flatnonzero(np.any(got != want, axis=1))
        assert mismatched.size == 0, (
            f"{mismatched.size} samples differ from the source, first at {mismatched[:5]}"
        )


def test_internal_test_signal_amplitude_and_frequency(dut):
    dut.need_ble()
    rate, gain = 2000, 24
    _, _, result, _, col, _ = _stream_seconds(
        dut, 4.5, StreamConfig(rate_hz=rate, channels=ALL, gain=gain, mode="test_signal")
    )
    n = result.next_index
    assert result.lost == []
    assert all(b.flags & Flag.TEST_MODE for b in col.blocks)
    volts = col.samples(n, 8) * volts_per_code(gain)
    for ch in range(8):
        v = volts[rate // 2 :, ch]  # after settling
        high = np.median(v[v > 0])
        low = np.median(v[v < 0])
        amplitude = (high - low) / 2
        assert amplitude == pytest.approx(TEST_SIGNAL_V, rel=TEST_SIGNAL_AMPLITUDE_TOL), (
            f"ch{ch + 1}"
        )
        edges = np.flatnonzero(np.diff(np.sign(v)) != 0)
        assert len(edges) >= 6, f"ch{ch + 1}: too few transitions to measure"
        period = 2 * (edges[-1] - edges[0]) / (len(edges) - 1) / rate
        assert 1 / period == pytest.approx(TEST_SIGNAL_HZ, rel=TEST_SIGNAL_FREQUENCY_TOL), (
            f"ch{ch + 1}"
        )


def test_lead_off_detection(dut):
    off = dut.need_off_electrode()
    bit = 1 << (off - 1)

    async def main():
        dev, col = await open_device(dut)
        try:
            await dev.start_stream(StreamConfig(rate_hz=1000, channels=ALL, mode="lead_off_check"))
            await wait_for(
                lambda: any(e.kind == "LEAD_OFF" for e in col.events), 10, "a LEAD_OFF event"
            )
            status = await dev.status()
            result = await dev.stop_stream()
        finally:
            await dev.close()
        return status, result, col

    status, result, col = run(main())
    lead_off = [e for e in col.events if e.kind == "LEAD_OFF"]
    assert status.loff_p == bit and status.loff_n == 0, "wrong electrodes reported off"
    assert lead_off[0].fields["loff_p"] & bit
    assert any(b.flags & Flag.LEAD_OFF for b in col.blocks)
    assert result.lost == []


def test_command_round_trip_latency_while_streaming(dut, record_property):
    dut.need_ble()

    async def main():
        dev, col = await open_device(dut)
        rtts = []
        try:
            await dev.start_stream(StreamConfig(rate_hz=2000, channels=ALL))
            await asyncio.sleep(0.5)
            for _ in range(150):
                rtt, _t = await dev.ping()
                rtts.append(rtt)
            result = await dev.stop_stream()
        finally:
            await dev.close()
        return rtts, result, col

    rtts, result, col = run(main())
    p50, p99 = percentile(rtts, 50), percentile(rtts, 99)
    record_property("ping_p50_ms", round(p50 * 1000, 2))
    record_property("ping_p99_ms", round(p99 * 1000, 2))
    print(
        f"command round trip over BLE while streaming: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )
    assert len(rtts) == 150
    assert p50 <= p99 < 2.0
    assert result.lost == [], "commands cost data"
    seen = col.coverage(result.next_index)
    assert seen.min() == 1


def test_reconnect_and_backfill_after_a_5s_outage(dut):
    dut.need_radio_control()
    from muwatch.sim.radio import RadioControl

    async def main():
        dev, col = await open_device(dut)
        radio = RadioControl(dut.radio_control)
        try:
            await dev.start_stream(StreamConfig(rate_hz=2000, channels=ALL))
            await asyncio.sleep(1.5)
            await radio.outage(5.0)
            await wait_for(lambda: col.has_link_state("lost"), 15, "the link to drop")
            await wait_for(lambda: dev.link_state == "open", 40, "the link to come back")
            await asyncio.sleep(2.0)
            result = await dev.stop_stream(drain_timeout=30)
            status = await dev.status()
        finally:
            await radio.close()
            await dev.close()
        return result, status, col, dev.stats

    result, status, col, stats = run(main(), timeout=180)
    assert stats.link_drops >= 1 and stats.reconnects >= 1
    assert stats.backfilled_samples > 2000 * 4, "the outage was not backfilled"
    assert result.lost == [] and col.gaps == [], f"lost after a 5 s outage: {result.lost}"
    seen = col.coverage(result.next_index)
    assert seen.min() == 1, f"{int((seen == 0).sum())} samples missing"
    assert status.lost_samples == 0


@pytest.mark.slow
def test_outage_longer_than_the_device_buffer_is_reported_as_an_exact_lost_range(dut):
    dut.need_radio_control()
    from muwatch.sim.radio import RadioControl

    rate = 2000

    async def main():
        dev, col = await open_device(dut)
        radio = RadioControl(dut.radio_control)
        try:
            await dev.start_stream(StreamConfig(rate_hz=rate, channels=ALL))
            capacity = (await dev.info()).ring_capacity
            await asyncio.sleep(1.5)
            await radio.outage(30.0)
            await wait_for(lambda: col.has_link_state("lost"), 15, "the link to drop")
            await wait_for(lambda: dev.link_state == "open", 60, "the link to come back")
            await asyncio.sleep(2.0)
            result = await dev.stop_stream(drain_timeout=40)
            status = await dev.status()
        finally:
            await radio.close()
            await dev.close()
        return capacity, result, status, col

    capacity, result, status, col = run(main(), timeout=240)
    n = result.next_index
    assert capacity / rate < 30, "the ring holds the whole outage: this test proves nothing"
    seen = col.coverage(n)
    lost = col.lost_mask(n)
    assert seen.max() == 1
    # every index is either received or reported lost, never both, never neither
    assert np.array_equal(seen == 0, lost), (
        "the reported lost ranges are not exactly what is missing"
    )
    lost_total = int(lost.sum())
    assert lost_total >= (30 - capacity / rate - 3) * rate
    # one range holds the outage's loss, reported as what the ring buffer no longer held
    big = max(col.gaps, key=lambda g: g.count)
    assert "buffer" in big.cause, big.cause
    assert big.count >= (30 - capacity / rate - 3) * rate
    assert lost[big.first : big.first + big.count].all()
    assert big.count >= 0.99 * lost_total, [(g.first, g.count, g.cause) for g in col.gaps]
    assert status.lost_samples <= lost_total - big.count  # the device lost nothing else
