"""The bleak backend on bumble, through bleak's public API only (BleakScanner / BleakClient).

Covers the issue's acceptance list (scan, connect timeout to an absent device, peripheral-
initiated disconnect mid-stream, reconnect, pairing) and one test per toolchain pitfall."""

from __future__ import annotations

import asyncio
import functools
import json
import time

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from conftest import (
    CONTROL,
    DATA,
    INDICATE,
    INFO,
    OTHER_SERVICE,
    SECRET,
    SERVICE,
    WRITE_ONLY,
    Peripheral,
    run,
)
from muwatch.ble import (
    BleakConnectionFailedError,
    BondStore,
    BumbleClient,
    BumbleScanner,
    _adapter,
    backend_from_spec,
    register_local_link,
)
from muwatch.errors import UsageError
from muwatch.sim.radio_link import ModelLink


def _kw(link: ModelLink, **extra: object) -> dict[str, object]:
    return {"backend": BumbleClient, "transport": link, **extra}


async def _find(link: ModelLink, name: str, timeout: float = 5.0):
    device = await BleakScanner.find_device_by_name(
        name, timeout=timeout, backend=BumbleScanner, transport=link
    )
    assert device is not None, f"{name} not found"
    return device


# -- scanning -------------------------------------------------------------------------------


def test_scan_reports_name_and_service_once_with_service_filter():
    async def main():
        link = ModelLink()
        # The scan response repeats the name and the UUID list (pitfall 2: duplicates).
        sensor = Peripheral(link, name="muw-AAAA")
        await sensor.start()
        sensor.scan_response = sensor.adv_data()[3:]
        await sensor.advertise()
        other = await Peripheral(
            link, name="thermo", address="F0:00:00:00:00:02", service=OTHER_SERVICE
        ).start()
        found = await BleakScanner.discover(
            timeout=0.6,
            return_adv=True,
            service_uuids=[SERVICE],
            backend=BumbleScanner,
            transport=link,
        )
        everything = await BleakScanner.discover(
            timeout=0.6, return_adv=True, backend=BumbleScanner, transport=link
        )
        assert other.name == "thermo"
        return found, everything

    found, everything = run(main())
    assert list(found) == ["F0:00:00:00:00:01"]
    device, adv = found["F0:00:00:00:00:01"]
    assert adv.local_name == "muw-AAAA" and device.name == "muw-AAAA"
    assert adv.service_uuids == [SERVICE]
    structures = adv.platform_data[0]
    assert len(structures) == len(set(structures)), "duplicate AD structures reached bleak"
    assert set(everything) == {"F0:00:00:00:00:01", "F0:00:00:00:00:02"}


def test_passive_scan_gets_no_scan_response():
    async def main():
        link = ModelLink()
        sensor = Peripheral(link, name="muw-BBBB", scan_response=bytes([5, 0xFF, 0x34, 0x12, 1, 2]))
        await sensor.start()
        seen = {}
        for mode in ("active", "passive"):
            found = await BleakScanner.discover(
                timeout=0.5,
                return_adv=True,
                scanning_mode=mode,
                backend=BumbleScanner,
                transport=link,
            )
            seen[mode] = found["F0:00:00:00:00:01"][1]
        return seen

    seen = run(main())
    assert seen["active"].manufacturer_data == {0x1234: b"\x01\x02"}
    assert seen["passive"].manufacturer_data == {}
    assert seen["passive"].local_name == "muw-BBBB"


# -- connecting -----------------------------------------------------------------------------


def test_connect_to_absent_address_fails_within_the_timeout():
    async def main():
        link = ModelLink()
        await Peripheral(link).start()  # something else on the air
        t0 = time.monotonic()
        client = BleakClient("F0:00:00:00:00:99", timeout=1.0, **_kw(link))
        with pytest.raises(BleakDeviceNotFoundError) as info:
            await client.connect()
        return time.monotonic() - t0, info.value

    elapsed, error = run(main())
    assert elapsed < 1.0 + 2.0, f"connect took {elapsed:.1f} s with a 1 s timeout"
    assert "F0:00:00:00:00:99" in str(error)


def test_connect_to_a_device_that_stopped_advertising_is_cancelled_not_hung():
    """Pitfall 1: bumble's controller never ended a cancelled LE Create Connection."""

    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        await sensor.device.stop_advertising()
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await BleakClient(device, timeout=0.8, **_kw(link)).connect()
        elapsed = time.monotonic() - t0
        # The adapter is usable afterwards: a new connect to an advertising device works.
        await sensor.advertise()
        async with BleakClient(device, timeout=5.0, **_kw(link)) as client:
            ok = client.is_connected
        return elapsed, ok

    elapsed, ok = run(main())
    assert elapsed < 0.8 + 2.0 and ok


