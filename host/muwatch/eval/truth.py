"""Reading what a detection should have found out of a simulator ground truth and a detect JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from muwatch.errors import FileFormatError, UsageError


def channel_index(truth: dict[str, Any], channel: str | int | None) -> int:
    """Index of `channel` (name or index) among the truth's channels; None means the first."""
    names = [c["name"] for c in truth.get("channels", [])]
    if channel is None:
        return 0
    if isinstance(channel, int) or (isinstance(channel, str) and channel.isdigit()):
        i = int(channel)
        if not 0 <= i < len(names):
            raise UsageError(
                f"channel index {i} out of range; the recording has {len(names)} channels: {', '.join(names)}"
            )
        return i
    if channel not in names:
        raise UsageError(
            f"channel {channel!r} is not in the ground truth; channels: {', '.join(names)}"
        )
    return names.index(channel)


def truth_trains(
    truth: dict[str, Any],
    channel: str | int | None = None,
    *,
    min_snr: float = 0.0,
    measure: str = "snr",
    neutral_ratio: float = 0.5,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[int, float]]:
    """Per-unit event times at the MUAP extremum on `channel`: (targets, borderline, snr).

    A unit is a target when its `measure` on that channel is ≥ `min_snr`: "snr" = MUAP peak /
    added-noise SD; "sir" = MUAP peak / robust SD of the recorded channel (noise plus all other
    units: what a MAD-threshold detector must beat). Units between `neutral_ratio`·min_snr and
    min_snr are borderline: detecting them is neither a hit nor a false positive. Smaller units
    are neither: a detection that only matches one of them is a false positive (they are below
    what anyone would annotate). Event times are the discharge times plus the unit's peak offset
    on that channel (what an extremum-aligned detector reports).
    """
    if measure not in ("snr", "sir"):
        raise UsageError(f'measure must be "snr" or "sir", got {measure!r}')
    if not 0.0 <= neutral_ratio <= 1.0:
        raise UsageError(f"neutral_ratio must be in [0, 1], got {neutral_ratio}")
    c = channel_index(truth, channel)
    inc: dict[int, np.ndarray] = {}
    exc: dict[int, np.ndarray] = {}
    snr: dict[int, float] = {}
    for u in truth.get("units", []):
        fir = np.asarray(u.get("firings_s", []), dtype=float)
        offs = u.get("peak_offset_s")
        off = float(offs[c]) if offs is not None else 0.0
        s = u.get(measure)
        s_c = float(s[c]) if s is not None and s[c] is not None else float("inf")
        snr[int(u["id"])] = s_c
        if s_c >= min_snr:
            inc[int(u["id"])] = fir + off
        elif s_c >= neutral_ratio * min_snr:
            exc[int(u["id"])] = fir + off
    return inc, exc, snr


@dataclass(frozen=True)
class Detected:
    """Detections read from `muwatch detect --json` output."""

    fs: float | None
    channel: str | int | None
    t: np.ndarray
    units: list[Any]
    amplitude: np.ndarray


def read_detected(path: str | Path) -> Detected:
    """Parse a detect JSON {"fs", "channel", "spikes": [{"t", "amplitude", "unit"}]}."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise FileFormatError(f"detections file not found: {path}") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path} is not a detections JSON file: {exc}") from exc
    return parse_detected(doc, str(path))


def parse_detected(doc: Any, where: str = "detections") -> Detected:
    """Validate a detect JSON document (already parsed)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("spikes"), list):
        raise FileFormatError(
            f'{where}: expected an object with a "spikes" list (the output of `muwatch detect --json`)'
        )
    t, units, amp = [], [], []
    for k, s in enumerate(doc["spikes"]):
        if not isinstance(s, dict) or "t" not in s:
            raise FileFormatError(f'{where}: spike {k} has no "t" (seconds)')
        try:
            tv = float(s["t"])
        except (TypeError, ValueError) as exc:
            raise FileFormatError(f'{where}: spike {k} has a non-numeric "t": {s["t"]!r}') from exc
        if not np.isfinite(tv):
            raise FileFormatError(f'{where}: spike {k} has a non-finite "t"')
        t.append(tv)
        units.append(s.get("unit"))
        a = s.get("amplitude")
        amp.append(float(a) if isinstance(a, int | float) else np.nan)
    fs = doc.get("fs")
    if fs is not None and not isinstance(fs, int | float):
        raise FileFormatError(f'{where}: "fs" must be a number')
    return Detected(
        None if fs is None else float(fs),
        doc.get("channel"),
        np.asarray(t, float),
        units,
        np.asarray(amp, float),
    )
