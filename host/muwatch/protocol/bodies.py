"""Typed bodies of wire protocol v1: events, request parameters and response results.

Each body type has `encode() -> bytes` and `decode(body) -> instance` (raising ProtocolError
with kind "body" when the bytes do not fit). Field names follow docs/protocol.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from .constants import GAINS, RATES_HZ, VREF_VOLTS, EventCode, Format, Mode, channels_of
from .errors import ProtocolError


def _need(body: bytes, n: int, what: str, exact: bool = True) -> None:
    if (len(body) != n) if exact else (len(body) < n):
        rel = "" if exact else "at least "
        raise ProtocolError(
            f"{what} body must be {rel}{n} bytes, got {len(body)}", len(body), "body"
        )


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"{what} is not valid UTF-8", e.start, "body") from None


# ---------------------------------------------------------------------------------------
# Events (device -> host)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadOff:
    """Lead-off bits changed at `sample_index` (bit i: channel i+1's electrode off)."""

    sample_index: int
    loff_p: int
    loff_n: int
    code: ClassVar[EventCode] = EventCode.LEAD_OFF

    def encode(self) -> bytes:
        return struct.pack("<IBB", self.sample_index, self.loff_p, self.loff_n)

    @classmethod
    def decode(cls, body: bytes) -> LeadOff:
        _need(body, 6, "LEAD_OFF")
        return cls(*struct.unpack("<IBB", body))


@dataclass(frozen=True, slots=True)
class BatteryLow:
    millivolts: int
    percent: int
    code: ClassVar[EventCode] = EventCode.BATTERY_LOW

    def encode(self) -> bytes:
        return struct.pack("<HB", self.millivolts, self.percent)

    @classmethod
    def decode(cls, body: bytes) -> BatteryLow:
        _need(body, 3, "BATTERY_LOW")
        return cls(*struct.unpack("<HB", body))


@dataclass(frozen=True, slots=True)
class Overrun:
    """`count` sample indices from `first_lost_index` are gone for good (cause 1 or 2)."""

    first_lost_index: int
    count: int
    cause: int
    code: ClassVar[EventCode] = EventCode.OVERRUN

    def encode(self) -> bytes:
        return struct.pack("<IIB", self.first_lost_index, self.count, self.cause)

    @classmethod
    def decode(cls, body: bytes) -> Overrun:
        _need(body, 9, "OVERRUN")
        return cls(*struct.unpack("<IIB", body))


@dataclass(frozen=True, slots=True)
class Trigger:
    """The trigger input (stimulator sync) changed at this sample; edge 1 rising, 0 falling."""

    sample_index: int
    device_time_us: int
    edge: int
    code: ClassVar[EventCode] = EventCode.TRIGGER

    def encode(self) -> bytes:
        return struct.pack("<IIB", self.sample_index, self.device_time_us, self.edge)

    @classmethod
    def decode(cls, body: bytes) -> Trigger:
        _need(body, 9, "TRIGGER")
        return cls(*struct.unpack("<IIB", body))


@dataclass(frozen=True, slots=True)
class State:
    streaming: int
    next_index: int
    reason: int
    code: ClassVar[EventCode] = EventCode.STATE

    def encode(self) -> bytes:
        return struct.pack("<BIB", self.streaming, self.next_index, self.reason)

    @classmethod
    def decode(cls, body: bytes) -> State:
        _need(body, 6, "STATE")
        return cls(*struct.unpack("<BIB", body))


@dataclass(frozen=True, slots=True)
class Log:
    level: int
    text: str
    code: ClassVar[EventCode] = EventCode.LOG

    def encode(self) -> bytes:
        return bytes([self.level]) + self.text.encode()

    @classmethod
    def decode(cls, body: bytes) -> Log:
        _need(body, 1, "LOG", exact=False)
        return cls(body[0], _text(body[1:], "LOG text"))


Event = LeadOff | BatteryLow | Overrun | Trigger | State | Log
EVENT_TYPES: dict[int, type[LeadOff | BatteryLow | Overrun | Trigger | State | Log]] = {
    t.code: t for t in (LeadOff, BatteryLow, Overrun, Trigger, State, Log)
}


# ---------------------------------------------------------------------------------------
# Request parameters and response results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """The five CONFIGURE bytes (request body, response body, and end of GET_STATUS)."""

    rate_code: int
    channel_mask: int
    gain_code: int
    mode: int
    fmt: int

    @property
    def rate_hz(self) -> int:
        return RATES_HZ[self.rate_code]

    @property
    def gain(self) -> int:
        return GAINS[self.gain_code]

    @property
    def channels(self) -> tuple[int, ...]:
        return channels_of(self.channel_mask)

    @property
    def mode_name(self) -> str:
        return Mode(self.mode).name.lower()

    def problems(self) -> list[str]:
        """What is out of range, as messages naming the field and the allowed values."""
        out = []
        if not 0 <= self.rate_code < len(RATES_HZ):
            out.append(f"rate_code {self.rate_code} out of range 0..{len(RATES_HZ) - 1}")
        if not 1 <= self.channel_mask <= 0xFF:
            out.append(f"channel_mask 0x{self.channel_mask:02x} must select 1..8 channels")
        if not 0 <= self.gain_code < len(GAINS):
            out.append(f"gain_code {self.gain_code} out of range 0..{len(GAINS) - 1}")
        if self.mode not in tuple(Mode):
            out.append(f"mode {self.mode} out of range 0..{len(Mode) - 1}")
        if self.fmt not in tuple(Format):
            out.append(f"format 0x{self.fmt:02x} must be 0x18 (24-bit) or 0x10 (16-bit)")
        return out

    def encode(self) -> bytes:
        return bytes([self.rate_code, self.channel_mask, self.gain_code, self.mode, self.fmt])

    @classmethod
    def decode(cls, body: bytes) -> Config:
        _need(body, 5, "CONFIGURE")
        return cls(*body)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    protocol_version: int
    max_channels: int
    rates_mask: int
    vref_decivolts: int
    ring_capacity: int
    samples_per_frame: int
    firmware_version: str
    board: str
    serial_number: str
    device_name: str

    @property
    def rates_hz(self) -> tuple[int, ...]:
        return tuple(r for i, r in enumerate(RATES_HZ) if self.rates_mask >> i & 1)

    @property
    def vref_volts(self) -> float:
        return self.vref_decivolts / 10 if self.vref_decivolts else VREF_VOLTS

    def encode(self) -> bytes:
        head = struct.pack(
            "<BBBBIB",
            self.protocol_version,
            self.max_channels,
            self.rates_mask,
            self.vref_decivolts,
            self.ring_capacity,
            self.samples_per_frame,
        )
        strings = (self.firmware_version, self.board, self.serial_number, self.device_name)
        out = bytearray(head)
        for s in strings:
            b = s.encode()
            if len(b) > 255:
                raise ValueError(f"GET_INFO string longer than 255 bytes: {s[:20]!r}...")
            out += bytes([len(b)]) + b
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes) -> DeviceInfo:
        _need(body, 9 + 4, "GET_INFO", exact=False)
        head = struct.unpack_from("<BBBBIB", body)
        strings = []
        pos = 9
        for name in ("firmware_version", "board", "serial_number", "device_name"):
            if pos >= len(body):
                raise ProtocolError(f"GET_INFO body ends before {name}", pos, "body")
            n = body[pos]
            if pos + 1 + n > len(body):
                raise ProtocolError(f"GET_INFO {name} runs past the body", pos, "body")
            strings.append(_text(body[pos + 1 : pos + 1 + n], f"GET_INFO {name}"))
            pos += 1 + n
        if pos != len(body):
            raise ProtocolError(f"GET_INFO body has {len(body) - pos} extra bytes", pos, "body")
        return cls(*head, *strings)


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    streaming: int
    battery_percent: int
    battery_mv: int
    loff_p: int
    loff_n: int
    next_index: int
    oldest_index: int
    lost_samples: int
    device_time_us: int
    bad_requests: int
    link_flags: int
    config: Config

    _FMT: ClassVar[str] = "<BBHBBIIIIHB"

    @property
    def encrypted(self) -> bool:
        return bool(self.link_flags & 1)

    @property
    def bonded(self) -> bool:
        return bool(self.link_flags & 2)

    @property
    def battery_low(self) -> bool:
        return bool(self.link_flags & 4)

    @property
    def usb_power(self) -> bool:
        """USB power present (CHARGE_STAT low): never on electrodes on a person then (docs/safety.md)."""
        return bool(self.link_flags & 8)

    def encode(self) -> bytes:
        return (
            struct.pack(
                self._FMT,
                self.streaming,
                self.battery_percent,
                self.battery_mv,
                self.loff_p,
                self.loff_n,
                self.next_index,
                self.oldest_index,
                self.lost_samples,
                self.device_time_us,
                self.bad_requests,
                self.link_flags,
            )
            + self.config.encode()
        )

    @classmethod
    def decode(cls, body: bytes) -> DeviceStatus:
        _need(body, 30, "GET_STATUS")
        v = struct.unpack_from(cls._FMT, body)
        return cls(*v[:11], config=Config.decode(body[25:]))  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class SetTime:
    host_time_us: int

    def encode(self) -> bytes:
        return struct.pack("<Q", self.host_time_us)

    @classmethod
    def decode(cls, body: bytes) -> SetTime:
        _need(body, 8, "SET_TIME")
        return cls(*struct.unpack("<Q", body))