def test_gatt_read_write_notify_and_mtu_before_connect_returns():
    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        got: list[bytes] = []
        async with BleakClient(device, **_kw(link)) as client:
            mtu = client.mtu_size  # pitfall 4: the exchange is done when connect returns
            chars = {c.uuid: c for c in client.services.characteristics.values()}
            wnr_size = chars[CONTROL].max_write_without_response_size
            info = await client.read_gatt_char(INFO)
            await client.write_gatt_char(CONTROL, b"\x01\x02", response=True)
            await client.write_gatt_char(CONTROL, b"\x03", response=False)
            await client.start_notify(DATA, lambda _c, v: got.append(bytes(v)))
            await sensor.stream(300)
            await asyncio.sleep(0.2)
            with pytest.raises(BleakError, match="do not fit"):
                await client.write_gatt_char(CONTROL, bytes(300), response=False)
        return mtu, chars, wnr_size, info, sensor.writes, got

    mtu, chars, wnr_size, info, writes, got = run(main())
    assert mtu == 247
    assert {"write", "write-without-response", "notify"} <= set(chars[CONTROL].properties)
    assert wnr_size == 244
    assert info == b"info-v1"
    assert writes == [b"\x01\x02", b"\x03"]
    assert len(got) == 300 and all(len(v) == 244 for v in got), "notifications truncated"
    assert [int.from_bytes(v[:4], "little") for v in got] == list(range(300))


def test_indications_arrive_and_are_confirmed():
    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        got: list[bytes] = []
        async with BleakClient(device, **_kw(link)) as client:
            props = client.services.get_characteristic(INDICATE).properties
            await client.start_notify(INDICATE, lambda _c, v: got.append(bytes(v)))
            for i in range(5):
                # returns once the host confirmed (ATT Handle Value Confirmation)
                await sensor.device.indicate_subscriber(
                    sensor.connection, sensor.indicate, bytes([i]) * 100
                )
            await client.stop_notify(INDICATE)
            await sensor.device.indicate_subscriber(sensor.connection, sensor.indicate, b"late")
            await asyncio.sleep(0.1)
        return props, got

    props, got = run(main())
    assert props == ["indicate"]
    assert got == [bytes([i]) * 100 for i in range(5)]  # nothing after stop_notify


def test_att_errors_become_bleak_protocol_errors():
    """Pitfall 5: refused reads surface as BleakGATTProtocolError with the ATT code."""

    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        async with BleakClient(device, **_kw(link)) as client:
            with pytest.raises(BleakGATTProtocolError) as not_readable:
                await client.read_gatt_char(WRITE_ONLY)
            with pytest.raises(BleakGATTProtocolError) as needs_pairing:
                await client.read_gatt_char(SECRET)
        return not_readable.value, needs_pairing.value

    not_readable, needs_pairing = run(main())
    assert not_readable.code == 0x02  # READ_NOT_PERMITTED
    assert needs_pairing.code == 0x0F  # INSUFFICIENT_ENCRYPTION


def test_peripheral_disconnect_mid_stream_then_reconnect():
    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        drops: list[BleakClient] = []
        got: list[int] = []
        client = BleakClient(device, disconnected_callback=drops.append, **_kw(link))
        await client.connect()
        await client.start_notify(DATA, lambda _c, v: got.append(int.from_bytes(v[:4], "little")))
        streaming = asyncio.ensure_future(sensor.stream(1000))
        while len(got) < 50:
            await asyncio.sleep(0.01)
        await sensor.connection.disconnect()  # the sensor ends the link mid-stream
        streaming.cancel()
        await asyncio.gather(streaming, return_exceptions=True)
        await asyncio.sleep(0.1)
        state = (client.is_connected, len(drops), client._backend.last_disconnect_reason)
        with pytest.raises(BleakError, match="not connected"):
            await client.write_gatt_char(CONTROL, b"x", response=True)
        # Reconnect with the same client object: everything works again.
        await sensor.advertise()
        await client.connect()
        got.clear()
        await client.start_notify(DATA, lambda _c, v: got.append(int.from_bytes(v[:4], "little")))
        await sensor.stream(20)
        await asyncio.sleep(0.1)
        again = (client.is_connected, list(got))
        await client.disconnect()  # a requested disconnect does not call the callback
        return state, again, len(drops)

    (connected, n_drops, reason), (reconnected, got), drops_at_end = run(main())
    assert not connected and n_drops == 1 and reason == 0x13
    assert reconnected and got == list(range(20))
    assert drops_at_end == 1


