"""What a session is: its metadata (first record of the journal) and label rules."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from muwatch import __version__
from muwatch.errors import FileFormatError, UsageError

FORMAT_VERSION = 1
# ADS1299 codes: 24-bit two's complement.
DIGITAL_MIN = -(1 << 23)
DIGITAL_MAX = (1 << 23) - 1
RATES = (250, 500, 1000, 2000, 4000, 8000, 16000)
GAINS = (1, 2, 4, 6, 8, 12, 24)
MODES = ("normal", "test-signal", "lead-off-check", "shorted")

_LABEL = re.compile(r"^[A-Za-z0-9]+$")


def check_label(kind: str, value: str) -> str:
    """BIDS labels (subject, task, session) are alphanumeric; say so instead of mangling them."""
    if not _LABEL.match(value or ""):
        raise UsageError(
            f"{kind} {value!r} must be letters and digits only (BIDS label), e.g. 'p01' or 'grip'"
        )
    return value


def uv_per_code(vref: float, gain: int) -> float:
    """Microvolts per 24-bit code: 2 Vref / gain / 2^24 (docs/protocol.md §2)."""
    return 2.0 * vref / gain / float(1 << 24) * 1e6


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


@dataclass
class SessionMeta:
    """Everything needed to finalise a session without the device (stored as the META record)."""

    session_id: str
    subject: str
    muscle: str
    task: str
    sample_rate: float
    channel_labels: list[str]
    channel_numbers: list[int]  # 1-based front-end channel of each label
    gain: int
    vref: float
    mode: str = "normal"
    created_utc: str = ""
    host_mono_ref: float = 0.0  # host monotonic clock at created_utc (clock map domain)
    session_label: str = ""  # BIDS ses-<label>
    power_line_hz: float = 50.0
    placement_scheme: str = "Other"
    placement_description: str = ""
    reference: str = "bipolar"
    ground: str = ""
    notes: str = ""
    device: dict[str, Any] = field(default_factory=dict)
    software: str = f"muwatch {__version__}"
    format_version: int = FORMAT_VERSION

    @property
    def n_channels(self) -> int:
        return len(self.channel_labels)

    @property
    def uv_per_code(self) -> float:
        return uv_per_code(self.vref, self.gain)

    @property
    def created(self) -> dt.datetime:
        return parse_iso(self.created_utc)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "journal") -> SessionMeta:
        known = {f for f in cls.__dataclass_fields__}
        missing = [
            f
            for f in (
                "session_id",
                "subject",
                "muscle",
                "task",
                "sample_rate",
                "channel_labels",
                "channel_numbers",
                "gain",
                "vref",
            )
            if f not in d
        ]
        if missing:
            raise FileFormatError(f"{where}: session metadata lacks {', '.join(missing)}")
        if int(d.get("format_version", 1)) > FORMAT_VERSION:
            raise FileFormatError(
                f"{where}: session format {d['format_version']} is newer than this muwatch "
                f"understands ({FORMAT_VERSION}); upgrade muwatch"
            )
        meta = cls(**{k: v for k, v in d.items() if k in known})
        if len(meta.channel_labels) != len(meta.channel_numbers) or not meta.channel_labels:
            raise FileFormatError(f"{where}: channel labels and numbers do not match")
        if not meta.sample_rate or meta.sample_rate <= 0:
            raise FileFormatError(f"{where}: sample rate {meta.sample_rate!r} is not valid")
        return meta


def default_labels(channel_numbers: list[int]) -> list[str]:
    return [f"EMG{n}" for n in channel_numbers]


def channels_from_mask(mask: int) -> list[int]:
    return [i + 1 for i in range(8) if mask & (1 << i)]