@dataclass(frozen=True, slots=True)
class Marker:
    code: int
    label: str

    def encode(self) -> bytes:
        return struct.pack("<H", self.code) + self.label.encode()

    @classmethod
    def decode(cls, body: bytes) -> Marker:
        _need(body, 2, "MARKER", exact=False)
        if len(body) > 66:
            raise ProtocolError("MARKER label longer than 64 bytes", 66, "body")
        return cls(struct.unpack_from("<H", body)[0], _text(body[2:], "MARKER label"))


@dataclass(frozen=True, slots=True)
class Resend:
    first_index: int
    count: int

    def encode(self) -> bytes:
        return struct.pack("<II", self.first_index, self.count)

    @classmethod
    def decode(cls, body: bytes) -> Resend:
        _need(body, 8, "RESEND")
        return cls(*struct.unpack("<II", body))


@dataclass(frozen=True, slots=True)
class DeviceTime:
    """START, SET_TIME and PING answer with the device clock (µs, u32) at receipt."""

    device_time_us: int

    def encode(self) -> bytes:
        return struct.pack("<I", self.device_time_us)

    @classmethod
    def decode(cls, body: bytes) -> DeviceTime:
        _need(body, 4, "device time")
        return cls(*struct.unpack("<I", body))


@dataclass(frozen=True, slots=True)
class StopResult:
    next_index: int

    def encode(self) -> bytes:
        return struct.pack("<I", self.next_index)

    @classmethod
    def decode(cls, body: bytes) -> StopResult:
        _need(body, 4, "STOP")
        return cls(*struct.unpack("<I", body))


@dataclass(frozen=True, slots=True)
class MarkerResult:
    sample_index: int

    def encode(self) -> bytes:
        return struct.pack("<I", self.sample_index)

    @classmethod
    def decode(cls, body: bytes) -> MarkerResult:
        _need(body, 4, "MARKER result")
        return cls(*struct.unpack("<I", body))


@dataclass(frozen=True, slots=True)
class ResendResult:
    """What the device queued: the intersection of the request with its ring buffer."""

    first_queued: int
    count_queued: int
    oldest_index: int
    next_index: int

    def encode(self) -> bytes:
        return struct.pack(
            "<IIII", self.first_queued, self.count_queued, self.oldest_index, self.next_index
        )

    @classmethod
    def decode(cls, body: bytes) -> ResendResult:
        _need(body, 16, "RESEND result")
        return cls(*struct.unpack("<IIII", body))


@dataclass(frozen=True, slots=True)
class Empty:
    """REBOOT and ENTER_REPL answer with an empty body."""

    def encode(self) -> bytes:
        return b""

    @classmethod
    def decode(cls, body: bytes) -> Empty:
        _need(body, 0, "empty")
        return cls()
