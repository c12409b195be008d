"""The protocol's exception types (all part of muwatch.errors' hierarchy)."""

from __future__ import annotations

from muwatch.errors import DeviceError, UsageError


class ProtocolError(DeviceError):
    """Bytes that do not form a valid protocol unit (one notification, one response).

    `offset` is the byte (within the unit, or the stream offset when one is known) the
    problem was found at; `kind` names the check that failed (short, version, type, format,
    channel_mask, n_samples, body_len, length, crc, body).
    """

    def __init__(self, message: str, offset: int = -1, kind: str = "") -> None:
        super().__init__(f"{message} (at byte {offset})" if offset >= 0 else message)
        self.message = message
        self.offset = offset
        self.kind = kind


class RequestError(UsageError, ValueError):
    """A request parameter out of range, caught before anything is sent to the device."""


class RequestFailed(DeviceError):
    """The device answered a request with an error status; `message` is its explanation."""

    def __init__(self, opcode: int, status: int, message: str) -> None:
        from .constants import Opcode, Status

        try:
            op = Opcode(opcode).name
        except ValueError:
            op = f"opcode 0x{opcode:02x}"
        try:
            st = Status(status).name
        except ValueError:
            st = f"status {status}"
        hint = " Pair first: muwatch pair DEVICE." if status == Status.NOT_PAIRED else ""
        super().__init__(f"{op} refused by the device: {st}: {message or '(no message)'}.{hint}")
        self.opcode = opcode
        self.status = status
        self.message = message
