"""The simulated air (muwatch.sim.radio_link): connection events, throughput cap, loss as
retransmission delay, latency, outages, supervision timeouts, refused connections.

Timing checks use the model's own schedule (`link.trace`: when the air delivered each PDU),
which does not depend on how busy the machine is."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest
from bleak import BleakClient, BleakScanner
from conftest import DATA, Peripheral, run
from muwatch.ble import BumbleClient, BumbleScanner
from muwatch.sim.radio_link import LinkModel, ModelLink


def _airtime_us(payload: int, phy: str) -> float:
    # preamble (1 octet on 1M, 2 on 2M), access address 4, header 2, payload, MIC 4, CRC 3
    octets = (1 if phy == "1M" else 2) + 4 + 2 + payload + (4 if payload else 0) + 3
    return octets * (8 if phy == "1M" else 4)


@pytest.mark.parametrize(
    ("phy", "interval_ms", "cap", "expected"),
    [("1M", 7.5, None, 3), ("1M", 15.0, None, 6), ("2M", 7.5, None, 5), ("1M", 15.0, 4, 4)],
)
def test_packets_per_event_follow_air_time(phy, interval_ms, cap, expected):
    model = LinkModel(phy=phy, max_packets_per_event=cap)
    exchange_us = _airtime_us(251, phy) + 150 + _airtime_us(0, phy) + 150
    assert model.packets_per_event(interval_ms / 1000) == expected
    if cap is None:
        assert expected == int(interval_ms * 1000 // exchange_us)
    # one 244-byte notification (251-byte L2CAP PDU) per LL packet
    assert model.capacity_bytes_per_s(interval_ms / 1000, 244) == pytest.approx(
        expected * 244 / (interval_ms / 1000)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"phy": "3M"},
        {"loss": 1.0},
        {"loss": -0.1},
        {"data_length": 300},
        {"interval_s": 0.001},
        {"max_packets_per_event": 0},
        {"latency_s": -1},
    ],
)
def test_link_model_rejects_impossible_parameters(kwargs):
    with pytest.raises(ValueError):
        LinkModel(**kwargs)


async def _session(link: ModelLink, interval_ms: float = 7.5, supervision_ms: float = 2000.0):
    sensor = await Peripheral(link).start()
    device = await BleakScanner.find_device_by_name(
        sensor.name, timeout=5, backend=BumbleScanner, transport=link
    )
    drops: list[object] = []
    client = BleakClient(
        device,
        disconnected_callback=drops.append,
        backend=BumbleClient,
        transport=link,
        connection_interval_ms=(interval_ms, interval_ms),
        supervision_timeout_ms=supervision_ms,
    )
    await client.connect()
    got: list[int] = []
    await client.start_notify(DATA, lambda _c, v: got.append(int.from_bytes(v[:4], "little")))
    return sensor, client, got, drops


async def _wait(pred, timeout: float = 20.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _uplink(trace):
    """(t_enqueued, t_delivered, event index) of peripheral -> central PDUs."""
    return [
        (t_enq, t_del, math.floor((t_del - a0 - 1e-9) / iv))
        for d, t_enq, t_del, a0, iv in trace
        if d == 1
    ]


@pytest.mark.parametrize("interval_ms", [7.5, 15.0])
def test_a_burst_never_beats_the_packets_per_event_cap(interval_ms):
    async def main():
        link = ModelLink()
        sensor, client, got, _ = await _session(link, interval_ms)
        link.trace = []
        await sensor.stream(240, drain=False)
        await _wait(lambda: len(got) >= 240)
        await client.disconnect()
        return link, got

    link, got = run(main())
    assert got == list(range(240))
    up = _uplink(link.trace)
    assert len(up) >= 240
    per_event = Counter(e for _, _, e in up)
    cap = link.model.packets_per_event(interval_ms / 1000)
    assert max(per_event.values()) <= cap
    assert all(t_del > t_enq for t_enq, t_del, _ in up)
    span = up[-1][1] - up[0][1]
    # on the air, 240 notifications of 244 bytes take at least this long
    assert span >= (len(up) / cap - 1) * interval_ms / 1000 * 0.999


def test_loss_becomes_retransmission_delay_not_loss():
    async def main():
        out = {}
        for loss in (0.0, 0.3):
            link = ModelLink(LinkModel(loss=loss, seed=7))
            sensor, client, got, _ = await _session(link)
            link.trace = []
            await sensor.stream(150, drain=False)
            await _wait(lambda got=got: len(got) >= 150)
            await client.disconnect()
            up = _uplink(link.trace)
            out[loss] = (list(got), link.stats.ll_retransmissions, up[-1][1] - up[0][1])
        return out

    out = run(main())
    for loss, (got, _, _) in out.items():
        assert got == list(range(150)), f"loss={loss}: samples lost or reordered"
    assert out[0.0][1] == 0 and out[0.3][1] > 20
    assert out[0.3][2] > out[0.0][2] * 1.2  # the same data took longer on a lossy air


def test_fixed_latency_is_added_to_every_pdu():
    async def main():
        link = ModelLink(LinkModel(latency_s=0.025))
        sensor, client, got, _ = await _session(link)
        link.trace = []
        await sensor.stream(20)
        await _wait(lambda: len(got) >= 20)
        await client.disconnect()
        return _uplink(link.trace)

    up = run(main())
    assert all(t_del - t_enq >= 0.025 for t_enq, t_del, _ in up)


def test_short_outage_delays_but_keeps_the_connection():
    async def main():
        link = ModelLink()
        sensor, client, got, drops = await _session(link, supervision_ms=2000)
        link.trace = []
        streaming = asyncio.ensure_future(sensor.stream(300, drain=False))
        await _wait(lambda: len(got) > 30)
        t0 = asyncio.get_running_loop().time()
        link.outage(0.6)
        await streaming
        await _wait(lambda: len(got) >= 300)
        connected = client.is_connected
        await client.disconnect()
        return link, got, drops, connected, t0

    link, got, drops, connected, t0 = run(main())
    assert connected and not drops and got == list(range(300))
    during = [t_del for _, _, t_del, _, _ in link.trace if t0 < t_del < t0 + 0.6]
    assert during == [], "the air delivered during an outage"
    assert link.stats.supervision_timeouts == 0


def test_outage_longer_than_supervision_timeout_disconnects_both_sides():
    async def main():
        link = ModelLink()
        sensor, client, _got, drops = await _session(link, supervision_ms=500)
        reasons: list[int] = []
        sensor.connection.on("disconnection", reasons.append)
        link.outage(1.5)
        await _wait(lambda: drops and reasons, timeout=10)
        # The sensor advertises again at once (as the firmware does), but while the outage
        # lasts nobody hears it.
        await sensor.advertise()
        hidden = await BleakScanner.find_device_by_name(
            sensor.name, timeout=0.3, backend=BumbleScanner, transport=link
        )
        await _wait(lambda: not link.in_outage, timeout=10)
        await client.connect()
        back = client.is_connected
        await client.disconnect()
        return client._backend.last_disconnect_reason, reasons, hidden, back, link.stats

    host_reason, sensor_reasons, hidden, back, stats = run(main())
    assert sensor_reasons == [0x08]
    assert host_reason is not None  # the later requested disconnect overwrote the first
    assert hidden is None and stats.advertising_dropped > 0
    assert back and stats.supervision_timeouts == 1


def test_host_that_vanishes_leaves_the_sensor_a_supervision_timeout():
    async def main():
        link = ModelLink()
        sensor, client, _got, _drops = await _session(link, supervision_ms=400)
        reasons: list[int] = []
        sensor.connection.on("disconnection", reasons.append)
        adapter = client._backend._adapter
        adapter._controller.drop_all_connections()  # the host's controller loses power
        await _wait(lambda: reasons, timeout=10)
        return reasons

    assert run(main()) == [0x08]


def test_disconnect_all_uses_the_given_reason():
    async def main():
        link = ModelLink()
        sensor, client, _got, drops = await _session(link)
        reasons: list[int] = []
        sensor.connection.on("disconnection", reasons.append)
        link.disconnect_all(0x3D)
        await _wait(lambda: drops and reasons)
        return client._backend.last_disconnect_reason, reasons

    assert run(main()) == (0x3D, [0x3D])
