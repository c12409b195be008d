"""bleak scanner backend on bumble: `BleakScanner(backend=BumbleScanner, transport=...)`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from bleak.backends.scanner import AdvertisementDataCallback, BaseBleakScanner
from bumble import hci
from bumble.device import Advertisement

from muwatch.ble._adapter import Adapter, TransportSpec
from muwatch.ble._adv import advertisement_data
from muwatch.ble.bonds import BondStore


@dataclass(frozen=True)
class BumbleDeviceDetails:
    """`BLEDevice.details` of a device seen by this backend: enough to connect to it."""

    address: hci.Address
    transport: str


class BumbleScanner(BaseBleakScanner):
    """Scans through a bumble central; extra keyword arguments select the transport.

    Keyword Args:
        transport: bumble transport spec (``tcp-client:127.0.0.1:PORT``, ``unix-client:PATH``,
            ``usb:0``, ``local:NAME``) or an in-process ``bumble.link.LocalLink``.
        bond_store: `BondStore` or JSON path for the host's identity and bonds.
    """

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        transport: TransportSpec | None = None,
        bond_store: BondStore | str | os.PathLike[str] | None = None,
        **_platform_args: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        if transport is None:
            raise TypeError(
                "BumbleScanner needs transport=..., e.g. 'tcp-client:127.0.0.1:PORT' "
                "(see muwatch.ble.backend_from_spec)"
            )
        self._transport = transport
        self._bond_store = bond_store
        self._active = scanning_mode != "passive"
        self._adapter: Adapter | None = None
        self._remove_listener: Any = None

    async def start(self) -> None:
        if self._adapter is not None:
            return
        self.seen_devices = {}
        self._adapter = await Adapter.acquire(self._transport, self._bond_store)
        self._remove_listener = self._adapter.add_advertisement_listener(self._on_advertisement)
        try:
            await self._adapter.start_scanning(active=self._active)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        adapter, self._adapter = self._adapter, None
        if adapter is None:
            return
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        try:
            if adapter.alive:
                await adapter.stop_scanning()
        finally:
            await adapter.release()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        adv = advertisement_data(advertisement.data.ad_structures, advertisement.rssi)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = advertisement.address
        device = self.create_or_update_device(
            str(address),
            address.to_string(False),
            adv.local_name,
            BumbleDeviceDetails(address, self._adapter.key if self._adapter else ""),
            adv,
        )
        self.call_detection_callbacks(device, adv)
