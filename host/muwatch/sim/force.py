"""Force profiles in % of maximal voluntary contraction (MVC), as labelled segments.

A profile is a piecewise-linear target force; every segment carries a label that becomes an
annotation in exported recordings (so each phase of a recording can be found again).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from muwatch.errors import UsageError


@dataclass(frozen=True)
class Segment:
    """A linear stretch of target force from `start_pct` to `end_pct` lasting `seconds`."""

    seconds: float
    start_pct: float
    end_pct: float
    label: str


@dataclass(frozen=True)
class ForceProfile:
    """Target force over time; concatenate profiles with `+`."""

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        for s in self.segments:
            if not (s.seconds >= 0 and np.isfinite(s.seconds)):
                raise UsageError(f"segment {s.label!r}: duration must be >= 0 s, got {s.seconds}")
            for p in (s.start_pct, s.end_pct):
                if not 0.0 <= p <= 100.0:
                    raise UsageError(f"segment {s.label!r}: force must be 0..100 % MVC, got {p}")

    def __add__(self, other: ForceProfile) -> ForceProfile:
        return ForceProfile(self.segments + other.segments)

    @property
    def duration(self) -> float:
        """Total length in seconds."""
        return float(sum(s.seconds for s in self.segments))

    def at(self, t: np.ndarray) -> np.ndarray:
        """Target force (% MVC) at times `t` (s); held at the last value after the end."""
        knots_t = [0.0]
        knots_p = [self.segments[0].start_pct if self.segments else 0.0]
        for s in self.segments:
            if s.seconds == 0:
                continue
            knots_t += [knots_t[-1] + 1e-9, knots_t[-1] + s.seconds]
            knots_p += [s.start_pct, s.end_pct]
        return np.interp(np.asarray(t, dtype=float), knots_t, knots_p)

    def annotations(self, offset: float = 0.0) -> list[tuple[float, float, str]]:
        """(onset, duration, label) of every segment, shifted by `offset` seconds."""
        out, t = [], offset
        for s in self.segments:
            out.append((t, s.seconds, s.label))
            t += s.seconds
        return out

    def fitted(self, seconds: float) -> ForceProfile:
        """This profile cut to, or extended by holding its last level to, `seconds`."""
        out: list[Segment] = []
        t = 0.0
        for s in self.segments:
            if t >= seconds:
                break
            d = min(s.seconds, seconds - t)
            end = s.start_pct + (s.end_pct - s.start_pct) * (d / s.seconds if s.seconds else 1.0)
            out.append(Segment(d, s.start_pct, end, s.label))
            t += d
        if t < seconds:
            last = out[-1].end_pct if out else 0.0
            label = out[-1].label if out else "rest"
            out.append(Segment(seconds - t, last, last, label))
        return ForceProfile(tuple(out))


def rest(seconds: float) -> ForceProfile:
    """Relaxed muscle."""
    return ForceProfile((Segment(seconds, 0.0, 0.0, "rest"),))


def steady(pct: float, seconds: float) -> ForceProfile:
    """A steady contraction held at `pct` % MVC."""
    return ForceProfile((Segment(seconds, pct, pct, f"steady {pct:g}% MVC"),))


def ramp(start_pct: float, end_pct: float, seconds: float) -> ForceProfile:
    """A linear ramp of force."""
    return ForceProfile(
        (Segment(seconds, start_pct, end_pct, f"ramp {start_pct:g}-{end_pct:g}% MVC"),)
    )


def trapezoid(pct: float, rise: float, hold: float, fall: float) -> ForceProfile:
    """Ramp up, hold, ramp down (the usual decomposition protocol)."""
    return ForceProfile(
        (
            Segment(rise, 0.0, pct, f"ramp up to {pct:g}% MVC"),
            Segment(hold, pct, pct, f"hold {pct:g}% MVC"),
            Segment(fall, pct, 0.0, f"ramp down from {pct:g}% MVC"),
        )
    )


def mvc(seconds: float = 3.0, rise: float = 0.5) -> ForceProfile:
    """A maximal voluntary contraction with a short rise and fall."""
    hold = max(seconds - 2 * rise, 0.0)
    return ForceProfile(
        (
            Segment(rise, 0.0, 100.0, "MVC rise"),
            Segment(hold, 100.0, 100.0, "MVC"),
            Segment(rise, 100.0, 0.0, "MVC fall"),
        )
    )


def graded(
    levels: tuple[float, ...] = (10, 20, 30, 50, 70, 100), hold: float = 3.0, pause: float = 2.0
) -> ForceProfile:
    """Steps of increasing force separated by rest (surface interference patterns for MUNIX)."""
    prof = rest(pause)
    for p in levels:
        prof = prof + steady(p, hold) + rest(pause)
    return prof
