"""Frames of wire protocol v1: classes, `decode_frame` for one BLE unit, and encoders.

The encoders are the device side in Python (tests, host-side simulations); the firmware has
its own allocation-free encoder. Both are held to tests/vectors/.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .bodies import (
    EVENT_TYPES,
    Config,
    DeviceInfo,
    DeviceStatus,
    DeviceTime,
    Empty,
    Event,
    Marker,
    MarkerResult,
    Resend,
    ResendResult,
    SetTime,
    StopResult,
)
from .constants import (
    DATA_HEADER_LEN,
    MAX_BODY,
    MAX_SAMPLES,
    PROTOCOL_VERSION,
    SYNC,
    VREF_VOLTS,
    Flag,
    Format,
    FrameType,
    Opcode,
    Status,
    channels_of,
    volts_per_code,
)
from .errors import ProtocolError, RequestFailed

DEVICE_TYPES: frozenset[int] = frozenset((FrameType.DATA, FrameType.EVENT, FrameType.RESPONSE))
"""Frame types a host accepts (device -> host)."""
HOST_TYPES: frozenset[int] = frozenset((FrameType.REQUEST,))
"""Frame types a device accepts (host -> device)."""

POPCOUNT = bytes(bin(m).count("1") for m in range(256))


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as every frame carries it."""
    return binascii.crc_hqx(data, 0xFFFF)


# ---------------------------------------------------------------------------------------
# Sample payloads
# ---------------------------------------------------------------------------------------


def unpack_samples(payload: np.ndarray, fmt: int, n_channels: int) -> np.ndarray:
    """Big-endian sample bytes (..., n_bytes) uint8 -> int32 codes (..., n_samples, n_ch)."""
    lead = payload.shape[:-1]
    if fmt == Format.S24:
        b = payload.reshape(*lead, -1, 3)
        v = (
            (b[..., 0].astype(np.int8).astype(np.int32) << 16)
            | (b[..., 1].astype(np.int32) << 8)
            | b[..., 2]
        )
    else:
        b = payload.reshape(*lead, -1, 2)
        v = (b[..., 0].astype(np.int8).astype(np.int32) << 8) | b[..., 1]
    return v.reshape(*lead, -1, n_channels)


def pack_samples(samples: np.ndarray, fmt: int) -> bytes:
    """int codes (n_samples, n_channels) -> big-endian payload bytes; range-checked."""
    a = np.asarray(samples, dtype=np.int64)
    bits = 24 if fmt == Format.S24 else 16
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(f"sample codes must fit {bits}-bit two's complement ({lo}..{hi})")
    if bits == 16:
        return a.astype(">i2").tobytes()
    return a.astype(">i4").view(np.uint8).reshape(-1, 4)[:, 1:].tobytes()


