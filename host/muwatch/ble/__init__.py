"""A bleak backend on bumble: BLE without the OS stack (simulated radio, USB dongle, in-process).

Everything above bleak's public API stays the same; only `backend=` and one keyword change::

    from bleak import BleakClient, BleakScanner
    from muwatch.ble import backend_from_spec

    be = backend_from_spec("bumble:tcp-client:127.0.0.1:9001")   # or bumble:usb:0, os
    device = await BleakScanner.find_device_by_name("muw-1A2B", backend=be.scanner, **be.kwargs)
    async with BleakClient(device, backend=be.client, **be.kwargs) as client:
        ...

Transports (the part after ``bumble:``): ``tcp-client:HOST:PORT`` or ``unix-client:PATH`` to
the simulated radio (`muwatch sim-device --ble` prints it), ``usb:INDEX`` or ``usb:VID:PID``
for a real USB Bluetooth dongle (Linux boxes without BlueZ, test benches; docs/hil.md),
``local:NAME`` for a link registered in this process with `register_local_link`. A bumble
``LocalLink`` object may also be passed as ``transport=`` directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

from muwatch.ble._adapter import register_local_link
from muwatch.ble.bonds import BondStore
from muwatch.ble.client import BleakConnectionFailedError, BumbleClient, describe_reason
from muwatch.ble.scanner import BumbleDeviceDetails, BumbleScanner
from muwatch.errors import UsageError

__all__ = [
    "BleBackend",
    "BleakConnectionFailedError",
    "BondStore",
    "BumbleClient",
    "BumbleDeviceDetails",
    "BumbleScanner",
    "backend_from_spec",
    "describe_reason",
    "register_local_link",
]

_SCHEMES = ("tcp-client", "unix-client", "unix", "usb", "pyusb", "local", "serial", "hci-socket")


@dataclass(frozen=True)
class BleBackend:
    """What to hand bleak: `backend=scanner` / `backend=client` plus `**kwargs` for both.

    `scanner` and `client` are None for the operating system's own stack (bleak's default).
    """

    scanner: type[BaseBleakScanner] | None
    client: type[BaseBleakClient] | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = "operating system Bluetooth stack"

    def scanner_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `BleakScanner(...)` (empty for the OS stack)."""
        return {"backend": self.scanner, **self.kwargs} if self.scanner else {}

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `BleakClient(...)` (empty for the OS stack)."""
        return {"backend": self.client, **self.kwargs} if self.client else {}


def backend_from_spec(
    spec: str | None, *, bond_store: BondStore | str | os.PathLike[str] | None = None
) -> BleBackend:
    """Parse ``--ble-backend``: ``os`` (default) or ``bumble:<transport>``.

    Raises `muwatch.errors.UsageError` with the accepted forms when the spec is malformed.
    """
    if spec is None or spec.strip() in ("", "os", "bleak"):
        return BleBackend(None, None)
    spec = spec.strip()
    if not spec.startswith("bumble:"):
        raise UsageError(
            f"unknown BLE backend {spec!r}: use 'os' (the system stack) or "
            "'bumble:<transport>', e.g. bumble:tcp-client:127.0.0.1:9001, bumble:usb:0"
        )
    transport = spec[len("bumble:") :]
    scheme, _, rest = transport.partition(":")
    if scheme not in _SCHEMES or not rest:
        raise UsageError(
            f"bad bumble transport {transport!r}: expected one of "
            "tcp-client:HOST:PORT, unix-client:PATH, usb:INDEX|VID:PID, local:NAME"
        )
    if scheme == "tcp-client":
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(
                f"bad tcp-client transport {transport!r}: expected tcp-client:HOST:PORT"
            )
    kwargs: dict[str, Any] = {"transport": transport}
    if bond_store is not None:
        kwargs["bond_store"] = bond_store
    return BleBackend(BumbleScanner, BumbleClient, kwargs, f"bumble over {transport}")
