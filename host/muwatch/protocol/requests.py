"""Request builders: validated parameters in, `Request(opcode, body)` out.

The transport owns request ids, so builders stop short of the frame:
`build_configure(rate_hz=2000).encode(request_id)` gives the bytes of one request frame.
Out-of-range parameters raise RequestError (a ValueError and a muwatch UsageError) whose
message names the parameter and the allowed values.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from .bodies import Config, Marker, Resend, SetTime
from .constants import GAINS, MAX_MARKER_LABEL, RATES_HZ, Format, Mode, Opcode
from .errors import RequestError
from .frames import encode_request


@dataclass(frozen=True, slots=True)
class Request:
    """One request before it gets an id: `encode(request_id)` gives the frame bytes."""

    opcode: Opcode
    body: bytes = b""

    def encode(self, request_id: int) -> bytes:
        return encode_request(request_id, self.opcode, self.body)


def build_get_info() -> Request:
    return Request(Opcode.GET_INFO)


def build_start() -> Request:
    return Request(Opcode.START)


def build_stop() -> Request:
    return Request(Opcode.STOP)


def build_get_status() -> Request:
    return Request(Opcode.GET_STATUS)


def build_reboot() -> Request:
    return Request(Opcode.REBOOT)


def build_ping() -> Request:
    return Request(Opcode.PING)


def build_enter_repl() -> Request:
    return Request(Opcode.ENTER_REPL)


_MODE_NAMES = {
    "normal": Mode.NORMAL,
    "test": Mode.TEST_SIGNAL,
    "test_signal": Mode.TEST_SIGNAL,
    "test-signal": Mode.TEST_SIGNAL,
    "lead_off": Mode.LEAD_OFF_CHECK,
    "lead-off": Mode.LEAD_OFF_CHECK,
    "lead_off_check": Mode.LEAD_OFF_CHECK,
    "lead-off-check": Mode.LEAD_OFF_CHECK,
    "shorted": Mode.SHORTED,
}


def _channel_mask(channels: int | Iterable[int]) -> int:
    if isinstance(channels, int):
        if not 1 <= channels <= 0xFF:
            raise RequestError(f"channel mask 0x{channels:x} must select 1..8 channels (1..0xFF)")
        return channels
    mask = 0
    chans = list(channels)
    if not chans:
        raise RequestError("channels is empty: give at least one channel number 1..8")
    for c in chans:
        if not isinstance(c, int) or not 1 <= c <= 8:
            raise RequestError(f"channel {c!r} out of range: channels are numbered 1..8")
        if mask >> (c - 1) & 1:
            raise RequestError(f"channel {c} given twice")
        mask |= 1 << (c - 1)
    return mask


def build_configure(
    *,
    rate_hz: int = 2000,
    channels: int | Iterable[int] = (1, 2, 3, 4, 5, 6, 7, 8),
    gain: int = 24,
    mode: int | str = "normal",
    fmt: int = 24,
) -> Request:
    """CONFIGURE. channels: 1-based numbers (or a mask int); fmt: 24 or 16 bits (or the
    format codes 0x18, 0x10); mode: Mode or one of normal, test, lead-off, shorted."""
    if rate_hz not in RATES_HZ:
        raise RequestError(f"rate_hz {rate_hz} not supported; choose one of {list(RATES_HZ)}")
    if gain not in GAINS:
        raise RequestError(f"gain {gain} not supported; choose one of {list(GAINS)}")
    if isinstance(mode, str):
        key = mode.strip().lower()
        if key not in _MODE_NAMES:
            raise RequestError(f"mode {mode!r} unknown; choose normal, test, lead-off or shorted")
        m = _MODE_NAMES[key]
    else:
        if mode not in tuple(Mode):
            raise RequestError(f"mode {mode} out of range 0..3 (normal, test, lead-off, shorted)")
        m = Mode(mode)
    if fmt in (24, Format.S24):
        f = Format.S24
    elif fmt in (16, Format.S16):
        f = Format.S16
    else:
        raise RequestError(f"fmt {fmt} unknown; choose 24 (bits) or 16")
    cfg = Config(RATES_HZ.index(rate_hz), _channel_mask(channels), GAINS.index(gain), m, f)
    return Request(Opcode.CONFIGURE, cfg.encode())


def build_set_time(host_time_us: int | None = None) -> Request:
    """SET_TIME with the host clock in µs since the Unix epoch (now when omitted)."""
    t = time.time_ns() // 1000 if host_time_us is None else host_time_us
    if not 0 <= t < 1 << 64:
        raise RequestError(f"host_time_us {t} must fit an unsigned 64-bit integer")
    return Request(Opcode.SET_TIME, SetTime(t).encode())


def build_marker(code: int, label: str = "") -> Request:
    """MARKER: a u16 code and a UTF-8 label of at most 64 bytes."""
    if not 0 <= code <= 0xFFFF:
        raise RequestError(f"marker code {code} must be 0..65535")
    n = len(label.encode())
    if n > MAX_MARKER_LABEL:
        raise RequestError(f"marker label is {n} bytes of UTF-8; the maximum is 64")
    return Request(Opcode.MARKER, Marker(code, label).encode())


def build_resend(first: int, count: int) -> Request:
    """RESEND `count` samples from sample index `first` (u32; pass the wrapped value or a
    64-bit index, which is reduced mod 2**32)."""
    if first < 0:
        raise RequestError(f"first sample index {first} must not be negative")
    if not 1 <= count <= 0xFFFFFFFF:
        raise RequestError(f"resend count {count} must be 1..4294967295")
    return Request(Opcode.RESEND, Resend(first & 0xFFFFFFFF, count).encode())


BUILDERS = {
    Opcode.GET_INFO: build_get_info,
    Opcode.START: build_start,
    Opcode.STOP: build_stop,
    Opcode.CONFIGURE: build_configure,
    Opcode.GET_STATUS: build_get_status,
    Opcode.SET_TIME: build_set_time,
    Opcode.MARKER: build_marker,
    Opcode.RESEND: build_resend,
    Opcode.REBOOT: build_reboot,
    Opcode.PING: build_ping,
    Opcode.ENTER_REPL: build_enter_repl,
}