# ---------------------------------------------------------------------------------------
# Frame classes
# ---------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class DataFrame:
    """A block of samples: `samples[i, c]` is the code of sample first_index+i, channel c.

    `samples` holds the codes as sent: 24-bit codes for format 0x18, 16-bit codes (the top
    16 bits of the 24-bit code) for 0x10; `codes24()` gives 24-bit units for both.
    `offset` is the stream offset of the frame's sync bytes (serial) or -1.
    """

    flags: int
    fmt: int
    seq: int
    channel_mask: int
    first_index: int
    device_time_us: int
    samples: np.ndarray
    offset: int = -1

    type: ClassVar[FrameType] = FrameType.DATA

    @property
    def channels(self) -> tuple[int, ...]:
        """1-based channel numbers, in the order of the samples' columns."""
        return channels_of(self.channel_mask)

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def end_index(self) -> int:
        """first_index + n_samples (u32 arithmetic is the caller's: see Unwrapper)."""
        return self.first_index + self.n_samples

    @property
    def resent(self) -> bool:
        return bool(self.flags & Flag.RESENT)

    @property
    def lead_off(self) -> bool:
        return bool(self.flags & Flag.LEAD_OFF)

    @property
    def saturated(self) -> bool:
        return bool(self.flags & Flag.SATURATED)

    @property
    def battery_low(self) -> bool:
        return bool(self.flags & Flag.BATTERY_LOW)

    @property
    def test_mode(self) -> bool:
        return bool(self.flags & Flag.TEST_MODE)

    def codes24(self) -> np.ndarray:
        """Samples in 24-bit code units (16-bit frames scaled by 256)."""
        if self.fmt == Format.S16:
            return self.samples.astype(np.int32) << 8
        return self.samples

    def volts(self, gain: int, vref: float = VREF_VOLTS) -> np.ndarray:
        """Samples in volts at the electrodes (float64), for this PGA gain and Vref."""
        return self.samples * volts_per_code(gain, vref, self.fmt)

    def encode(self) -> bytes:
        return encode_data(
            self.samples,
            flags=self.flags,
            fmt=self.fmt,
            seq=self.seq,
            channel_mask=self.channel_mask,
            first_index=self.first_index,
            device_time_us=self.device_time_us,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataFrame):
            return NotImplemented
        return (
            self.flags == other.flags
            and self.fmt == other.fmt
            and self.seq == other.seq
            and self.channel_mask == other.channel_mask
            and self.first_index == other.first_index
            and self.device_time_us == other.device_time_us
            and np.array_equal(self.samples, other.samples)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(slots=True)
class EventFrame:
    """An event; `event` is the parsed body (None for an unknown code or a bad body, in
    which case `error` says what was wrong)."""

    event_seq: int
    code: int
    body: bytes
    event: Event | None = None
    error: str | None = None
    offset: int = -1

    type: ClassVar[FrameType] = FrameType.EVENT

    def encode(self) -> bytes:
        return encode_event(self.event_seq, self.code, self.body)


@dataclass(slots=True)
class ResponseFrame:
    """The device's answer to the request with the same `request_id`."""

    request_id: int
    opcode: int
    status: int
    body: bytes
    offset: int = -1

    type: ClassVar[FrameType] = FrameType.RESPONSE

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def message(self) -> str:
        """The device's explanation for an error status ('' when OK)."""
        if self.ok:
            return ""
        return self.body.decode("utf-8", "replace")

    def result(self) -> object:
        """The typed result of an OK response; RequestFailed for an error status,
        ProtocolError when the body does not fit the opcode."""
        if not self.ok:
            raise RequestFailed(self.opcode, self.status, self.message)
        return parse_response_body(self.opcode, self.body)

    def encode(self) -> bytes:
        return encode_response(self.request_id, self.opcode, self.status, self.body)


@dataclass(slots=True)
class RequestFrame:
    request_id: int
    opcode: int
    body: bytes
    offset: int = -1

    type: ClassVar[FrameType] = FrameType.REQUEST

    def params(self) -> object:
        """The typed parameters (Config, SetTime, Marker, Resend) or None for no body."""
        return parse_request_body(self.opcode, self.body)

    def encode(self) -> bytes:
        return encode_request(self.request_id, self.opcode, self.body)


Frame = DataFrame | EventFrame | ResponseFrame | RequestFrame

_RESULT_TYPES: dict[int, type] = {
    Opcode.GET_INFO: DeviceInfo,
    Opcode.START: DeviceTime,
    Opcode.STOP: StopResult,
    Opcode.CONFIGURE: Config,
    Opcode.GET_STATUS: DeviceStatus,
    Opcode.SET_TIME: DeviceTime,
    Opcode.MARKER: MarkerResult,
    Opcode.RESEND: ResendResult,
    Opcode.REBOOT: Empty,
    Opcode.PING: DeviceTime,
    Opcode.ENTER_REPL: Empty,
}
_PARAM_TYPES: dict[int, type] = {
    Opcode.CONFIGURE: Config,
    Opcode.SET_TIME: SetTime,
    Opcode.MARKER: Marker,
    Opcode.RESEND: Resend,
}


def parse_response_body(opcode: int, body: bytes) -> object:
    """Typed result of an OK response body for `opcode` (ProtocolError if it does not fit)."""
    kind = _RESULT_TYPES.get(opcode)
    if kind is None:
        raise ProtocolError(f"response to unknown opcode 0x{opcode:02x}", 4, "body")
    return kind.decode(bytes(body))  # type: ignore[attr-defined]


def parse_request_body(opcode: int, body: bytes) -> object:
    """Typed parameters of a request body; None for opcodes without a body."""
    if opcode not in _RESULT_TYPES:
        raise ProtocolError(f"unknown opcode 0x{opcode:02x}", 4, "body")
    kind = _PARAM_TYPES.get(opcode)
    if kind is None:
        if body:
            raise ProtocolError(
                f"{Opcode(opcode).name} takes no body, got {len(body)} bytes", 6, "body"
            )
        return None
    return kind.decode(bytes(body))  # type: ignore[attr-defined]


def parse_event(code: int, body: bytes) -> Event | None:
    """Typed event body; None for a code this version does not know (kept, not an error)."""
    kind = EVENT_TYPES.get(code)
    return None if kind is None else kind.decode(bytes(body))


# ---------------------------------------------------------------------------------------
# Decoding one unit
# ---------------------------------------------------------------------------------------

_TYPE_NAMES = {t.value: t.name for t in FrameType}


def frame_length(header: bytes | bytearray | memoryview, accept: Iterable[int]) -> int:
    """Total length (CRC included) a frame header announces; ProtocolError if impossible.

    `header` starts at the version byte and holds at least the type's fixed header.
    """
    n = len(header)
    if n < 2:
        raise ProtocolError(f"a frame needs at least 2 bytes, got {n}", n, "short")
    if header[0] != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version byte is 0x{header[0]:02x}, expected 0x01", 0, "version"
        )
    t = header[1]
    if t not in accept:
        if t in _TYPE_NAMES:
            direction = "host -> device" if t == FrameType.REQUEST else "device -> host"
            msg = f"frame type {_TYPE_NAMES[t]} (0x{t:02x}) travels {direction}, not here"
        else:
            msg = f"unknown frame type 0x{t:02x} (1 DATA, 2 EVENT, 3 RESPONSE, 4 REQUEST)"
        raise ProtocolError(msg, 1, "type")
    if t == FrameType.DATA:
        if n < DATA_HEADER_LEN + 2:
            raise ProtocolError(f"data frame shorter than its 18-byte minimum: {n}", n, "short")
        fmt, mask, ns = header[3], header[6], header[7]
        if fmt not in (Format.S24, Format.S16):
            raise ProtocolError(
                f"sample format 0x{fmt:02x} unknown (0x18 24-bit, 0x10 16-bit)", 3, "format"
            )
        if mask == 0:
            raise ProtocolError(
                "channel_mask is 0: a data frame needs a channel", 6, "channel_mask"
            )
        if ns == 0:
            raise ProtocolError("n_samples is 0: a data frame needs a sample", 7, "n_samples")
        return DATA_HEADER_LEN + 2 + ns * POPCOUNT[mask] * (3 if fmt == Format.S24 else 2)
    head = 7 if t == FrameType.RESPONSE else 6
    if n < head + 2:
        raise ProtocolError(
            f"{_TYPE_NAMES[t]} frame shorter than its {head + 2}-byte minimum: {n}", n, "short"
        )
    blen = header[head - 1]
    if blen > MAX_BODY:
        raise ProtocolError(f"body_len {blen} above the maximum 160", head - 1, "body_len")
    return head + blen + 2


