"""The simulated radio: the sensor's Bluetooth controller and the air, in one process.

The twin's firmware runs in the MicroPython unix port; its `bluetooth` module
(firmware/sim/bluetooth.py) connects here. For each firmware the radio runs a bumble peripheral
that mirrors the GATT table the firmware registered and relays what NimBLE would: connections,
writes, MTU exchanges, subscriptions, pairing (bond keys go to the firmware's own store through
the _IRQ_GET_SECRET/_IRQ_SET_SECRET events), notifications with NimBLE's back-pressure (a
notification holds a buffer until the link delivered it; with none left gatts_notify raises
ENOMEM). Hosts reach the radio as an HCI controller over TCP or a unix socket, i.e. the bleak
bumble backend with ``transport="tcp-client:HOST:PORT"``. Between the two sits
`muwatch.sim.radio_link.ModelLink` (connection interval, packets per event, loss as
retransmission delay, outages, refused connections).

Run as a process: ``python -m muwatch.sim.radio`` prints one JSON line with the endpoints
(``hci``, ``firmware``, ``control``) and serves until killed. The control endpoint takes JSON
lines (`RadioControl` is the client): ``status``, ``outage``, ``refuse``, ``disconnect``,
``set_model``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import struct
import sys
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from bumble import att, hci, pairing
from bumble import gatt as bumble_gatt
from bumble import gatt_server as bumble_gatt_server
from bumble.core import UUID
from bumble.device import Connection, Device
from bumble.host import Host
from bumble.keys import KeyStore, PairingKeys
from bumble.transport.common import AsyncPipeSink, PacketParser

from muwatch.ble._controller import MuwatchController
from muwatch.sim import radio_wire as w
from muwatch.sim.radio_link import LinkModel, ModelLink

logger = logging.getLogger(__name__)

DEFAULT_ADDRESS = "D0:5E:ED:00:2A:17"
#: NimBLE on the ESP32 holds about a dozen notifications in its buffer pool.
DEFAULT_TX_BUFFERS = 12
#: MicroPython's preferred MTU before the firmware sets one.
DEFAULT_MTU = 256

_FLAG_READ = 0x0002
_FLAG_WRITE_NO_RESPONSE = 0x0004
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_INDICATE = 0x0020
_FLAG_READ_ENCRYPTED = 0x0200
_FLAG_READ_AUTHENTICATED = 0x0400
_FLAG_WRITE_ENCRYPTED = 0x1000
_FLAG_WRITE_AUTHENTICATED = 0x2000
_DEFAULT_BUFFER = 20  # MicroPython: characteristic values hold 20 bytes unless told more

_ATT_NOTIFY = 0x1B
_ATT_INDICATE = 0x1D
_ATT_CID = 0x0004


@dataclass
class RadioStats:
    """What the radio relayed for the firmware (link-level figures are in ModelLink.stats)."""

    notifications: int = 0
    notifications_truncated: int = 0
    notifications_without_connection: int = 0
    indications: int = 0
    writes_from_host: int = 0
    writes_truncated: int = 0
    connections: int = 0
    disconnections: dict[str, int] = field(default_factory=dict)
    pairings: int = 0
    firmware_sessions: int = 0
    max_outstanding: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _uuid(raw: bytes) -> UUID:
    return UUID.from_bytes(bytes(raw))


class _Value:
    """A characteristic or descriptor value as MicroPython's GATT database holds it."""

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.data = b""
        self.capacity = _DEFAULT_BUFFER
        self.append = False
        self.handle = 0


class _ConnState:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # In send order, per notification/indication the peripheral sent: did it hold a buffer
        # the firmware is waiting for? Deliveries arrive in the same order.
        self.in_flight: deque[bool] = deque()
        self.outstanding = 0


