"""One bumble central per Bluetooth transport, shared by every scanner and client on it.

An HCI transport (a TCP or unix socket to a simulated radio, a USB dongle) has one controller
and can be opened once, so a scanner and the clients that follow it must share one bumble
`Device`. Adapters live per event loop (pitfall 10: state from a closed loop is never reused)
and are reference counted: the transport closes when the last user releases it. When the
transport is lost the adapter is dead for good (pitfall 9) and the next `acquire` opens a new
one; every client on the dead adapter is told it was disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Callable
from typing import Any

from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason
from bumble import hci, pairing
from bumble.device import Advertisement, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

from muwatch.ble._controller import MuwatchController
from muwatch.ble.bonds import BondStore

logger = logging.getLogger(__name__)

#: Named in-process links (`transport="local:NAME"`), e.g. a radio running in this process.
_local_links: weakref.WeakValueDictionary[str, LocalLink] = weakref.WeakValueDictionary()
#: The process-wide in-memory bond store used when no `bond_store` is given.
_default_bonds: BondStore | None = None
#: Open adapters per event loop, then per transport key.
_adapters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Entry]] = (
    weakref.WeakKeyDictionary()
)

TransportSpec = str | LocalLink


def register_local_link(name: str, link: LocalLink) -> None:
    """Make an in-process link reachable as `transport="local:NAME"` (held weakly)."""
    _local_links[name] = link


def default_bond_store() -> BondStore:
    """Bonds kept for this process: from $MUWATCH_BLE_BONDS if set, else in memory."""
    global _default_bonds
    if _default_bonds is None:
        _default_bonds = BondStore(os.environ.get("MUWATCH_BLE_BONDS") or None)
    return _default_bonds


def _key(transport: TransportSpec) -> str:
    if isinstance(transport, LocalLink):
        return f"link@{id(transport):x}"
    return transport


class _Entry:
    """Registry slot: serialises concurrent opens of the same transport."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.adapter: Adapter | None = None