def decode_frame(
    buf: bytes | bytearray | memoryview, *, accept: Iterable[int] = DEVICE_TYPES
) -> Frame:
    """Decode exactly one frame (one BLE notification or write, no sync bytes).

    Raises ProtocolError naming the problem and its byte offset; never returns a partial frame.
    """
    data = bytes(buf)
    total = frame_length(data, accept)
    if len(data) != total:
        what = "truncated" if len(data) < total else "has extra bytes"
        raise ProtocolError(
            f"frame {what}: header announces {total} bytes, got {len(data)}",
            min(len(data), total),
            "length",
        )
    got = data[-2] | data[-1] << 8
    want = crc16(data[:-2])
    if got != want:
        raise ProtocolError(
            f"CRC mismatch: frame carries 0x{got:04x}, bytes give 0x{want:04x}",
            total - 2,
            "crc",
        )
    return _build(data, 0, total, -1, strict=True)


def _build(data: bytes, i: int, total: int, offset: int, *, strict: bool) -> Frame:
    """Frame object from the valid frame data[i:i+total] (CRC already checked)."""
    t = data[i + 1]
    if t == FrameType.DATA:
        fmt, mask, ns = data[i + 3], data[i + 6], data[i + 7]
        seq, first, time_us = struct.unpack_from("<HxxII", data, i + 4)
        payload = np.frombuffer(data, np.uint8, total - 18, i + 16)
        samples = unpack_samples(payload, fmt, POPCOUNT[mask]).reshape(ns, POPCOUNT[mask])
        return DataFrame(data[i + 2], fmt, seq, mask, first, time_us, samples, offset)
    if t == FrameType.EVENT:
        seq = data[i + 2] | data[i + 3] << 8
        code = data[i + 4]
        body = data[i + 6 : i + total - 2]
        try:
            return EventFrame(seq, code, body, parse_event(code, body), None, offset)
        except ProtocolError as e:
            if strict:
                raise ProtocolError(e.message, 6 + max(e.offset, 0), "body") from None
            return EventFrame(seq, code, body, None, e.message, offset)
    if t == FrameType.RESPONSE:
        rid = data[i + 2] | data[i + 3] << 8
        return ResponseFrame(rid, data[i + 4], data[i + 5], data[i + 7 : i + total - 2], offset)
    rid = data[i + 2] | data[i + 3] << 8
    return RequestFrame(rid, data[i + 4], data[i + 6 : i + total - 2], offset)


