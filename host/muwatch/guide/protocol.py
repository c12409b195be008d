"""The guided home-session protocol as data: steps with instructions, targets and durations.

A session: rest baseline, maximal voluntary contractions (MVC, the reference for every target),
a fixed low-force contraction (the stimulator-free indices), graded contractions from slight to
maximal force with live feedback of level against target (the SIP epochs of MUNIX: the
guideline's >= 20 epochs of 500 ms), and an optional stimulator block: supramaximal stimuli
(the CMAP) and a CMAP scan from supramaximal to subthreshold (the trigger input marks each
stimulus). Phase names are what the recording's `PHASE` annotations carry and what
`muwatch analyze` reads (steady/SIP/MVC = voluntary, rest = baseline, supramaximal, scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from muwatch.errors import UsageError

Kind = Literal["rest", "mvc", "steady", "stimuli", "scan"]


@dataclass(frozen=True)
class Step:
    kind: Kind
    seconds: float
    name: str  # phase annotation (what analysis reads)
    instruction: str  # what the person is told
    target_pct: float | None = None  # % MVC for steady contractions
    n_stimuli: int = 0  # stimuli / scan
    interval_s: float = 1.0
    lead_s: float = 0.5


@dataclass(frozen=True)
class Protocol:
    name: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def has_stimulator(self) -> bool:
        return any(s.kind in ("stimuli", "scan") for s in self.steps)

    def stimulus_times(self) -> list[tuple[float, Step]]:
        """(time from the session start, step) of every planned stimulus."""
        out, t = [], 0.0
        for s in self.steps:
            if s.kind in ("stimuli", "scan"):
                out += [(t + s.lead_s + k * s.interval_s, s) for k in range(s.n_stimuli)]
            t += s.seconds
        return out


def _rest(seconds: float, name: str = "rest", text: str = "Relax the muscle completely.") -> Step:
    return Step("rest", seconds, name, text)


def _steady(pct: float, seconds: float, name: str) -> Step:
    return Step(
        "steady",
        seconds,
        name,
        f"Hold {pct:g} % of your maximum: keep the bar on the target line.",
        target_pct=pct,
    )


def guided_protocol(
    *,
    stimulator: bool = False,
    quick: bool = False,
    sip_levels: Sequence[float] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
    scan_stimuli: int = 300,
    scan_rate_hz: float = 2.0,
) -> Protocol:
    """The home session. `quick` shortens every hold (demo and tests); the structure stays.

    SIP: each level is held long enough for >= 2 accepted 500 ms epochs after the first 0.5 s,
    so 10 levels give the guideline's >= 20 epochs. The CMAP scan runs at `scan_rate_hz`
    (MScanFit protocols use ~2 Hz; the simulated demo may go faster)."""
    if not sip_levels or any(not 0 < p <= 100 for p in sip_levels):
        raise UsageError("SIP levels must be percentages of MVC within (0, 100]")
    if stimulator and not 60 <= scan_stimuli <= 1000:
        raise UsageError("a CMAP scan needs 60-1000 stimuli")
    if not 0.2 <= scan_rate_hz <= 20:
        raise UsageError("scan rate must be within 0.2-20 Hz")
    hold = 1.6 if quick else 2.5
    rest = 1.0 if quick else 2.0
    steps: list[Step] = [
        _rest(3.0 if quick else 10.0, "rest (baseline)", "Relax: this is the baseline."),
        Step("mvc", 3.0, "MVC", "Push as hard as you can, now!", target_pct=100.0),
        _rest(2.0 if quick else 5.0, "rest after MVC"),
        _steady(5.0, 6.0 if quick else 10.0, "steady 5% MVC"),
        _rest(rest),
    ]
    for p in sip_levels:
        steps += [_steady(float(p), hold, f"SIP {p:g}% MVC"), _rest(rest)]
    notes = []
    if stimulator:
        steps += [
            Step(
                "stimuli",
                5.5,
                "supramaximal stimuli",
                "Stay relaxed: 5 strong stimuli follow (the stimulator is set above maximal).",
                n_stimuli=5,
                interval_s=1.0,
                lead_s=0.5,
            ),
            _rest(1.0),
            Step(
                "scan",
                0.5 + scan_stimuli / scan_rate_hz,
                "CMAP scan",
                "Stay relaxed: the stimulator sweeps from strong to weak.",
                n_stimuli=scan_stimuli,
                interval_s=1.0 / scan_rate_hz,
                lead_s=0.5,
            ),
            _rest(1.0),
        ]
    else:
        notes.append("no stimulator: indices only (index, not MUNE); no CMAP, no MUNIX")
    return Protocol(
        "guided home session" + (" (quick)" if quick else ""), tuple(steps), tuple(notes)
    )


def to_sim_schedule(
    protocol: Protocol, scan_range_ma: tuple[float, float] | None = None
) -> list[Any]:
    """The protocol as a muwatch.sim schedule: a simulated participant who does what is asked."""
    from muwatch import sim

    out: list[Any] = []
    for s in protocol.steps:
        if s.kind == "rest":
            out.append(sim.Rest(s.seconds, s.name))
        elif s.kind == "mvc":
            out.append(sim.MVC(s.seconds, 0.5, s.name))
        elif s.kind == "steady":
            out.append(sim.Steady(float(s.target_pct or 0.0), s.seconds, s.name))
        elif s.kind == "stimuli":
            out.append(sim.Stimuli(s.n_stimuli, None, s.interval_s, s.lead_s, s.name))
        elif s.kind == "scan":
            out.append(sim.Scan(s.n_stimuli, scan_range_ma, s.interval_s, s.lead_s, s.name))
    return out