class _FirmwareKeyStore(KeyStore):
    """bumble's key store, kept by the firmware (its flash) through the secret IRQs."""

    def __init__(self, session: FirmwareSession) -> None:
        self.session = session

    async def get(self, name: str) -> PairingKeys | None:
        value = await self.session.get_secret(name.encode(), 0)
        if value is None:
            return None
        self.session.bonded_peers.add(name)  # encryption from stored keys: a bonded link
        return self._decode(value)[1]

    async def update(self, name: str, keys: PairingKeys) -> None:
        record = json.dumps({"peer": name, "keys": keys.to_dict()}).encode()
        await self.session.set_secret(name.encode(), record)

    async def delete(self, name: str) -> None:
        await self.session.set_secret(name.encode(), None)

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        out = []
        for index in range(64):
            value = await self.session.get_secret(None, index)
            if value is None:
                break
            with contextlib.suppress(ValueError, KeyError):
                out.append(self._decode(value))
        return out

    @staticmethod
    def _decode(value: bytes) -> tuple[str, PairingKeys]:
        record = json.loads(value.decode())
        return record["peer"], PairingKeys.from_dict(record["keys"])


class FirmwareSession:
    """One running firmware: its socket, its bumble peripheral, its GATT mirror."""

    def __init__(
        self,
        radio: Radio,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.radio = radio
        self.reader = reader
        self.writer = writer
        self.device: Device | None = None
        self.controller: MuwatchController | None = None
        self.values: dict[int, _Value] = {}
        self.attributes: dict[int, bumble_gatt.Characteristic[Any] | bumble_gatt.Descriptor] = {}
        self.conns: dict[int, _ConnState] = {}
        self.mtu = DEFAULT_MTU
        self.bond = True
        self.le_secure = False
        self.mitm = False
        self.io = pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
        self.gap_name = "MPY BTSTACK"
        self.advertising = False
        self._requests = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.bonded_peers: set[str] = set()

    # -- socket ----------------------------------------------------------------------------
    def send(self, msg_type: int, body: bytes = b"") -> None:
        if not self.writer.is_closing():
            self.writer.write(w.frame(msg_type, body))

    async def run(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(2)
                (length,) = struct.unpack("<H", header)
                if length == 0:
                    raise ValueError("empty message from the firmware")
                body = await self.reader.readexactly(length)
                await self.handle(body[0], body[1:])
        except (asyncio.IncompleteReadError, ConnectionError):
            logger.info("firmware left the radio")
        except Exception:
            logger.exception("firmware session failed")
        finally:
            await self.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        if self.controller is not None:
            # A sensor that stops (reset, crash, power) goes silent: hosts time out.
            self.controller.drop_all_connections()
            self.radio.link.remove_controller(self.controller)
            self.controller = None
        with contextlib.suppress(Exception):
            self.writer.close()
        self.radio.sessions.discard(self)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- messages from the firmware --------------------------------------------------------
    async def handle(self, msg_type: int, body: bytes) -> None:
        if msg_type == w.NOTIFY or msg_type == w.INDICATE:
            conn, handle = struct.unpack_from("<HH", body, 0)
            self._notify(conn, handle, body[4:], indicate=msg_type == w.INDICATE)
        elif msg_type == w.HELLO:
            req, version = struct.unpack_from("<HB", body, 0)
            if version != w.VERSION:
                self._reply(req, 95, b"")  # EOPNOTSUPP: shim and radio disagree
                return
            await self._start_peripheral()
            addr = self.radio.address
            self._reply(
                req,
                0,
                bytes([0])
                + bytes(reversed(addr.address_bytes))
                + struct.pack("<H", self.radio.tx_buffers),
            )
        elif msg_type == w.REGISTER:
            (req,) = struct.unpack_from("<H", body, 0)
            try:
                handles = self._register(w.decode_services(body, 2))
            except ValueError as exc:
                logger.warning("bad service definition from the firmware: %s", exc)
                self._reply(req, 22, b"")
                return
            out = bytearray([len(handles)])
            for group in handles:
                out += bytes([len(group)]) + b"".join(struct.pack("<H", h) for h in group)
            self._reply(req, 0, bytes(out))
        elif msg_type == w.ADVERTISE:
            interval_us, connectable = struct.unpack_from("<IB", body, 0)
            adv, off = w.unpack_bytes(body, 5)
            resp, _ = w.unpack_bytes(body, off)
            await self._advertise(interval_us, bool(connectable), adv or b"", resp or b"")
        elif msg_type == w.GATTS_WRITE:
            handle, send_update = struct.unpack_from("<HB", body, 0)
            value, _ = w.unpack_bytes(body, 3)
            self._local_write(handle, value or b"", bool(send_update))
        elif msg_type == w.SET_BUFFER:
            handle, length, append = struct.unpack_from("<HHB", body, 0)
            if handle in self.values:
                self.values[handle].capacity = length
                self.values[handle].append = bool(append)
        elif msg_type == w.DISCONNECT:
            (conn,) = struct.unpack_from("<H", body, 0)
            state = self.conns.get(conn)
            if state is not None:
                self._spawn(state.connection.disconnect())
        elif msg_type == w.EXCHANGE_MTU:
            (conn,) = struct.unpack_from("<H", body, 0)
            state = self.conns.get(conn)
            if state is not None:
                self._spawn(self._exchange_mtu(state.connection))
        elif msg_type == w.CONFIG:
            mtu, bond, le_secure, mitm, io = struct.unpack_from("<HBBBB", body, 0)
            name, _ = w.unpack_bytes(body, 6)
            self.mtu, self.bond, self.le_secure, self.mitm = (
                mtu,
                bool(bond),
                bool(le_secure),
                bool(mitm),
            )
            self.io = io
            if name is not None:
                self.gap_name = name.decode("utf-8", "replace")
            if self.device is not None:
                self.device.gatt_server.max_mtu = self.mtu
        elif msg_type == w.PAIR:
            (conn,) = struct.unpack_from("<H", body, 0)
            state = self.conns.get(conn)
            if state is not None and self.device is not None:
                self.device.request_pairing(state.connection)
        elif msg_type == w.SECRET_REPLY:
            req, kind = struct.unpack_from("<HB", body, 0)
            value, _ = w.unpack_bytes(body, 3)
            future = self._pending.pop(req, None)
            if future is not None and not future.done():
                future.set_result(value if kind == 1 else (kind == 2 and value == b"\x01"))
        else:
            logger.warning(
                "unknown message 0x%02X from the firmware (%d bytes)", msg_type, len(body)
            )

    def _reply(self, req: int, status: int, body: bytes) -> None:
        self.send(w.REPLY, struct.pack("<HB", req, status) + body)

    # -- the bumble peripheral -------------------------------------------------------------
    async def _start_peripheral(self) -> None:
        if self.device is not None:
            return
        self.radio.stats.firmware_sessions += 1
        controller = MuwatchController(
            "sensor",
            link=self.radio.link,
            public_address=self.radio.address,
            acl_buffers=self.radio.tx_buffers,
        )
        device = Device(
            name=self.gap_name,
            address=hci.Address.generate_static_address(),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        device.pairing_config_factory = self._pairing_config
        await device.power_on()
        device.keystore = _FirmwareKeyStore(self)
        device.gatt_server.max_mtu = self.mtu
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self.controller = controller
        self.device = device

    def _pairing_config(self, _connection: Connection) -> pairing.PairingConfig:
        return pairing.PairingConfig(
            sc=self.le_secure,
            mitm=self.mitm,
            bonding=self.bond,
            delegate=pairing.PairingDelegate(
                io_capability=pairing.PairingDelegate.IoCapability(self.io)
            ),
        )

    def _register(self, services: list[w.ServiceDef]) -> list[list[int]]:
        device = self.device
        if device is None:
            raise ValueError("REGISTER before HELLO")
        if self.advertising:
            raise ValueError("services registered while advertising")
        device.gatt_server = bumble_gatt_server.Server(device)
        device.name = self.gap_name
        device.add_default_services()
        device.gatt_server.max_mtu = self.mtu
        self.values.clear()
        self.attributes.clear()
        built: list[tuple[bumble_gatt.Service, list[tuple[Any, _Value]]]] = []
        for service_def in services:
            chars = []
            order: list[tuple[Any, _Value]] = []
            for char_def in service_def.characteristics:
                value = _Value(char_def.flags)
                descriptors = []
                desc_values = []
                for desc_def in char_def.descriptors:
                    dvalue = _Value(desc_def.flags)
                    descriptor = bumble_gatt.Descriptor(
                        _uuid(desc_def.uuid),
                        bumble_gatt.Attribute.READABLE | bumble_gatt.Attribute.WRITEABLE,
                        att.AttributeValue(
                            read=lambda c, v=dvalue: self._read(c, v),
                            write=lambda c, data, v=dvalue: self._write(c, v, data),
                        ),
                    )
                    descriptors.append(descriptor)
                    desc_values.append((descriptor, dvalue))
                characteristic = bumble_gatt.Characteristic(
                    _uuid(char_def.uuid),
                    bumble_gatt.Characteristic.Properties(char_def.flags & 0xFF),
                    bumble_gatt.Attribute.READABLE | bumble_gatt.Attribute.WRITEABLE,
                    bumble_gatt.CharacteristicValue(
                        read=lambda c, v=value: self._read(c, v),
                        write=lambda c, data, v=value: self._write(c, v, data),
                    ),
                    descriptors,
                )
                chars.append(characteristic)
                order.append((characteristic, value))
                order.extend(desc_values)
            service = bumble_gatt.Service(_uuid(service_def.uuid), chars)
            device.add_service(service)
            built.append((service, order))
        handles: list[list[int]] = []
        for _service, order in built:
            group = []
            for attribute, value in order:
                value.handle = attribute.handle
                self.values[attribute.handle] = value
                self.attributes[attribute.handle] = attribute
                group.append(attribute.handle)
            handles.append(group)
        return handles

    async def _advertise(
        self, interval_us: int, connectable: bool, adv: bytes, resp: bytes
    ) -> None:
        device = self.device
        if device is None:
            return
        if interval_us == 0:
            self.advertising = False
            await device.stop_advertising()
            return
        from bumble.device import AdvertisingType

        kind = (
            AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE
            if connectable
            else AdvertisingType.UNDIRECTED_SCANNABLE
        )
        ms = max(interval_us / 1000.0, 20.0)
        await device.start_advertising(
            advertising_type=kind,
            own_address_type=hci.OwnAddressType.PUBLIC,
            advertising_data=adv,
            scan_response_data=resp,
            advertising_interval_min=ms,
            advertising_interval_max=ms,
        )
        self.advertising = True

    # -- connections -----------------------------------------------------------------------
    def _on_connection(self, connection: Connection) -> None:
        if connection.role != hci.Role.PERIPHERAL:
            return
        self.advertising = False  # the controller stops advertising on connect (NimBLE too)
        state = _ConnState(connection)
        self.conns[connection.handle] = state
        self.radio.stats.connections += 1
        peer = connection.peer_address
        self.send(
            w.CONNECT,
            struct.pack("<HB", connection.handle, 0 if peer.is_public else 1)
            + bytes(reversed(peer.address_bytes)),
        )

        def on_disconnection(reason: int) -> None:
            self._on_disconnection(state, reason)

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)
        connection.on(connection.EVENT_CONNECTION_ATT_MTU_UPDATE, lambda: self._on_mtu(connection))
        connection.on(
            connection.EVENT_CONNECTION_ENCRYPTION_CHANGE, lambda: self._on_encryption(connection)
        )
        connection.on(connection.EVENT_PAIRING, lambda *_a: self._on_paired(connection))
        connection.on(
            connection.EVENT_CONNECTION_PARAMETERS_UPDATE, lambda: self._on_parameters(connection)
        )

    def _on_disconnection(self, state: _ConnState, reason: int) -> None:
        connection = state.connection
        self.conns.pop(connection.handle, None)
        key = f"0x{reason:02X}"
        self.radio.stats.disconnections[key] = self.radio.stats.disconnections.get(key, 0) + 1
        flushed = sum(1 for credited in state.in_flight if credited)
        state.in_flight.clear()
        state.outstanding = 0
        if flushed:
            # Buffers of notifications that never made it come back to the pool.
            self.send(w.CREDITS, struct.pack("<H", flushed))
        peer = connection.peer_address
        self.send(
            w.DISCONNECTED,
            struct.pack("<HB", connection.handle, 0 if peer.is_public else 1)
            + bytes(reversed(peer.address_bytes))
            + bytes([reason & 0xFF]),
        )

    def _on_mtu(self, connection: Connection) -> None:
        if connection.handle in self.conns:
            self.send(w.MTU, struct.pack("<HH", connection.handle, connection.att_mtu))

    def _on_encryption(self, connection: Connection) -> None:
        if connection.handle not in self.conns:
            return
        peer = str(connection.peer_address)
        bonded = connection.is_encrypted and peer in self.bonded_peers
        self.send(
            w.ENCRYPTION,
            struct.pack(
                "<HBBBB",
                connection.handle,
                int(connection.is_encrypted),
                int(connection.authenticated),
                int(bonded),
                connection.encryption_key_size or (16 if connection.is_encrypted else 0),
            ),
        )

    def _on_paired(self, connection: Connection) -> None:
        self.radio.stats.pairings += 1
        if self.bond:
            self.bonded_peers.add(str(connection.peer_address))
        self._on_encryption(connection)

    def _on_parameters(self, connection: Connection) -> None:
        if connection.handle not in self.conns:
            return
        p = connection.parameters
        self.send(
            w.CONN_UPDATE,
            struct.pack(
                "<HHHHB",
                connection.handle,
                int(round(p.connection_interval / 1.25)),
                p.peripheral_latency,
                int(round(p.supervision_timeout / 10)),
                0,
            ),
        )

    async def _exchange_mtu(self, connection: Connection) -> None:
        try:
            await connection.gatt_client.request_mtu(self.mtu)
        except Exception as exc:  # the link may drop meanwhile; NimBLE just reports nothing
            logger.debug("MTU exchange failed: %r", exc)

    # -- GATT values -----------------------------------------------------------------------
    def _read(self, connection: Connection, value: _Value) -> bytes:
        if not value.flags & _FLAG_READ:
            raise att.ATT_Error(att.ErrorCode.READ_NOT_PERMITTED, value.handle)
        if (
            value.flags & (_FLAG_READ_ENCRYPTED | _FLAG_READ_AUTHENTICATED)
            and not connection.is_encrypted
        ):
            raise att.ATT_Error(att.ErrorCode.INSUFFICIENT_AUTHENTICATION, value.handle)
        return value.data

    def _write(self, connection: Connection, value: _Value, data: bytes) -> None:
        if not value.flags & (_FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE):
            raise att.ATT_Error(att.ErrorCode.WRITE_NOT_PERMITTED, value.handle)
        if (
            value.flags & (_FLAG_WRITE_ENCRYPTED | _FLAG_WRITE_AUTHENTICATED)
            and not connection.is_encrypted
        ):
            raise att.ATT_Error(att.ErrorCode.INSUFFICIENT_AUTHENTICATION, value.handle)
        self.radio.stats.writes_from_host += 1
        data = bytes(data)
        if value.append:
            data = value.data + data
        if len(data) > value.capacity:
            # MicroPython keeps only what fits its buffer (gatts_set_buffer); count it.
            self.radio.stats.writes_truncated += 1
            logger.warning(
                "write of %d bytes to handle %d truncated to its %d-byte buffer",
                len(data),
                value.handle,
                value.capacity,
            )
            data = data[: value.capacity]
        value.data = data
        self.send(w.WRITE, struct.pack("<HH", connection.handle, value.handle) + data)

    def _local_write(self, handle: int, data: bytes, send_update: bool) -> None:
        value = self.values.get(handle)
        if value is None:
            return
        value.data = data
        value.capacity = max(value.capacity, len(data))  # a local write grows the buffer
        if send_update and self.device is not None:
            attribute = self.attributes[handle]
            for state in self.conns.values():
                subscribers = self.device.gatt_server.subscribers.get(state.connection, {})
                cccd = subscribers.get(handle)
                if not cccd:
                    continue
                if cccd[0] & 0x01:
                    self._send_value(state, handle, data, indicate=False, credited=False)
                elif cccd[0] & 0x02:
                    self._spawn(
                        self.device.indicate_subscriber(
                            state.connection, attribute, data, force=True
                        )
                    )

    def _notify(self, conn: int, handle: int, data: bytes, indicate: bool) -> None:
        state = self.conns.get(conn)
        if state is None or handle not in self.values:
            # The shim only sends for connections it knows; a race with a disconnect lands here.
            self.radio.stats.notifications_without_connection += 1
            self.send(w.CREDITS, struct.pack("<H", 1))
            if indicate:
                self.send(w.INDICATE_DONE, struct.pack("<HHB", conn, handle, 1))
            return
        if not data:
            data = self.values[handle].data
        self._send_value(state, handle, data, indicate=indicate, credited=True)

    def _send_value(
        self, state: _ConnState, handle: int, data: bytes, *, indicate: bool, credited: bool
    ) -> None:
        connection = state.connection
        limit = connection.att_mtu - 3
        if len(data) > limit:
            # NimBLE sends only the first MTU-3 bytes; say so loudly in the stats and the log.
            self.radio.stats.notifications_truncated += 1
            logger.warning(
                "notification of %d bytes truncated to %d (MTU %d): frames must fit MTU-3",
                len(data),
                limit,
                connection.att_mtu,
            )
            data = data[:limit]
        if indicate:
            self.radio.stats.indications += 1
            self._spawn(self._indicate(state, handle, data, credited))
            return
        self.radio.stats.notifications += 1
        pdu = att.ATT_Handle_Value_Notification(attribute_handle=handle, attribute_value=data)
        state.in_flight.append(credited)
        if credited:
            state.outstanding += 1
            self.radio.stats.max_outstanding = max(
                self.radio.stats.max_outstanding, state.outstanding
            )
        assert self.device is not None
        self.device.gatt_server.send_gatt_pdu(connection, bytes(pdu))

    async def _indicate(self, state: _ConnState, handle: int, data: bytes, credited: bool) -> None:
        assert self.device is not None
        state.in_flight.append(credited)
        if credited:
            state.outstanding += 1
        status = 0
        try:
            await self.device.indicate_subscriber(
                state.connection, self.attributes[handle], data, force=True
            )
        except Exception as exc:
            logger.debug("indication failed: %r", exc)
            status = 1
        if state.connection.handle in self.conns:
            self.send(w.INDICATE_DONE, struct.pack("<HHB", state.connection.handle, handle, status))

    def on_delivered(self, sender: Any, peer: hci.Address, pdu: bytes) -> None:
        """Link callback: a PDU from our controller reached the host `peer`."""
        if sender is not self.controller or len(pdu) < 5:
            return
        if pdu[2] | pdu[3] << 8 != _ATT_CID or pdu[4] not in (_ATT_NOTIFY, _ATT_INDICATE):
            return
        for state in self.conns.values():
            if state.connection.peer_address.address_bytes == peer.address_bytes:
                if state.in_flight:  # deliveries come in send order on each connection
                    credited = state.in_flight.popleft()
                    if credited:
                        state.outstanding -= 1
                        self.send(w.CREDITS, struct.pack("<H", 1))
                return

    # -- secrets relayed to the firmware ---------------------------------------------------
    async def get_secret(self, key: bytes | None, index: int) -> bytes | None:
        result = await self._ask(
            w.GET_SECRET, struct.pack("<BH", w.SEC_TYPE_PEER, index) + w.pack_bytes(key)
        )
        return result if isinstance(result, bytes) else None

    async def set_secret(self, key: bytes, value: bytes | None) -> bool:
        result = await self._ask(
            w.SET_SECRET,
            struct.pack("<B", w.SEC_TYPE_PEER) + w.pack_bytes(key) + w.pack_bytes(value),
        )
        return bool(result)

    async def _ask(self, msg_type: int, body: bytes) -> Any:
        self._requests = (self._requests + 1) & 0xFFFF
        req = self._requests
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req] = future
        self.send(msg_type, struct.pack("<H", req) + body)
        try:
            return await asyncio.wait_for(future, 2.0)
        except (TimeoutError, asyncio.CancelledError):
            logger.warning("the firmware did not answer a secret request (no IRQ handler?)")
            return None
        finally:
            self._pending.pop(req, None)


class _HciClient(asyncio.Protocol):
    """One host on the HCI socket: a fresh controller on the link, gone when the host goes."""

    def __init__(self, radio: Radio) -> None:
        self.radio = radio
        self.controller: MuwatchController | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.radio.hci_clients.add(self)
        self.radio.hosts += 1
        n = self.radio.hosts
        self.controller = MuwatchController(
            f"host-{n}",
            host_sink=self,
            link=self.radio.link,
            public_address=hci.Address(
                f"00:1B:DC:F0:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}", hci.Address.PUBLIC_DEVICE_ADDRESS
            ),
            acl_buffers=12,
        )
        self.parser = PacketParser(self.controller)

    def on_packet(self, packet: bytes) -> None:  # controller -> host
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.radio.hci_clients.discard(self)
        if self.controller is not None:
            self.controller.drop_all_connections()
            self.radio.link.remove_controller(self.controller)
            self.controller = None


def _parse_listen(spec: str) -> tuple[str, str, int]:
    """'tcp:HOST:PORT' or 'unix:PATH' -> (kind, host_or_path, port)."""
    kind, _, rest = spec.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad listen spec {spec!r}: expected tcp:HOST:PORT")
        return kind, host, int(port)
    if kind == "unix" and rest:
        return kind, rest, 0
    raise ValueError(f"bad listen spec {spec!r}: expected tcp:HOST:PORT or unix:PATH")


class Radio:
    """The simulated radio: firmware endpoint, HCI endpoint, control endpoint, one air link."""

    def __init__(
        self,
        model: LinkModel | None = None,
        *,
        address: str = DEFAULT_ADDRESS,
        tx_buffers: int = DEFAULT_TX_BUFFERS,
    ) -> None:
        if tx_buffers < 1:
            raise ValueError("tx_buffers must be >= 1")
        self.link = ModelLink(model)
        self.address = hci.Address(address, hci.Address.PUBLIC_DEVICE_ADDRESS)
        self.tx_buffers = tx_buffers
        self.stats = RadioStats()
        self.sessions: set[FirmwareSession] = set()
        self.hci_clients: set[_HciClient] = set()
        self.hosts = 0
        self._servers: list[asyncio.AbstractServer] = []
        self.endpoints: dict[str, str] = {}
        self.link.delivery_listeners.append(self._on_delivered)

    def _on_delivered(self, sender: Any, peer: hci.Address, pdu: bytes) -> None:
        for session in list(self.sessions):
            session.on_delivered(sender, peer, pdu)

    async def _listen(self, spec: str, factory: Any, *, stream: bool) -> str:
        kind, where, port = _parse_listen(spec)
        loop = asyncio.get_running_loop()
        if stream:
            if kind == "tcp":
                server = await asyncio.start_server(factory, where, port)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(where)
                server = await asyncio.start_unix_server(factory, where)
        else:
            if kind == "tcp":
                server = await loop.create_server(factory, where, port)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(where)
                server = await loop.create_unix_server(factory, where)
        self._servers.append(server)
        if kind == "tcp":
            bound = server.sockets[0].getsockname()
            return f"{bound[0]}:{bound[1]}"
        return where

    async def start(
        self,
        hci_listen: str = "tcp:127.0.0.1:0",
        firmware_listen: str = "tcp:127.0.0.1:0",
        control_listen: str | None = "tcp:127.0.0.1:0",
    ) -> dict[str, str]:
        """Open the endpoints; returns what clients use: hci (a bumble transport spec for the
        host), firmware (for MUWATCH_RADIO) and control (for RadioControl)."""
        hci_at = await self._listen(hci_listen, lambda: _HciClient(self), stream=False)
        fw_at = await self._listen(firmware_listen, self._on_firmware, stream=True)
        kind = hci_listen.split(":", 1)[0]
        self.endpoints = {
            "hci": f"{'tcp-client' if kind == 'tcp' else 'unix-client'}:{hci_at}",
            "firmware": f"{firmware_listen.split(':', 1)[0]}:{fw_at}",
            "address": self.address.to_string(False),
        }
        if control_listen is not None:
            ctl_at = await self._listen(control_listen, self._on_control, stream=True)
            self.endpoints["control"] = f"{control_listen.split(':', 1)[0]}:{ctl_at}"
        return dict(self.endpoints)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for session in list(self.sessions):
            await session.close()
        for client in list(self.hci_clients):
            if client.transport is not None:
                client.transport.close()  # hosts see their transport lost
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()

    async def _on_firmware(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        session = FirmwareSession(self, reader, writer)
        self.sessions.add(session)
        await session.run()

    # -- control -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        sessions = list(self.sessions)
        session = sessions[0] if sessions else None
        return {
            "firmware": bool(sessions),
            "advertising": bool(session and session.advertising),
            "connections": len(session.conns) if session else 0,
            "encrypted": bool(
                session and any(s.connection.is_encrypted for s in session.conns.values())
            ),
            "in_outage": self.link.in_outage,
            "radio": self.stats.as_dict(),
            "link": self.link.stats.as_dict(),
            "model": asdict(self.link.model),
            "endpoints": dict(self.endpoints),
        }

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one control request (the JSON-line protocol, also callable in-process)."""
        op = request.get("op")
        if op == "status":
            return {"ok": True, **self.status()}
        if op == "outage":
            self.link.outage(float(request["seconds"]))
            return {"ok": True}
        if op == "refuse":
            self.link.refuse_connections(int(request.get("count", 1)))
            return {"ok": True}
        if op == "disconnect":
            self.link.disconnect_all(int(request.get("reason", 0x08)))
            return {"ok": True}
        if op == "set_model":
            fields = {k: v for k, v in request.items() if k != "op"}
            model = LinkModel(**{**asdict(self.link.model), **fields})
            self.link.model = model
            return {"ok": True, "model": asdict(model)}
        return {
            "ok": False,
            "error": f"unknown op {op!r} (status, outage, refuse, disconnect, set_model)",
        }

    async def _on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = self.command(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


class RadioControl:
    """Client of a radio's control endpoint (``tcp:HOST:PORT`` or ``unix:PATH``)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        kind, where, port = _parse_listen(self.spec)
        if kind == "tcp":
            self._reader, self._writer = await asyncio.open_connection(where, port)
        else:
            self._reader, self._writer = await asyncio.open_unix_connection(where)

    async def request(self, **request: Any) -> dict[str, Any]:
        if self._writer is None or self._writer.is_closing():
            await self._connect()
        assert self._reader is not None and self._writer is not None
        self._writer.write(json.dumps(request).encode() + b"\n")
        await self._writer.drain()
        line = await self._reader.readline()
        if not line:
            raise ConnectionError(f"the radio at {self.spec} closed the control connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"radio refused {request}: {reply.get('error')}")
        return dict(reply)

    async def status(self) -> dict[str, Any]:
        return await self.request(op="status")

    async def outage(self, seconds: float) -> None:
        await self.request(op="outage", seconds=seconds)

    async def refuse(self, count: int = 1) -> None:
        await self.request(op="refuse", count=count)

    async def disconnect(self, reason: int = 0x08) -> None:
        await self.request(op="disconnect", reason=reason)

    async def set_model(self, **fields: Any) -> dict[str, Any]:
        return await self.request(op="set_model", **fields)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None


def _model_from_args(args: argparse.Namespace) -> LinkModel:
    return LinkModel(
        interval_s=args.interval_ms / 1000.0 if args.interval_ms else None,
        max_packets_per_event=args.packets_per_event,
        phy=args.phy,
        loss=args.loss,
        latency_s=args.latency_ms / 1000.0,
        seed=args.seed,
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m muwatch.sim.radio",
        description="Simulated BLE radio for the muwatch twin (prints its endpoints as JSON).",
    )
    p.add_argument(
        "--hci",
        default="tcp:127.0.0.1:0",
        help="HCI endpoint for hosts (tcp:HOST:PORT or unix:PATH)",
    )
    p.add_argument(
        "--firmware", default="tcp:127.0.0.1:0", help="endpoint for the firmware's bluetooth shim"
    )
    p.add_argument(
        "--control", default="tcp:127.0.0.1:0", help="control endpoint (fault injection, status)"
    )
    p.add_argument("--address", default=DEFAULT_ADDRESS, help="the sensor's Bluetooth address")
    p.add_argument(
        "--tx-buffers", type=int, default=DEFAULT_TX_BUFFERS, help="notifications NimBLE can hold"
    )
    p.add_argument("--interval-ms", type=float, default=None, help="force a connection interval")
    p.add_argument(
        "--packets-per-event", type=int, default=None, help="cap packets per connection event"
    )
    p.add_argument("--phy", default="1M", choices=["1M", "2M"])
    p.add_argument("--loss", type=float, default=0.0, help="LL packet error rate (retransmitted)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="extra delay per delivered PDU")
    p.add_argument("--seed", type=int, default=0)
    return p


async def _serve(args: argparse.Namespace) -> None:
    radio = Radio(_model_from_args(args), address=args.address, tx_buffers=args.tx_buffers)
    endpoints = await radio.start(args.hci, args.firmware, args.control)
    print(json.dumps(endpoints), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await radio.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _model_from_args(args)
    except ValueError as exc:
        print(f"radio: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=os.environ.get("MUWATCH_RADIO_LOG", "WARNING"))
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
