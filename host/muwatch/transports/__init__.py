"""Links to a sensor behind one narrow interface (`Transport`): BLE, serial, simulated device.

`transport_for(spec)` turns what a user types as DEVICE into a transport:

    muw-1A2B, AA:BB:CC:DD:EE:FF, ble:NAME|ADDRESS   BLE (bleak; --ble-backend picks the stack)
    /dev/ttyACM0, COM3, serial:PATH                 serial port (pyserial)
    socket://HOST:PORT, rfc2217://..., loop://      pyserial URLs
    sim, sim:SIGNAL_STEM                            the simulated sensor, started on demand
"""

from __future__ import annotations

import re
from pathlib import Path

from muwatch.errors import UsageError
from muwatch.transports.base import Transport, TransportClosed, TransportError

__all__ = ["Transport", "TransportClosed", "TransportError", "transport_for"]

_URL = re.compile(r"^[a-z0-9+]+://")


def transport_for(
    spec: str,
    *,
    ble_backend: str | None = None,
    ble_pair: bool = False,
    bond_store: str | Path | None = None,
) -> Transport:
    """The transport for a DEVICE argument; UsageError (with the accepted forms) if unclear.

    `bond_store`: where a bumble BLE backend keeps bond keys (None: in memory only)."""
    s = spec.strip()
    if not s:
        raise UsageError("DEVICE is empty: give a BLE name or address, a serial port, or sim")
    if s == "sim" or s.startswith("sim:"):
        from muwatch.transports.sim import SimTransport

        signal = s[4:] or None
        if signal is not None:
            stem = Path(signal).expanduser()
            if stem.suffix in (".i32", ".json"):
                stem = stem.with_suffix("")
            if not stem.with_suffix(".i32").exists():
                raise UsageError(
                    f"signal source {stem}.i32 not found (make one with `muwatch simulate`)"
                )
            signal = str(stem)
        return SimTransport(signal)
    if s.startswith("serial:"):
        from muwatch.transports.serial import SerialTransport

        return SerialTransport(s[len("serial:") :])
    if _URL.match(s) or s.startswith("/dev/") or re.match(r"^COM\d+$", s, re.I):
        from muwatch.transports.serial import SerialTransport

        return SerialTransport(s)
    if s.startswith("ble:"):
        s = s[4:]
        if not s:
            raise UsageError("ble: needs a name (muw-1A2B) or an address")
    from muwatch.transports.ble import BleTransport

    if ble_backend is not None:
        from muwatch.transports.ble import resolve_backend

        resolve_backend(ble_backend)  # a malformed spec is a usage error now, not at connect
    return BleTransport(s, backend=ble_backend, pair=ble_pair, bond_store=bond_store)
