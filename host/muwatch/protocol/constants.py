"""Numbers of wire protocol v1, mirroring docs/protocol.md (the one definition)."""

from __future__ import annotations

from enum import IntEnum, IntFlag

PROTOCOL_VERSION = 1
SYNC = b"\xa5\x5a"
DATA_HEADER_LEN = 16
DATA_OVERHEAD = 18
EVENT_HEADER_LEN = 6
RESPONSE_HEADER_LEN = 7
REQUEST_HEADER_LEN = 6
CRC_LEN = 2
MAX_BODY = 160
MAX_SAMPLES = 255
MAX_CHANNELS = 8
MAX_MARKER_LABEL = 64
NO_REQUEST_ID = 0xFFFF
SERIAL_FRAME_BUDGET = 244
DEFAULT_ATT_MTU = 247
VREF_VOLTS = 4.5

# BLE GATT (section 6).
SERVICE_UUID = "6d770001-1762-447b-83a3-96d065c9e115"
DATA_CHAR_UUID = "6d770002-1762-447b-83a3-96d065c9e115"
CONTROL_CHAR_UUID = "6d770003-1762-447b-83a3-96d065c9e115"
EVENTS_CHAR_UUID = "6d770004-1762-447b-83a3-96d065c9e115"
INFO_CHAR_UUID = "6d770005-1762-447b-83a3-96d065c9e115"


class FrameType(IntEnum):
    DATA = 0x01
    EVENT = 0x02
    RESPONSE = 0x03
    REQUEST = 0x04


class Flag(IntFlag):
    """Data frame flags (byte 2)."""

    LEAD_OFF = 0x01
    SATURATED = 0x02
    BATTERY_LOW = 0x04
    RESENT = 0x08
    TEST_MODE = 0x10


class Format(IntEnum):
    """Sample format (byte 3); the value is the bit width."""

    S24 = 0x18
    S16 = 0x10

    @property
    def bytes_per_sample(self) -> int:
        return 3 if self is Format.S24 else 2


class EventCode(IntEnum):
    LEAD_OFF = 0x01
    BATTERY_LOW = 0x02
    OVERRUN = 0x03
    TRIGGER = 0x04
    STATE = 0x05
    LOG = 0x06


class OverrunCause(IntEnum):
    MISSED_CONVERSIONS = 1
    RING_OVERWRITTEN = 2


class StateReason(IntEnum):
    COMMAND = 0
    LOW_BATTERY = 1
    WATCHDOG_OR_BOOT = 2
    ERROR = 3


class LogLevel(IntEnum):
    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3


class Status(IntEnum):
    OK = 0
    UNKNOWN_OPCODE = 1
    BAD_LENGTH = 2
    BAD_VALUE = 3
    BUSY = 4
    NOT_PAIRED = 5
    UNSUPPORTED = 6
    INTERNAL = 7
    BAD_FRAME = 8


class Opcode(IntEnum):
    GET_INFO = 0x01
    START = 0x02
    STOP = 0x03
    CONFIGURE = 0x04
    GET_STATUS = 0x05
    SET_TIME = 0x06
    MARKER = 0x07
    RESEND = 0x08
    REBOOT = 0x09
    PING = 0x0A
    ENTER_REPL = 0x0B


class Mode(IntEnum):
    """Front-end input mode (CONFIGURE)."""

    NORMAL = 0
    TEST_SIGNAL = 1
    LEAD_OFF_CHECK = 2
    SHORTED = 3


RATES_HZ: tuple[int, ...] = (250, 500, 1000, 2000, 4000, 8000, 16000)
"""Samples per second by rate_code."""
GAINS: tuple[int, ...] = (1, 2, 4, 6, 8, 12, 24)
"""ADS1299 PGA gain by gain_code."""

# Request body length per opcode: an int is exact, a (min, max) tuple a range.
REQUEST_BODY_LEN: dict[Opcode, int | tuple[int, int]] = {
    Opcode.GET_INFO: 0,
    Opcode.START: 0,
    Opcode.STOP: 0,
    Opcode.CONFIGURE: 5,
    Opcode.GET_STATUS: 0,
    Opcode.SET_TIME: 8,
    Opcode.MARKER: (2, 2 + MAX_MARKER_LABEL),
    Opcode.RESEND: 8,
    Opcode.REBOOT: 0,
    Opcode.PING: 0,
    Opcode.ENTER_REPL: 0,
}


def samples_per_frame(budget: int, n_channels: int, fmt: int = Format.S24) -> int:
    """Whole samples per channel the device puts in a frame of at most `budget` bytes."""
    per = n_channels * Format(fmt).bytes_per_sample
    if budget <= DATA_OVERHEAD:
        return 0
    return min(MAX_SAMPLES, (budget - DATA_OVERHEAD) // per)


def data_frame_len(n_channels: int, n_samples: int, fmt: int = Format.S24) -> int:
    return DATA_OVERHEAD + n_channels * n_samples * Format(fmt).bytes_per_sample


def payload_efficiency(att_mtu: int, n_channels: int, fmt: int = Format.S24) -> float:
    """Sample bytes / frame bytes of the frames the device sends at this ATT MTU."""
    n = samples_per_frame(att_mtu - 3, n_channels, fmt)
    payload = n * n_channels * Format(fmt).bytes_per_sample
    return payload / (payload + DATA_OVERHEAD)


def volts_per_code(gain: int, vref: float = VREF_VOLTS, fmt: int = Format.S24) -> float:
    """Scale of a sample code in volts at the electrodes: 2 Vref / gain / 2**24 (x256 for
    16-bit frames), per section 2."""
    if gain not in GAINS:
        raise ValueError(f"gain {gain} is not an ADS1299 PGA gain {list(GAINS)}")
    lsb = 2.0 * vref / gain / (1 << 24)
    return lsb * 256 if fmt == Format.S16 else lsb


def channels_of(mask: int) -> tuple[int, ...]:
    """1-based channel numbers present in a channel mask."""
    return _CHANNELS[mask & 0xFF]


def mask_of(channels: int | tuple[int, ...] | list[int]) -> int:
    """Channel mask of 1-based channel numbers (validated by the request builders)."""
    if isinstance(channels, int):
        return channels
    m = 0
    for c in channels:
        m |= 1 << (c - 1)
    return m


_CHANNELS: tuple[tuple[int, ...], ...] = tuple(
    tuple(i + 1 for i in range(8) if m >> i & 1) for m in range(256)
)