# ---------------------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------------------


def _with_crc(head_and_body: bytes) -> bytes:
    return head_and_body + crc16(head_and_body).to_bytes(2, "little")


def encode_data(
    samples: np.ndarray,
    *,
    channel_mask: int,
    first_index: int,
    device_time_us: int,
    seq: int = 0,
    flags: int = 0,
    fmt: int = Format.S24,
) -> bytes:
    """A DATA frame (no sync bytes) from int codes shaped (n_samples, n_channels)."""
    s = np.asarray(samples)
    if s.ndim != 2:
        raise ValueError(f"samples must be 2-D (n_samples, n_channels), got shape {s.shape}")
    if not 1 <= channel_mask <= 0xFF:
        raise ValueError(f"channel_mask 0x{channel_mask:x} must select 1..8 channels")
    if s.shape[1] != POPCOUNT[channel_mask]:
        raise ValueError(
            f"samples have {s.shape[1]} channels, channel_mask 0x{channel_mask:02x} "
            f"selects {POPCOUNT[channel_mask]}"
        )
    if not 1 <= s.shape[0] <= MAX_SAMPLES:
        raise ValueError(f"a data frame holds 1..255 samples, got {s.shape[0]}")
    if fmt not in (Format.S24, Format.S16):
        raise ValueError(f"format 0x{fmt:02x} must be 0x18 or 0x10")
    head = struct.pack(
        "<BBBBHBBII",
        PROTOCOL_VERSION,
        FrameType.DATA,
        flags,
        fmt,
        seq & 0xFFFF,
        channel_mask,
        s.shape[0],
        first_index & 0xFFFFFFFF,
        device_time_us & 0xFFFFFFFF,
    )
    return _with_crc(head + pack_samples(s, fmt))


def _body(body: bytes | bytearray | memoryview) -> bytes:
    b = bytes(body)
    if len(b) > MAX_BODY:
        raise ValueError(f"body of {len(b)} bytes exceeds the 160-byte maximum")
    return b


def encode_event(event_seq: int, code: int | Event, body: bytes | None = None) -> bytes:
    """An EVENT frame; pass a typed event (LeadOff(...)) or a code and its body bytes."""
    if not isinstance(code, int):
        body, code = code.encode(), int(code.code)
    b = _body(body or b"")
    return _with_crc(
        struct.pack("<BBHBB", 1, FrameType.EVENT, event_seq & 0xFFFF, code, len(b)) + b
    )


def encode_response(
    request_id: int, opcode: int, status: int, body: bytes | str | object = b""
) -> bytes:
    """A RESPONSE frame; body may be bytes, an error message (str) or a typed result."""
    if isinstance(body, str):
        raw = body.encode()[:MAX_BODY]
    elif isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
    else:
        raw = body.encode()  # type: ignore[attr-defined]
    b = _body(raw)
    return _with_crc(
        struct.pack("<BBHBBB", 1, FrameType.RESPONSE, request_id, opcode, status, len(b)) + b
    )


def encode_request(request_id: int, opcode: int, body: bytes = b"") -> bytes:
    """A REQUEST frame (no sync bytes); request_id 0xFFFF is reserved."""
    if not 0 <= request_id < 0xFFFF:
        raise ValueError(f"request_id must be 0..65534 (0xFFFF is reserved), got {request_id}")
    b = _body(body)
    return _with_crc(struct.pack("<BBHBB", 1, FrameType.REQUEST, request_id, opcode, len(b)) + b)


def serial_frame(frame: bytes) -> bytes:
    """The frame as it travels on serial: sync bytes A5 5A in front."""
    return SYNC + frame