def test_pairing_bonds_and_a_later_connection_is_encrypted(tmp_path):
    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        store = tmp_path / "bonds.json"
        async with BleakClient(device, bond_store=store, **_kw(link)) as client:
            before = client._backend.is_encrypted
            await client.pair()
            after = client._backend.is_encrypted
            secret = await client.read_gatt_char(SECRET)
        await sensor.advertise()
        # A new process would open the same store: a fresh BondStore from the file.
        _adapter._adapters.clear()
        async with BleakClient(device, bond_store=str(store), **_kw(link)) as client:
            encrypted_again = client._backend.is_encrypted
            secret_again = await client.read_gatt_char(SECRET)
            await client.unpair()
        return before, after, secret, encrypted_again, secret_again, json.loads(store.read_text())

    before, after, secret, encrypted_again, secret_again, saved = run(main())
    assert not before and after and secret == b"secret"
    assert encrypted_again and secret_again == b"secret"
    assert saved["bonds"] == {}  # unpair forgot it
    assert saved["address"]  # the host keeps its identity address


def test_pair_on_connect():
    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        async with BleakClient(device, pair=True, bond_store=BondStore(), **_kw(link)) as client:
            return client._backend.is_encrypted, await client.read_gatt_char(SECRET)

    assert run(main()) == (True, b"secret")


def test_connection_interval_is_the_centrals_choice():
    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        out = {}
        for interval in (7.5, 15.0):
            async with BleakClient(
                device, connection_interval_ms=(interval, interval), **_kw(link)
            ) as client:
                await asyncio.sleep(0.05)
                seen_by_sensor = sensor.connection.parameters.connection_interval
                link_connection = next(iter(link._by_sender.values()))
                out[interval] = (
                    client._backend.connection_interval_ms,
                    seen_by_sensor,
                    link_connection.interval_s,
                )
            await sensor.advertise()
        return out

    for interval, (host, sensor, model) in run(main()).items():
        assert host == sensor == interval
        assert model == pytest.approx(interval / 1000)


def test_refused_connection_fails_cleanly_and_the_next_succeeds():
    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        link.refuse_connections(1)
        with pytest.raises(BleakConnectionFailedError, match="0x3E"):
            await BleakClient(device, timeout=5.0, **_kw(link)).connect()
        async with BleakClient(device, timeout=5.0, **_kw(link)) as client:
            return client.is_connected, link.stats.refused_connections

    assert run(main()) == (True, 1)


def test_acl_buffers_carry_a_full_notification_in_one_packet():
    """Pitfall 3: 251-byte LE ACL buffers, one LL packet per 244-byte notification."""

    async def main():
        link = ModelLink()
        sensor = await Peripheral(link).start()
        device = await _find(link, sensor.name)
        async with BleakClient(device, **_kw(link)) as client:
            host = next(iter(_adapter._adapters[asyncio.get_running_loop()].values())).adapter
            queue = host.device.host.le_acl_packet_queue
            await client.start_notify(DATA, lambda _c, v: None)
            before = (link.stats.pdus_delivered, link.stats.ll_packets_sent)
            await sensor.stream(50)
            await asyncio.sleep(0.1)
            after = (link.stats.pdus_delivered, link.stats.ll_packets_sent)
        return queue.max_packet_size, after[0] - before[0], after[1] - before[1]

    packet_size, pdus, ll_packets = run(main())
    assert packet_size == 251
    assert pdus == ll_packets >= 50


def test_notify_loop_with_drain_keeps_the_queue_bounded():
    """Pitfall 8: without waiting for the link a notify loop queues without limit."""

    async def main():
        out = {}
        for drain in (True, False):
            link = ModelLink()
            sensor = await Peripheral(link).start()
            device = await _find(link, sensor.name)
            got: list[int] = []
            async with BleakClient(device, **_kw(link)) as client:
                await client.start_notify(
                    DATA, lambda _c, v, got=got: got.append(int.from_bytes(v[:4], "little"))
                )
                await sensor.stream(200, drain=drain)
                # what the sensor's host still holds for the controller when the loop ends
                queued = sensor.device.host.le_acl_packet_queue.pending
                while len(got) < 200:
                    await asyncio.sleep(0.02)
            out[drain] = (queued, link.stats.max_queue_depth, got == list(range(200)))
        return out

    out = run(main())
    assert out[True][2] and out[False][2]  # nothing lost or reordered either way
    assert out[True][0] == 0 and out[True][1] <= 2
    assert out[False][0] > 100  # the whole burst piled up in the host's queue


def test_transport_lost_is_reported_and_a_new_adapter_opens():
    """Pitfall 9: after the HCI transport dies, the central is dead; reopen it."""
    from muwatch.sim.radio import Radio

    async def main():
        results = []
        for _ in range(2):
            radio = Radio()
            endpoints = await radio.start()
            sensor = await Peripheral(radio.link).start()
            drops: list[object] = []
            device = await BleakScanner.find_device_by_name(
                sensor.name, timeout=5, backend=BumbleScanner, transport=endpoints["hci"]
            )
            client = BleakClient(
                device,
                disconnected_callback=drops.append,
                backend=BumbleClient,
                transport=endpoints["hci"],
            )
            await client.connect()
            await radio.stop()  # the radio (the dongle) goes away
            for _ in range(100):
                if drops:
                    break
                await asyncio.sleep(0.02)
            with pytest.raises(BleakError):
                await client.read_gatt_char(INFO)
            results.append((len(drops), client.is_connected))
        return results

    assert run(main()) == [(1, False), (1, False)]


