"""bleak client backend on bumble: `BleakClient(device, backend=BumbleClient, transport=...)`.

What an OS stack does for a bleak user, done here explicitly: connect within the timeout
(bumble's own connect can hang, pitfall 1), exchange the MTU before returning (pitfall 4),
discover services, re-encrypt with stored keys when the peer is bonded (as BlueZ does), pair
with LE Secure Connections, and report an unsolicited disconnect once. bumble errors become
bleak's: ATT errors `BleakGATTProtocolError`, both kinds of timeout `TimeoutError` (pitfall 5),
and a request cut short by a disconnect `BleakError` rather than a stray CancelledError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.device import Advertisement, Connection, ConnectionParametersPreferences
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy

from muwatch.ble._adapter import Adapter, TransportSpec
from muwatch.ble._adv import bumble_uuid_str
from muwatch.ble.bonds import BondStore
from muwatch.ble.scanner import BumbleDeviceDetails

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Reasons a link can end, for messages (HCI error codes).
_REASONS = {
    0x08: "supervision timeout (the device went out of range or stopped answering)",
    0x13: "the device closed the connection",
    0x16: "this host closed the connection",
    0x3E: "the connection failed to be established (the device did not answer)",
    0x3D: "MIC failure (wrong encryption keys)",
}


class BleakConnectionFailedError(BleakError):
    """The link came up and went down before the connection was usable."""


def describe_reason(reason: int) -> str:
    """A human sentence for an HCI disconnection reason."""
    text = _REASONS.get(reason)
    return f"{text} (0x{reason:02X})" if text else f"HCI reason 0x{reason:02X}"


_PROPERTY_NAMES: tuple[tuple[int, CharacteristicPropertyName], ...] = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


class BumbleClient(BaseBleakClient):
    """A bleak client whose "OS stack" is a bumble host on the chosen transport.

    Keyword Args:
        transport: as for `BumbleScanner` (required).
        bond_store: `BondStore` or JSON path; bonds made by `pair()` are kept there.
        connection_interval_ms: (min, max) connection interval the central asks for.
        supervision_timeout_ms: link supervision timeout the central asks for.
        mtu: ATT MTU to request right after connecting.
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        transport: TransportSpec | None = None,
        bond_store: BondStore | str | os.PathLike[str] | None = None,
        connection_interval_ms: tuple[float, float] = (7.5, 15.0),
        supervision_timeout_ms: float = 2000.0,
        mtu: int = 247,
        **_platform_args: Any,
    ) -> None:
        if address_or_ble_device is None:
            raise BleakDeviceNotFoundError("", "no device to connect to (the scan found none?)")
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        if transport is None:
            raise TypeError(
                "BumbleClient needs transport=..., e.g. 'tcp-client:127.0.0.1:PORT' "
                "(see muwatch.ble.backend_from_spec)"
            )
        lo, hi = connection_interval_ms
        if not 7.5 <= lo <= hi <= 4000:
            raise ValueError(
                f"connection_interval_ms must be 7.5 <= min <= max <= 4000, not {lo, hi}"
            )
        if not 100 <= supervision_timeout_ms <= 32000:
            raise ValueError("supervision_timeout_ms must be 100..32000")
        if not 23 <= mtu <= 517:
            raise ValueError("mtu must be 23..517")
        self._transport = transport
        self._bond_store = bond_store
        self._interval = (lo, hi)
        self._supervision_ms = supervision_timeout_ms
        self._mtu_wanted = mtu
        self._wanted_services = services
        self._device_address: hci.Address | None = None
        self._name = self.address
        if isinstance(address_or_ble_device, BLEDevice):
            if address_or_ble_device.name:
                self._name = address_or_ble_device.name
            details = address_or_ble_device.details
            if isinstance(details, BumbleDeviceDetails):
                self._device_address = details.address
        self._adapter: Adapter | None = None
        self._connection: Connection | None = None
        self._usable = False
        self._closing = False
        self._unregister_loss: Callable[[], None] | None = None
        self._notify: dict[int, Callable[[bytes], None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        #: HCI reason of the last disconnection (None while connected or never connected).
        self.last_disconnect_reason: int | None = None

    # -- properties ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        connection = self._connection
        return connection.att_mtu if connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and self._usable

    @property
    def is_encrypted(self) -> bool:
        """True once the link is encrypted (after `pair()`, or a bonded reconnect)."""
        return self._connection is not None and self._connection.is_encrypted

    @property
    def connection_interval_ms(self) -> float | None:
        connection = self._connection
        return connection.parameters.connection_interval if connection is not None else None

    # -- connecting ------------------------------------------------------------------------
    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self.is_connected:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        self._closing = False
        self.last_disconnect_reason = None
        adapter = await Adapter.acquire(self._transport, self._bond_store)
        self._adapter = adapter
        self._unregister_loss = adapter.on_lost(self._on_transport_lost)
        searching = self._device_address is None
        try:
            async with asyncio.timeout(timeout):
                address = self._device_address or await self._find_address(adapter)
                self._device_address = address
                searching = False
                await self._open_connection(adapter, address, timeout)
                await self._setup(pair)
        except TimeoutError:
            await self._abandon()
            if searching:  # as bleak's own backends do for an address nobody advertises
                raise BleakDeviceNotFoundError(
                    self.address,
                    f"device {self.address} was not seen advertising on {adapter.key} within "
                    f"{timeout:g} s (absent, out of range, or connected to another host?)",
                ) from None
            raise TimeoutError(
                f"connecting to {self.address} over {adapter.key} did not finish within "
                f"{timeout:g} s (device absent, out of range or not advertising?)"
            ) from None
        except BaseException:
            await self._abandon()
            raise
        self._usable = True

    async def _find_address(self, adapter: Adapter) -> hci.Address:
        """Scan until the address shows up, to learn its type (public or random)."""
        wanted = hci.Address(self.address).address_bytes
        found: asyncio.Future[hci.Address] = asyncio.get_running_loop().create_future()

        def on_adv(advertisement: Advertisement) -> None:
            if advertisement.address.address_bytes == wanted and not found.done():
                if advertisement.is_connectable:
                    found.set_result(advertisement.address)

        remove = adapter.add_advertisement_listener(on_adv)
        await adapter.start_scanning(active=False)
        try:
            return await found
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise BleakDeviceNotFoundError(
                self.address, f"device {self.address} was not found on {adapter.key}"
            ) from None
        finally:
            remove()
            if adapter.alive:
                await adapter.stop_scanning()

    async def _open_connection(
        self, adapter: Adapter, address: hci.Address, timeout: float
    ) -> None:
        preferences = ConnectionParametersPreferences(
            connection_interval_min=self._interval[0],
            connection_interval_max=self._interval[1],
            max_latency=0,
            supervision_timeout=int(self._supervision_ms),
        )
        try:
            connection = await adapter.device.connect(
                address,
                connection_parameters_preferences={hci.HCI_LE_1M_PHY: preferences},
                own_address_type=hci.OwnAddressType.RANDOM,
                timeout=timeout,
            )
        except core.TimeoutError:
            raise TimeoutError(f"no connection to {address}") from None
        except core.ConnectionError as exc:
            raise BleakConnectionFailedError(f"connecting to {address} failed: {exc}") from exc
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    async def _setup(self, pair: bool) -> None:
        connection = self._require()
        adapter = self._adapter
        assert adapter is not None
        if adapter.bonds.has_bond(str(connection.peer_address)):
            try:
                await self._guard("encrypting with the stored bond", connection.encrypt())
            except BleakError as exc:
                if not self._connection:
                    raise
                # The sensor forgot the bond (reflashed?): carry on unencrypted; it will
                # answer NOT_PAIRED until `pair()` runs again.
                logger.warning("%s: stored bond not accepted (%s); pair again", self.address, exc)
        await self._guard(
            "exchanging the MTU", connection.gatt_client.request_mtu(self._mtu_wanted)
        )
        self.services = await self._discover()
        if pair and not connection.is_encrypted:
            await self.pair()

    async def _discover(self) -> BleakGATTServiceCollection:
        connection = self._require()
        client = connection.gatt_client
        collection = BleakGATTServiceCollection()
        services = await self._guard("discovering services", client.discover_services())
        for proxy in services:
            uuid = bumble_uuid_str(proxy.uuid)
            if self._wanted_services and uuid not in self._wanted_services:
                continue
            service = BleakGATTService(proxy, proxy.handle, uuid)
            collection.add_service(service)
            chars = await self._guard(
                "discovering characteristics", client.discover_characteristics((), proxy)
            )
            for char_proxy in chars:
                characteristic = BleakGATTCharacteristic(
                    char_proxy,
                    char_proxy.handle,
                    bumble_uuid_str(char_proxy.uuid),
                    [name for bit, name in _PROPERTY_NAMES if char_proxy.properties & bit],
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                descriptors = await self._guard(
                    "discovering descriptors", client.discover_descriptors(char_proxy)
                )
                for desc_proxy in descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            desc_proxy,
                            desc_proxy.handle,
                            bumble_uuid_str(desc_proxy.type),
                            characteristic,
                        )
                    )
        return collection

    async def _abandon(self) -> None:
        """Undo a connect that did not finish: no callback, nothing left open."""
        self._closing = True
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(2.0):
                    await connection.disconnect()
        await self._drop_adapter()

    # -- disconnecting ---------------------------------------------------------------------
    async def disconnect(self) -> None:
        self._closing = True
        connection = self._connection
        if connection is not None and self._adapter is not None and self._adapter.alive:
            try:
                async with asyncio.timeout(5.0):
                    await connection.disconnect()
            except (TimeoutError, core.BaseBumbleError, asyncio.CancelledError) as exc:
                task = asyncio.current_task()
                if isinstance(exc, asyncio.CancelledError) and task and task.cancelling():
                    raise
                logger.debug("disconnect from %s: %r", self.address, exc)
        self._connection = None
        self._usable = False
        await self._drop_adapter()

    async def _drop_adapter(self) -> None:
        if self._unregister_loss is not None:
            self._unregister_loss()
            self._unregister_loss = None
        adapter, self._adapter = self._adapter, None
        self._connection = None
        self._usable = False
        self._notify.clear()
        if adapter is not None:
            await adapter.release()

    def _on_disconnection(self, reason: int) -> None:
        self.last_disconnect_reason = reason
        was_usable = self._usable
        self._connection = None
        self._usable = False
        if self._closing:
            return
        logger.info("%s disconnected: %s", self.address, describe_reason(reason))
        self._schedule_release()
        if was_usable and self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    def _on_transport_lost(self, why: str) -> None:
        if self._connection is None:
            return
        self._on_disconnection(0x08)

    def _schedule_release(self) -> None:
        task = asyncio.get_running_loop().create_task(self._drop_adapter())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- pairing ---------------------------------------------------------------------------
    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection = self._require()
        if (
            connection.is_encrypted
            and self._adapter
            and self._adapter.bonds.has_bond(str(connection.peer_address))
        ):
            return
        await self._guard("pairing", connection.pair())
        if not connection.is_encrypted:
            raise BleakError(f"pairing with {self.address} finished without encryption")

    async def unpair(self) -> None:
        adapter = self._adapter
        address = self._device_address
        if adapter is not None and address is not None:
            await adapter.bonds.delete(str(address))
        await self.disconnect()

    # -- GATT I/O --------------------------------------------------------------------------
    def _require(self) -> Connection:
        connection = self._connection
        if connection is None:
            reason = self.last_disconnect_reason
            why = f": {describe_reason(reason)}" if reason is not None else ""
            raise BleakError(f"not connected to {self.address}{why}")
        return connection

    async def _guard(self, what: str, awaitable: Awaitable[_T]) -> _T:
        """Await a bumble operation and translate what it raises into bleak's terms."""
        try:
            return await awaitable
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise self._interrupted(what) from None
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except (core.TimeoutError, TimeoutError) as exc:
            if self._connection is None:
                raise self._interrupted(what) from exc
            raise TimeoutError(f"{what} on {self.address} timed out") from exc
        except core.ProtocolError as exc:
            raise BleakError(f"{what} on {self.address} failed: {exc}") from exc
        except core.BaseBumbleError as exc:
            if self._connection is None:
                raise self._interrupted(what) from exc
            raise BleakError(f"{what} on {self.address} failed: {exc}") from exc

    def _interrupted(self, what: str) -> BleakError:
        adapter = self._adapter
        if adapter is not None and not adapter.alive:
            return BleakError(f"{what} on {self.address} failed: {adapter.lost_reason}")
        reason = self.last_disconnect_reason
        why = describe_reason(reason) if reason is not None else "the link went down"
        return BleakConnectionFailedError(f"{what} on {self.address} failed: {why}")

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        connection = self._require()
        if use_cached:
            cached = connection.gatt_client.cached_values.get(characteristic.handle)
            if cached is not None:
                return bytearray(cached[1])
        proxy: CharacteristicProxy[Any] = characteristic.obj
        value = await self._guard(
            f"reading {characteristic.uuid}", connection.gatt_client.read_value(proxy)
        )
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        connection = self._require()
        proxy: DescriptorProxy = descriptor.obj
        value = await self._guard(
            f"reading descriptor {descriptor.handle}", connection.gatt_client.read_value(proxy)
        )
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        connection = self._require()
        value = bytes(data)
        if not response and len(value) > connection.att_mtu - 3:
            raise BleakError(
                f"{len(value)} bytes do not fit one write without response at MTU "
                f"{connection.att_mtu} (at most {connection.att_mtu - 3})"
            )
        await self._guard(
            f"writing {characteristic.uuid}",
            connection.gatt_client.write_value(
                characteristic.handle, value, with_response=response
            ),
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        connection = self._require()
        await self._guard(
            f"writing descriptor {descriptor.handle}",
            connection.gatt_client.write_value(descriptor.handle, bytes(data), with_response=True),
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        connection = self._require()
        proxy: CharacteristicProxy[Any] = characteristic.obj

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        old = self._notify.pop(characteristic.handle, None)
        if old is not None:
            await self._guard("unsubscribing", connection.gatt_client.unsubscribe(proxy, old))
        self._notify[characteristic.handle] = deliver
        await self._guard(
            f"subscribing to {characteristic.uuid}",
            connection.gatt_client.subscribe(proxy, deliver, prefer_notify=True),
        )

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        connection = self._require()
        proxy: CharacteristicProxy[Any] = characteristic.obj
        subscriber = self._notify.pop(characteristic.handle, None)
        await self._guard(
            f"unsubscribing from {characteristic.uuid}",
            connection.gatt_client.unsubscribe(proxy, subscriber, force=True),
        )
