"""BLE transport through bleak's public API: the OS stack by default, or any bleak backend
(`--ble-backend bumble:SPEC` selects muwatch.ble's bumble backend: simulated radio, USB dongle).

One frame per notification (docs/protocol.md §6): Data and Events notifications and Control
responses are decoded with `decode_frame`; a notification that does not parse is counted and
skipped, never fatal. Requests go to Control as writes with response. Every wait is bounded
by the caller's timeout (a connect to an absent device must not hang).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from muwatch.errors import DeviceError
from muwatch.protocol.constants import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    EVENTS_CHAR_UUID,
    SERVICE_UUID,
)
from muwatch.protocol.errors import ProtocolError
from muwatch.protocol.frames import decode_frame
from muwatch.transports.base import Transport, TransportClosed, TransportError

log = logging.getLogger("muwatch.ble")

_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$")


def looks_like_address(target: str) -> bool:
    """A BLE address (AA:BB:..) or a macOS CoreBluetooth UUID."""
    return bool(_ADDRESS.match(target))


BONDS_ENV = "MUWATCH_BLE_BONDS"


def default_bond_path() -> Path:
    """Where the bumble backend keeps bond keys across processes: $MUWATCH_BLE_BONDS, else
    `ble_bonds.json` in the muwatch data folder (the OS stack keeps its own bonds)."""
    env = os.environ.get(BONDS_ENV)
    if env:
        return Path(env).expanduser()
    from muwatch.session.store import default_data_dir

    return default_data_dir() / "ble_bonds.json"


def resolve_backend(
    spec: str | None, bond_store: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(scanner kwargs, client kwargs, description) for bleak; {} for the OS stack."""
    if spec is None or spec.strip() in ("", "os", "bleak"):
        return {}, {}, "operating system Bluetooth stack"
    from muwatch.ble import backend_from_spec

    be = backend_from_spec(spec, bond_store=bond_store)
    return be.scanner_kwargs(), be.client_kwargs(), be.description


async def scan(
    timeout: float = 5.0, *, backend: str | None = None, all_devices: bool = False
) -> list[tuple[str, str, int | None]]:
    """Advertising muwatch sensors as (name, address, RSSI), strongest first."""
    from bleak import BleakScanner

    skw, _, _ = resolve_backend(backend)
    kwargs: dict[str, Any] = dict(skw)
    if not all_devices:
        kwargs["service_uuids"] = [SERVICE_UUID]
    try:
        found = await BleakScanner.discover(timeout=timeout, return_adv=True, **kwargs)
    except Exception as exc:  # BleakError, BleakBluetoothNotAvailableError, OSError
        raise DeviceError(f"scanning failed: {exc}") from exc
    out: list[tuple[str, str, int | None]] = []
    for device, adv in found.values():
        name = adv.local_name or device.name or ""
        out.append((name, device.address, adv.rssi))
    out.sort(key=lambda r: -(r[2] if r[2] is not None else -999))
    return out


class BleTransport(Transport):
    """A sensor over BLE, found by name (muw-XXXX) or address."""

    def __init__(
        self,
        target: str,
        *,
        backend: str | None = None,
        pair: bool = False,
        write_response: bool = True,
        bond_store: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.backend_spec = backend
        self.bond_store = bond_store
        self.pair_on_connect = pair
        self.write_response = write_response
        self.description = f"ble {target}"
        self._client: Any = None
        self._device: Any = None  # BLEDevice from the last scan, reused to reconnect fast
        self._closing = False
        self._stats = {"notifications": 0, "bad_notifications": 0, "connects": 0}

    @property
    def is_open(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    @property
    def mtu(self) -> int | None:
        return self._client.mtu_size if self._client is not None else None

    async def _find(self, timeout: float, skw: dict[str, Any]) -> Any:
        from bleak import BleakScanner

        if looks_like_address(self.target):
            dev = await BleakScanner.find_device_by_address(self.target, timeout=timeout, **skw)
        else:
            name = self.target

            def match(d: Any, adv: Any) -> bool:
                return name in (adv.local_name, d.name)

            dev = await BleakScanner.find_device_by_filter(match, timeout=timeout, **skw)
        if dev is None:
            raise TransportError(
                f"no sensor {self.target!r} found within {timeout:g} s: is it on, charged, in "
                "range, and not connected to another host? (`muwatch scan` lists sensors)"
            )
        return dev

    async def open(self, timeout: float = 10.0) -> None:
        if self.is_open:
            return
        from bleak import BleakClient

        self._closing = False
        skw, ckw, desc = resolve_backend(self.backend_spec, self.bond_store)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            if self._device is None:
                self._device = await asyncio.wait_for(self._find(timeout, skw), timeout + 1)
            client = BleakClient(
                self._device,
                disconnected_callback=self._on_disconnected,
                timeout=max(0.5, deadline - loop.time()),
                pair=self.pair_on_connect,
                **ckw,
            )
            await asyncio.wait_for(client.connect(), max(0.5, deadline - loop.time()))
        except TransportError:
            raise
        except Exception as exc:  # BleakError, TimeoutError, OSError, backend errors
            self._device = None  # scan again next time
            raise TransportError(
                f"cannot connect to {self.target} ({desc}): {exc or type(exc).__name__}"
            ) from exc
        self._client = client
        try:
            await asyncio.wait_for(client.start_notify(EVENTS_CHAR_UUID, self._on_notify), timeout)
            await asyncio.wait_for(client.start_notify(CONTROL_CHAR_UUID, self._on_notify), timeout)
            await asyncio.wait_for(client.start_notify(DATA_CHAR_UUID, self._on_notify), timeout)
        except Exception as exc:
            self._client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise TransportError(
                f"{self.target}: subscribing to the EMG service failed: {exc}"
            ) from exc
        self._stats["connects"] += 1
        self.description = f"ble {self.target} ({desc})"

    async def close(self) -> None:
        self._closing = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 5.0)

    async def send(self, frame: bytes) -> None:
        client = self._client
        if client is None or not client.is_connected:
            raise TransportClosed(f"{self.target}: not connected")
        try:
            await client.write_gatt_char(
                CONTROL_CHAR_UUID, bytes(frame), response=self.write_response
            )
        except Exception as exc:
            raise TransportClosed(f"{self.target}: write failed: {exc}") from exc

    async def pair(self) -> None:
        """Pair and bond (LE Secure Connections, Just Works); the bond is kept by the stack."""
        client = self._client
        if client is None:
            raise TransportClosed(f"{self.target}: connect before pairing")
        try:
            await client.pair()
        except Exception as exc:
            raise DeviceError(f"pairing with {self.target} failed: {exc}") from exc

    def _on_notify(self, _char: Any, data: bytearray) -> None:
        self._stats["notifications"] += 1
        try:
            frame = decode_frame(bytes(data))
        except ProtocolError as exc:
            self._stats["bad_notifications"] += 1
            log.warning("%s: notification skipped: %s", self.target, exc)
            return
        self._deliver(frame)

    def _on_disconnected(self, client: Any) -> None:
        if self._client is not client and self._client is not None:
            return
        self._client = None
        if not self._closing:
            self._dropped(f"{self.target}: BLE link lost")