def test_state_does_not_leak_between_event_loops():
    """Pitfall 10: adapters belong to one loop; a second asyncio.run starts clean."""
    link = ModelLink()
    register_local_link("pitfall10", link)

    async def once():
        if not link.controllers:
            await Peripheral(link).start()
        device = await BleakScanner.find_device_by_name(
            "muw-T001", timeout=5, backend=BumbleScanner, transport="local:pitfall10"
        )
        async with BleakClient(device, backend=BumbleClient, transport="local:pitfall10") as c:
            return c.is_connected, len(_adapter._adapters)

    first = run(once())
    # The peripheral's controller belonged to the first loop: give the second its own.
    for controller in list(link.controllers):
        link.remove_controller(controller)
    second = run(once())
    assert first[0] and second[0]
    assert second[1] == 1  # only the live loop has adapters


def test_backend_is_passed_as_classes():
    """Pitfall 6: bleak needs a class for backend=; functools.partial breaks it."""
    be = backend_from_spec("bumble:tcp-client:127.0.0.1:9")
    assert isinstance(be.client, type) and issubclass(be.client, BaseBleakClient)
    assert be.client_kwargs() == {"backend": BumbleClient, "transport": "tcp-client:127.0.0.1:9"}
    with pytest.raises(AttributeError):
        BleakClient("F0:00:00:00:00:01", backend=functools.partial(BumbleClient, transport="x"))


@pytest.mark.parametrize(
    ("spec", "transport"),
    [
        ("bumble:tcp-client:127.0.0.1:9001", "tcp-client:127.0.0.1:9001"),
        ("bumble:unix-client:/tmp/radio.sock", "unix-client:/tmp/radio.sock"),
        ("bumble:usb:0", "usb:0"),
        ("bumble:local:bench", "local:bench"),
    ],
)
def test_backend_from_spec_accepts(spec, transport):
    be = backend_from_spec(spec, bond_store="/tmp/b.json")
    assert be.scanner is BumbleScanner and be.client is BumbleClient
    assert be.kwargs == {"transport": transport, "bond_store": "/tmp/b.json"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bluez", "unknown BLE backend"),
        ("bumble:", "bad bumble transport"),
        ("bumble:tcp-client:127.0.0.1", "tcp-client:HOST:PORT"),
        ("bumble:tcp-client:host:99999", "tcp-client:HOST:PORT"),
        ("bumble:carrier-pigeon:1", "bad bumble transport"),
    ],
)
def test_backend_from_spec_rejects_with_the_accepted_forms(spec, message):
    with pytest.raises(UsageError, match=message):
        backend_from_spec(spec)


def test_os_backend_means_bleak_default():
    be = backend_from_spec("os")
    assert be.scanner is None and be.client_kwargs() == {} and be.scanner_kwargs() == {}


def test_hci_over_a_unix_socket(tmp_path):
    from muwatch.sim.radio import Radio

    async def main():
        radio = Radio()
        sock = tmp_path / "hci.sock"
        endpoints = await radio.start(hci_listen=f"unix:{sock}", control_listen=None)
        sensor = await Peripheral(radio.link).start()
        device = await BleakScanner.find_device_by_name(
            sensor.name, timeout=5, backend=BumbleScanner, transport=endpoints["hci"]
        )
        async with BleakClient(device, backend=BumbleClient, transport=endpoints["hci"]) as client:
            value = await client.read_gatt_char(INFO)
        await radio.stop()
        return endpoints["hci"], value

    spec, value = run(main())
    assert spec == f"unix-client:{tmp_path / 'hci.sock'}"
    assert value == b"info-v1"


def test_unreachable_radio_says_what_to_start():
    async def main():
        with pytest.raises(BleakError, match="sim-device --ble"):
            await BleakScanner.discover(
                timeout=0.2, backend=BumbleScanner, transport="tcp-client:127.0.0.1:1"
            )

    run(main())


def test_usb_dongle_scan():
    """A real USB Bluetooth dongle through bumble's usb transport (benches, Linux w/o BlueZ)."""
    pytest.importorskip(
        "usb1", reason="libusb1 (python package usb1) not installed: no USB dongle support"
    )

    async def main():
        try:
            return await BleakScanner.discover(
                timeout=2.0, backend=BumbleScanner, transport="usb:0"
            )
        except BleakError as exc:
            pytest.skip(f"no usable USB Bluetooth dongle: {exc}")

    found = run(main())
    assert isinstance(found, list)
