"""The narrow interface every link to a sensor implements.

A transport moves whole protocol frames (docs/protocol.md): it hands every frame the device sent
to a receiver callback, already decoded by `muwatch.protocol`, and sends request frames. BLE gets
one frame per notification; serial splits a byte stream with the protocol's stream decoder. Above
this line (`muwatch.device`) nothing knows which link is in use.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from muwatch.errors import DeviceError


class TransportError(DeviceError):
    """The link failed (absent device, refused connection, I/O error); the message says which."""


class TransportClosed(TransportError):
    """The link is gone (device switched off, out of range, cable pulled)."""


# Receives each decoded frame (a muwatch.protocol frame object) in arrival order.
FrameReceiver = Callable[[Any], None]
# Called once when the link drops without `close()` having been called; the argument says why.
DisconnectHandler = Callable[[str], None]


class Transport(abc.ABC):
    """One link to one sensor. Async throughout; `open()` may be called again after a drop."""

    #: Human-readable description of the link, e.g. "ble AA:BB:..", "serial /dev/ttyACM0".
    description: str = "transport"

    def __init__(self) -> None:
        self._receiver: FrameReceiver | None = None
        self._on_disconnect: DisconnectHandler | None = None

    def set_receiver(self, receiver: FrameReceiver) -> None:
        """Register the callback that gets every decoded frame from the device."""
        self._receiver = receiver

    def set_disconnect_handler(self, handler: DisconnectHandler) -> None:
        """Register the callback run when the link drops unexpectedly."""
        self._on_disconnect = handler

    @abc.abstractmethod
    async def open(self, timeout: float = 10.0) -> None:
        """Connect (and subscribe); raise TransportError within `timeout` if it cannot."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect cleanly; safe to call twice or after a drop."""

    @abc.abstractmethod
    async def send(self, frame: bytes) -> None:
        """Send one encoded REQUEST frame (without serial sync bytes; the transport adds framing)."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """True while the link is up."""

    @property
    def stats(self) -> dict[str, int]:
        """Link-level counters (garbage bytes, CRC errors, lost frames...), for reports."""
        return {}

    def _deliver(self, frame: Any) -> None:
        if self._receiver is not None:
            self._receiver(frame)

    def _dropped(self, why: str) -> None:
        if self._on_disconnect is not None:
            self._on_disconnect(why)
