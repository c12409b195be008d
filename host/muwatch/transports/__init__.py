"""Links to a sensor behind one narrow interface (`Transport`): BLE, serial, simulated device."""

from muwatch.transports.base import Transport, TransportClosed, TransportError

__all__ = ["Transport", "TransportClosed", "TransportError"]