class Adapter:
    """A powered-on bumble central `Device` on one transport, with shared scanning."""

    def __init__(
        self,
        key: str,
        device: Device,
        transport: Transport | None,
        controller: MuwatchController | None,
        link: LocalLink | None,
        bonds: BondStore,
    ) -> None:
        self.key = key
        self.device = device
        self.bonds = bonds
        self._transport = transport
        self._controller = controller
        self._link = link
        self._refs = 0
        self.alive = True
        self.lost_reason = ""
        self._scan_refs = 0
        self._advertisement_listeners: list[Callable[[Advertisement], None]] = []
        self._loss_listeners: list[Callable[[str], None]] = []
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)

    # -- registry ------------------------------------------------------------------------
    @classmethod
    async def acquire(
        cls, transport: TransportSpec, bond_store: BondStore | str | os.PathLike[str] | None = None
    ) -> Adapter:
        """The open adapter for `transport` in this loop, opening it if needed."""
        loop = asyncio.get_running_loop()
        for old in [other for other in list(_adapters) if other.is_closed()]:
            del _adapters[old]  # state of a finished loop is never reused (pitfall 10)
        per_loop = _adapters.setdefault(loop, {})
        key = _key(transport)
        entry = per_loop.setdefault(key, _Entry())
        async with entry.lock:
            adapter = entry.adapter
            if adapter is not None and not adapter.alive:
                entry.adapter = adapter = None
            if adapter is None:
                bonds = _bond_store(bond_store)
                adapter = await _open(key, transport, bonds)
                entry.adapter = adapter
            elif bond_store is not None and _bond_store(bond_store) is not adapter.bonds:
                if not _same_store(bond_store, adapter.bonds):
                    raise _not_available(
                        f"the Bluetooth transport {key} is already open with bond store "
                        f"{adapter.bonds.path or '(memory)'}; use one bond store per transport"
                    )
            adapter._refs += 1
            return adapter

    async def release(self) -> None:
        """Drop one reference; the last one closes the transport."""
        self._refs -= 1
        if self._refs > 0:
            return
        per_loop = _adapters.get(asyncio.get_running_loop(), {})
        entry = per_loop.get(self.key)
        if entry is not None and entry.adapter is self:
            entry.adapter = None
        await self._close()

    async def _close(self) -> None:
        was_alive = self.alive
        self.alive = False
        if self._controller is not None and self._link is not None:
            self._controller.drop_all_connections()
            self._link.remove_controller(self._controller)
        if self._transport is not None and was_alive:
            try:
                await self._transport.close()
            except Exception as exc:  # a dead socket may fail to close; nothing to keep
                logger.debug("closing %s: %s", self.key, exc)

    def on_lost(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(reason)` if the transport is lost; returns an unregister function."""
        self._loss_listeners.append(listener)
        return lambda: (
            self._loss_listeners.remove(listener) if listener in self._loss_listeners else None
        )

    def _transport_lost(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self.lost_reason = f"the Bluetooth transport {self.key} was lost"
        logger.warning(self.lost_reason)
        for listener in list(self._loss_listeners):
            listener(self.lost_reason)

    # -- scanning shared by scanners and clients --------------------------------------
    def add_advertisement_listener(
        self, listener: Callable[[Advertisement], None]
    ) -> Callable[[], None]:
        self._advertisement_listeners.append(listener)

        def remove() -> None:
            if listener in self._advertisement_listeners:
                self._advertisement_listeners.remove(listener)

        return remove

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._advertisement_listeners):
            listener(advertisement)

    async def start_scanning(self, active: bool = True) -> None:
        self._scan_refs += 1
        if self._scan_refs == 1:
            await self.device.start_scanning(legacy=True, active=active, filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scan_refs = max(0, self._scan_refs - 1)
        if self._scan_refs == 0 and self.alive and self.device.scanning:
            await self.device.stop_scanning(legacy=True)


def _bond_store(bond_store: BondStore | str | os.PathLike[str] | None) -> BondStore:
    if bond_store is None:
        return default_bond_store()
    if isinstance(bond_store, BondStore):
        return bond_store
    return BondStore(bond_store)


def _same_store(requested: BondStore | str | os.PathLike[str], existing: BondStore) -> bool:
    if isinstance(requested, BondStore):
        return requested is existing
    return existing.path is not None and os.path.abspath(requested) == os.path.abspath(
        existing.path
    )


def _not_available(message: str) -> BleakBluetoothNotAvailableError:
    return BleakBluetoothNotAvailableError(message, BleakBluetoothNotAvailableReason.NO_BLUETOOTH)


def _pairing_config(_connection: Any) -> pairing.PairingConfig:
    # LE Secure Connections, bonding, Just Works: the sensor has no display or keys.
    return pairing.PairingConfig(
        sc=True,
        mitm=False,
        bonding=True,
        delegate=pairing.PairingDelegate(
            io_capability=pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
        ),
        identity_address_type=pairing.PairingConfig.AddressType.RANDOM,
    )


async def _open(key: str, transport: TransportSpec, bonds: BondStore) -> Adapter:
    link: LocalLink | None = None
    controller: MuwatchController | None = None
    hci_transport: Transport | None = None
    if isinstance(transport, str) and transport.startswith("local:"):
        name = transport[len("local:") :]
        link = _local_links.get(name)
        if link is None:
            raise _not_available(
                f"no in-process Bluetooth link named {name!r} (known: "
                f"{', '.join(sorted(_local_links)) or 'none'}); start the radio first"
            )
    elif isinstance(transport, LocalLink):
        link = transport
    if link is not None:
        controller = MuwatchController("muwatch-host", link=link, acl_buffers=12)
        host = Host(controller, AsyncPipeSink(controller))
        device = Device(name="muwatch-host", address=bonds.address, host=host)
    else:
        assert isinstance(transport, str)
        try:
            hci_transport = await open_transport(transport)
        except Exception as exc:  # socket, spec and libusb errors alike: say what to check
            raise _not_available(_open_failure_message(transport, exc)) from exc
        device = Device.with_hci(
            "muwatch-host", bonds.address, hci_transport.source, hci_transport.sink
        )
    device.keystore = bonds
    device.pairing_config_factory = _pairing_config
    adapter = Adapter(key, device, hci_transport, controller, link, bonds)
    try:
        await asyncio.wait_for(device.power_on(), 10.0)
    except (TimeoutError, OSError, RuntimeError, hci.HCI_Error) as exc:
        await adapter._close()
        raise _not_available(
            f"the Bluetooth controller on {key} did not answer the HCI reset ({exc!r}); "
            "check the transport (is the radio or dongle still there?)"
        ) from exc
    if hci_transport is not None:
        terminated = getattr(hci_transport.source, "terminated", None)
        if isinstance(terminated, asyncio.Future):
            terminated.add_done_callback(lambda _f: adapter._transport_lost())
    return adapter


def _open_failure_message(spec: str, exc: BaseException) -> str:
    scheme = spec.split(":", 1)[0]
    hint = {
        "tcp-client": "is the simulated radio running (`muwatch sim-device --ble`)?",
        "unix-client": "is the simulated radio running (`muwatch sim-device --ble`)?",
        "unix": "is the simulated radio running (`muwatch sim-device --ble`)?",
        "usb": "is a USB Bluetooth dongle plugged in, libusb installed, and the device "
        "not claimed by the OS stack (see docs/hil.md)?",
        "pyusb": "is a USB Bluetooth dongle plugged in and accessible (see docs/hil.md)?",
    }.get(scheme, "check the transport spec (e.g. tcp-client:127.0.0.1:PORT, usb:0)")
    return f"cannot open the Bluetooth transport {spec}: {exc}; {hint}"
